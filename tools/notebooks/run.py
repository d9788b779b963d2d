#!/usr/bin/env python3
"""Execute trepo's notebooks headless against the real Deno kernel.

Usage (from anywhere; paths are relative to the current directory):

    python3 tools/notebooks/run.py                      # every notebooks/*.ipynb
    python3 tools/notebooks/run.py notebooks/01_x.ipynb # only these
    python3 tools/notebooks/run.py --write              # save executed outputs back
    python3 tools/notebooks/run.py --output-dir DIR     # save executed copies in DIR

Steps, in order (each failure exits non-zero with the notebook, the cell index and the reason):

1. ``deno install`` in the repository root, so npm packages are fetched before any kernel starts
   (an npm failure inside the kernel only says "Execution failed").
2. Type-check: the code cells of each notebook are written, in order, to a hidden ``.ts`` file
   beside the notebook and checked with ``deno check`` (the kernel itself checks no types).
   Diagnostics are mapped back to ``cell N, line L``. "Declared but never read" diagnostics are
   ignored: a notebook's last expression or a variable kept for the reader is normal.
   A cell with metadata ``{"trepo": {"check": false}}`` is left out of the check.
3. Execute with nbclient and the project-local kernelspec ``tools/notebooks/kernels/deno``
   (found through ``JUPYTER_PATH``). The Deno kernel sometimes reports ``status: idle`` before
   a cell's last outputs; stock nbclient then silently drops them. ``LateOutputClient`` keeps
   reading IOPub for ``--late-window`` seconds (default 0.3) after each idle, restarting the
   window after every late message, and appends what arrives to the cell.
4. Check every cell: no ``error`` output, and the MIME types and texts declared in its metadata
   are present::

       "metadata": {"trepo": {"expect": ["application/vnd.plotly.v1+json", "stdout"],
                              "expect_text": ["step 100/100"]}}

   ``expect`` names output MIME types, or ``stdout`` / ``stderr`` for streams; ``expect_text``
   lists substrings of the cell's stream text and ``text/plain`` outputs.

Cell indices in messages are 0-based positions in the notebook's cell list (markdown included).
Needs ``nbclient`` (Debian ``python3-nbclient`` or ``pip install nbclient``) and ``deno``.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from queue import Empty
from typing import Any

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import (
        CellExecutionComplete,
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )
    from nbclient.util import ensure_async
except ImportError as error:  # pragma: no cover - depends on the machine
    sys.stderr.write(
        f"Cannot run notebooks: nbclient is not installed ({error}); "
        "install it with 'apt-get install python3-nbclient' or 'pip install nbclient'\n"
    )
    sys.exit(2)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNELS_DIR = os.path.join(ROOT, "tools", "notebooks")
# TypeScript "declared but never read" family: normal in notebooks.
IGNORED_TS_CODES = {"TS6133", "TS6192", "TS6196", "TS6198", "TS6138"}
OUTPUT_MIME_TYPES = ("display_data", "execute_result", "update_display_data")


class NotebookFailure(Exception):
    """A failure reported as `path: cell N: message`."""


class LateOutputClient(NotebookClient):
    """An nbclient client that keeps outputs the Deno kernel sends after ``status: idle``.

    After the stock loop returns on idle, IOPub is read for ``late_window`` more seconds; every
    message of the same parent restarts that window (up to ``late_window_max`` in total) and is
    processed exactly as nbclient would have processed it.
    """

    late_window: float = 0.3
    late_window_max: float = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.late_messages = 0

    async def _async_poll_output_msg(self, parent_msg_id: str, cell: Any, cell_index: int) -> None:
        await super()._async_poll_output_msg(parent_msg_id, cell, cell_index)
        assert self.kc is not None
        loop = asyncio.get_running_loop()
        hard_stop = loop.time() + self.late_window_max
        deadline = loop.time() + self.late_window
        while True:
            remaining = min(deadline, hard_stop) - loop.time()
            if remaining <= 0:
                return
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=remaining))
            except Empty:
                return
            if msg["parent_header"].get("msg_id") != parent_msg_id:
                continue
            if msg["msg_type"] == "status":
                continue
            self.late_messages += 1
            try:
                self.process_message(msg, cell, cell_index)
            except CellExecutionComplete:
                pass
            deadline = loop.time() + self.late_window


def rel(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def run_deno_install(env: dict[str, str]) -> None:
    print("notebooks: deno install (prefetch npm packages)", flush=True)
    proc = subprocess.run(["deno", "install"], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise NotebookFailure(f"deno install failed with exit code {proc.returncode}")


def code_cells_for_check(nb: Any) -> list[tuple[int, str]]:
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.metadata.get("trepo", {}).get("check", True) is False:
            continue
        cells.append((index, cell.source))
    return cells


def type_check(path: str, nb: Any, env: dict[str, str]) -> None:
    """Write the notebook's code cells to a hidden .ts file beside it and `deno check` it."""
    cells = code_cells_for_check(nb)
    if not cells:
        return
    folder = os.path.dirname(os.path.abspath(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    check_file = os.path.join(folder, f".{stem}.nbcheck.{os.getpid()}.ts")
    line_map: list[tuple[int, int]] = []  # (first line of the cell in the file, cell index)
    parts = []
    line = 1
    for index, source in cells:
        header = f"// ---- notebook cell {index} ----\n"
        parts.append(header)
        line += 1
        line_map.append((line, index))
        body = source if source.endswith("\n") else source + "\n"
        parts.append(body)
        line += body.count("\n")
    try:
        with open(check_file, "w", encoding="utf-8") as handle:
            handle.write("".join(parts))
        proc = subprocess.run(
            ["deno", "check", "--quiet", check_file],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    finally:
        try:
            os.remove(check_file)
        except FileNotFoundError:
            pass
    if proc.returncode == 0:
        return
    text = proc.stdout + proc.stderr
    diagnostics = parse_diagnostics(text, os.path.basename(check_file))
    real = [d for d in diagnostics if d["code"] not in IGNORED_TS_CODES]
    if diagnostics and not real:
        return
    if not real:
        raise NotebookFailure(f"{rel(path)}: type check failed:\n{text.strip()}")
    lines = []
    for d in real:
        where = "unknown cell"
        if d["line"] is not None:
            start, index = max(
                ((s, i) for s, i in line_map if s <= d["line"]), default=(1, -1)
            )
            where = f"cell {index}, line {d['line'] - start + 1}, column {d['column']}"
        lines.append(f"  {where}: {d['code']} {d['message']}")
    first = real[0]
    cell_text = lines[0].strip().split(":")[0]
    raise NotebookFailure(
        f"{rel(path)}: {cell_text}: type check failed ({len(real)} error(s), "
        f"first {first['code']}):\n" + "\n".join(lines)
    )


def parse_diagnostics(text: str, file_name: str) -> list[dict[str, Any]]:
    """Parse `deno check` output (NO_COLOR) into code, message, line and column."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    diagnostics: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    location = re.compile(re.escape(file_name) + r":(\d+):(\d+)")
    for raw in text.splitlines():
        head = re.match(r"^(TS\d+) \[ERROR\]: (.*)$", raw.strip())
        if head:
            current = {"code": head.group(1), "message": head.group(2), "line": None, "column": None}
            diagnostics.append(current)
            continue
        if current is not None and current["line"] is None:
            found = location.search(raw)
            if found:
                current["line"] = int(found.group(1))
                current["column"] = int(found.group(2))
    return diagnostics


def cell_mime_types(cell: Any) -> set[str]:
    kinds: set[str] = set()
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            kinds.add(output.name)
        elif output.output_type in OUTPUT_MIME_TYPES:
            kinds.update(output.get("data", {}).keys())
        elif output.output_type == "error":
            kinds.add("error")
    return kinds


def cell_text(cell: Any) -> str:
    chunks = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            chunks.append(output.text)
        elif output.output_type in OUTPUT_MIME_TYPES:
            plain = output.get("data", {}).get("text/plain")
            if plain is not None:
                chunks.append(plain if isinstance(plain, str) else "".join(plain))
    return "".join(chunks)


def check_outputs(path: str, nb: Any) -> None:
    """Raise one NotebookFailure listing every cell with an error or a missing expectation."""
    problems: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                problems.append(
                    f"{rel(path)}: cell {index}: error output: {output.get('ename')}: "
                    f"{output.get('evalue')}"
                )
        spec = cell.metadata.get("trepo", {})
        kinds = cell_mime_types(cell)
        missing = [m for m in spec.get("expect", []) if m not in kinds]
        if missing:
            problems.append(
                f"{rel(path)}: cell {index}: expected output types missing: "
                f"{', '.join(missing)} (got {', '.join(sorted(kinds)) or 'no output'})"
            )
        text = cell_text(cell)
        absent = [s for s in spec.get("expect_text", []) if s not in text]
        if absent:
            problems.append(
                f"{rel(path)}: cell {index}: expected text missing: "
                + ", ".join(json.dumps(s) for s in absent)
            )
    if problems:
        raise NotebookFailure("\n  ".join(problems))


def coalesce_streams(nb: Any) -> None:
    """Merge consecutive stream outputs of the same name (as JupyterLab shows them)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged: list[Any] = []
        for output in cell.get("outputs", []):
            previous = merged[-1] if merged else None
            if (
                output.output_type == "stream"
                and previous is not None
                and previous.output_type == "stream"
                and previous.name == output.name
            ):
                previous.text += output.text
            else:
                merged.append(output)
        cell.outputs = merged


def failing_cell_index(nb: Any) -> int | None:
    """The index of the last code cell that has outputs or an execution count."""
    last = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            last = index
    return last


def execute(path: str, nb: Any, args: argparse.Namespace) -> LateOutputClient:
    client = LateOutputClient(
        nb,
        kernel_name=args.kernel,
        timeout=args.timeout,
        startup_timeout=args.startup_timeout,
        allow_errors=False,
        record_timing=False,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
    )
    client.late_window = args.late_window
    try:
        client.execute()
    except CellTimeoutError:
        index = failing_cell_index(nb)
        raise NotebookFailure(
            f"{rel(path)}: cell {index}: timed out after {args.timeout} s"
        ) from None
    except CellExecutionError as error:
        index = failing_cell_index(nb)
        ename = getattr(error, "ename", "Error")
        evalue = getattr(error, "evalue", first_line(error))
        raise NotebookFailure(f"{rel(path)}: cell {index}: {ename}: {evalue}") from None
    except DeadKernelError as error:
        index = failing_cell_index(nb)
        raise NotebookFailure(f"{rel(path)}: cell {index}: kernel died ({error})") from None
    return client


def copy_plotly(path: str, output_dir: str) -> None:
    """Copy the plotly.min.js the kernel wrote next to the notebook, which its figures load."""
    source = os.path.join(os.path.dirname(os.path.abspath(path)), "plotly.min.js")
    if os.path.isfile(source) and os.path.abspath(output_dir) != os.path.dirname(source):
        shutil.copyfile(source, os.path.join(output_dir, "plotly.min.js"))


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__


def default_notebooks() -> list[str]:
    return sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="notebooks to run (default: notebooks/*.ipynb)")
    parser.add_argument("--write", action="store_true", help="save executed outputs back")
    parser.add_argument("--output-dir", help="save executed copies into this folder")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (600)")
    parser.add_argument("--startup-timeout", type=int, default=120, help="kernel start (120 s)")
    parser.add_argument("--late-window", type=float, default=0.3, help="seconds after idle (0.3)")
    parser.add_argument("--kernel", default="deno", help="kernelspec name (deno)")
    parser.add_argument("--no-install", action="store_true", help="skip `deno install`")
    parser.add_argument("--no-check", action="store_true", help="skip the type check")
    parser.add_argument("--check-only", action="store_true", help="type-check, do not execute")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    env["JUPYTER_PATH"] = os.pathsep.join(
        [KERNELS_DIR] + ([env["JUPYTER_PATH"]] if env.get("JUPYTER_PATH") else [])
    )
    os.environ.update({"NO_COLOR": "1", "JUPYTER_PATH": env["JUPYTER_PATH"]})

    paths = [os.path.abspath(p) for p in args.paths] or default_notebooks()
    if not paths:
        print("notebooks: no notebooks found")
        return 0
    for path in paths:
        if not os.path.isfile(path):
            sys.stderr.write(f"Cannot run notebook: {rel(path)} does not exist\n")
            return 1

    if not args.no_install:
        try:
            run_deno_install(env)
        except NotebookFailure as failure:
            sys.stderr.write(f"notebooks: FAILED: {failure}\n")
            return 1
    passed, failed = 0, 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        try:
            if not args.no_check:
                type_check(path, nb, env)
                print(f"notebooks: {rel(path)}: type check ok", flush=True)
            if args.check_only:
                passed += 1
                continue
            started = time.monotonic()
            try:
                for attempt in range(2):
                    try:
                        client = execute(path, nb, args)
                        break
                    except ValueError as error:
                        # The Deno kernel occasionally sends an IOPub frame whose HMAC does not
                        # verify (seen once in about ten full runs). That is a transport fault of
                        # the kernel, not a failure of the notebook: run it once more on a fresh
                        # kernel, and fail if it happens again.
                        if attempt == 1 or not str(error).startswith("Invalid Signature"):
                            raise NotebookFailure(
                                f"{rel(path)}: the kernel connection failed: {error}"
                            ) from error
                        print(
                            f"notebooks: {rel(path)}: kernel sent a message with an invalid "
                            "signature; retrying once on a fresh kernel",
                            flush=True,
                        )
                        nb = nbformat.read(path, as_version=4)
            finally:
                coalesce_streams(nb)
                if args.output_dir:
                    os.makedirs(args.output_dir, exist_ok=True)
                    nbformat.write(nb, os.path.join(args.output_dir, os.path.basename(path)))
                    copy_plotly(path, args.output_dir)
            check_outputs(path, nb)
            outputs = sum(len(c.get("outputs", [])) for c in nb.cells if c.cell_type == "code")
            cells = sum(1 for c in nb.cells if c.cell_type == "code")
            print(
                f"notebooks: {rel(path)}: ok, {cells} code cells, {outputs} outputs "
                f"({client.late_messages} messages arrived after idle), "
                f"{time.monotonic() - started:.1f} s",
                flush=True,
            )
            if args.write:
                nbformat.write(nb, path)
            passed += 1
        except NotebookFailure as failure:
            sys.stderr.write(f"notebooks: FAILED: {failure}\n")
            failed += 1
    print(f"notebooks: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
