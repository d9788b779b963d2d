#!/usr/bin/env bash
# Install what a clean Debian machine lacks for trepo's full test run: headless Chromium (figure
# images, the JupyterLab browser check), Jupyter + nbclient (headless notebook runs), plotly for
# Python (JupyterLab's renderer for plotly outputs), Mesa's EGL/GL (the WebGPU software adapter),
# OpenBLAS (the opt-in native GEMM), and Python's torch (CPU), transformers, peft and safetensors
# (the cross-checks: save -> transformers, PEFT load, trained checkpoint -> transformers).
# Idempotent: each step runs only when its tool is missing, so a second run takes about a second.
#
#   bash tools/ci_install.sh            # everything
#   TREPO_SKIP_APT=1 bash tools/ci_install.sh   # pip part only
#
# Runs as root on CI (apt-get without sudo); elsewhere it uses sudo for apt-get when available.
# pip installs into the `python3` on PATH (on these machines it resolves from a local index; on
# a user's machine from PyPI; torch's CPU wheels from $TREPO_TORCH_INDEX, by default
# https://download.pytorch.org/whl/cpu, as an extra index). When pip reaches no index at all, the
# torch/transformers/peft step says so and succeeds: the cross-checks then print "skipped"
# (.ci/run allows exactly those skips, TREPO_CI_ALLOW_SKIP=python:). Prints one line per step.
set -euo pipefail

log() { printf 'ci_install: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    log "need root for: $*"; return 1
  fi
}

have_chromium() {
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ||
    command -v google-chrome >/dev/null 2>&1 || command -v google-chrome-stable >/dev/null 2>&1
}

apt_updated=0
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -q >/dev/null; apt_updated=1; fi
  as_root apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# 1. Chromium (Debian package; playwright-core drives it, it never downloads a browser).
if have_chromium; then
  log "chromium: present ($(command -v chromium chromium-browser google-chrome google-chrome-stable 2>/dev/null | head -n1))"
elif [ "${TREPO_SKIP_APT:-0}" = 1 ]; then
  log "chromium: missing, apt skipped (TREPO_SKIP_APT=1)"
else
  log "chromium: installing with apt-get"
  apt_install chromium fonts-liberation   # fonts are only "recommended"; charts need them
  have_chromium || { log "chromium: apt-get finished but no chromium on PATH"; exit 1; }
  log "chromium: installed ($(chromium --version 2>/dev/null | head -n1))"
fi

# 2. Debian's nbclient for /usr/bin/python3: the notebook runner prefers it (it starts in
#    ~0.4 s; a pip environment with jupyterlab takes seconds to import nbformat).
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import nbclient, nbformat" 2>/dev/null; then
  log "python3-nbclient: present"
elif [ "${TREPO_SKIP_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "python3-nbclient: missing, apt skipped (the runner falls back to python3 + pip nbclient)"
else
  log "python3-nbclient: installing with apt-get"
  apt_install python3-nbclient
fi

# 3. Python packages: nbclient + nbformat (the runner), jupyterlab (browser check, kernelspec
#    tools), ipykernel (jupyter's own tooling expects it), plotly (JupyterLab plotly renderer).
PYTHON="${TREPO_PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  log "python: $PYTHON missing; installing python3 and python3-pip with apt-get"
  apt_install python3 python3-pip
fi
# pip_install LOG PACKAGE...: pip into $PYTHON, once more with --break-system-packages where
# Debian's externally managed Python refuses plain installs. --retries 0 --timeout 5: where only a
# local index answers, an unreachable PyPI fails in seconds instead of minutes of retries.
pip_install() {
  local log="$1"
  shift
  local pip_flags=(--quiet --disable-pip-version-check --retries 0 --timeout 5)
  if "$PYTHON" -m pip install "${pip_flags[@]}" "$@" 2>"$log"; then return 0; fi
  grep -q externally-managed "$log" || return 1
  "$PYTHON" -m pip install "${pip_flags[@]}" --break-system-packages "$@" 2>"$log"
}

missing=()
"$PYTHON" -c "import nbclient, nbformat" 2>/dev/null || missing+=(nbclient nbformat)
"$PYTHON" -c "import jupyterlab" 2>/dev/null || missing+=(jupyterlab)
"$PYTHON" -c "import ipykernel" 2>/dev/null || missing+=(ipykernel)
"$PYTHON" -c "import plotly" 2>/dev/null || missing+=(plotly)
if [ ${#missing[@]} -eq 0 ]; then
  log "python packages: present (nbclient, nbformat, jupyterlab, ipykernel, plotly)"
else
  log "python packages: installing ${missing[*]} with pip"
  pip_install /tmp/trepo_pip.log "${missing[@]}" || { cat /tmp/trepo_pip.log >&2; exit 1; }
  "$PYTHON" -c "import nbclient, nbformat, jupyterlab, plotly" ||
    { log "python packages: still missing after pip"; exit 1; }
  log "python packages: installed"
fi

# 3b. Python's torch (CPU build), transformers, peft and safetensors: the Python cross-checks of
#     tests/models (transformers_load_test, lora_test) and tests/cli/train_pretrained_test.
ml_missing=()
for module in torch transformers peft safetensors; do
  "$PYTHON" -c "import $module" 2>/dev/null || ml_missing+=("$module")
done
if [ ${#ml_missing[@]} -eq 0 ]; then
  log "python cross-check packages: present (torch, transformers, peft, safetensors)"
else
  log "python cross-check packages: installing ${ml_missing[*]} with pip"
  torch_index="${TREPO_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
  if pip_install /tmp/trepo_pip_ml.log --extra-index-url "$torch_index" "${ml_missing[@]}"; then
    log "python cross-check packages: installed"
  elif grep -qE "No matching distribution found|Could not fetch URL|Failed to establish a new connection|Temporary failure in name resolution|Network is unreachable" /tmp/trepo_pip_ml.log; then
    log "python cross-check packages: pip reached no index for ${ml_missing[*]}; the Python cross-checks will say skipped"
  else
    cat /tmp/trepo_pip_ml.log >&2
    exit 1
  fi
fi

# 4. Mesa's EGL/GL drivers: Deno's WebGPU reaches the llvmpipe software adapter through them on
#    a machine without a GPU (the webgpu smoke test, TREPO_ALLOW_SOFTWARE_ADAPTER=1). Chromium's
#    dependencies usually bring them; install them when either is missing.
mesa_missing=()
for pkg in libegl-mesa0 libgl1-mesa-dri; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
    mesa_missing+=("$pkg")
done
if [ ${#mesa_missing[@]} -eq 0 ]; then
  log "mesa (webgpu software adapter): present (libegl-mesa0, libgl1-mesa-dri)"
elif [ "${TREPO_SKIP_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "mesa (webgpu software adapter): missing ${mesa_missing[*]}, apt skipped (the webgpu smoke test will skip)"
else
  log "mesa (webgpu software adapter): installing ${mesa_missing[*]} with apt-get"
  apt_install "${mesa_missing[@]}"
fi

# 5. OpenBLAS (pthread build): the opt-in native GEMM (TREPO_BLAS=openblas, lib/native_gemm.ts)
#    and its equality test, which skips without it.
if dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "install ok installed"; then
  log "openblas (native GEMM): present (libopenblas0-pthread)"
elif [ "${TREPO_SKIP_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "openblas (native GEMM): missing, apt skipped (the native GEMM test will skip)"
else
  log "openblas (native GEMM): installing libopenblas0-pthread with apt-get"
  apt_install libopenblas0-pthread
fi

# 6. npm packages for Deno (plotly.js-dist-min, playwright-core, tfjs): prefetch so the Jupyter
#    kernel never fetches them itself.
if command -v deno >/dev/null 2>&1; then
  (cd "$(dirname "$0")/.." && deno install >/dev/null 2>&1) && log "deno install: done" ||
    log "deno install: failed (run it by hand to see why)"
fi
