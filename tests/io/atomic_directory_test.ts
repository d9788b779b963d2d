import {
  commitsSettled,
  committedDirectory,
  writeDirectoryAtomically,
} from "../../lib/io/atomic_directory.ts";
import { assertEquals, assertRejects } from "@std/assert";

const bytes = (text: string) => new TextEncoder().encode(text);
const files = (config: string) => new Map([["config.json", bytes(config)], ["a.bin", bytes("a")]]);

Deno.test("writeDirectoryAtomically refuses to replace a directory that is not ours", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/mine`);
    await Deno.writeTextFile(`${root}/mine/notes.txt`, "keep me");
    await assertRejects(
      () => writeDirectoryAtomically(`${root}/mine`, files("{}"), "Cannot save"),
      Error,
      `Cannot save: "${root}/mine" exists and is not a checkpoint (no config.json); refusing to replace it`,
    );
    assertEquals(await Deno.readTextFile(`${root}/mine/notes.txt`), "keep me");
    // An empty directory, and one holding the marker, are replaced.
    await Deno.mkdir(`${root}/empty`);
    await writeDirectoryAtomically(`${root}/empty/`, files("{}"), "Cannot save");
    await writeDirectoryAtomically(`${root}/empty`, files("[2]"), "Cannot save");
    assertEquals(await Deno.readTextFile(`${root}/empty/config.json`), "[2]");
    assertEquals([...Deno.readDirSync(`${root}/empty`)].map((e) => e.name).sort(), [
      "a.bin",
      "config.json",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("committedDirectory reads each state a crash can leave: staged before old, never partial", async () => {
  const root = await Deno.makeTempDir();
  const dir = `${root}/ckpt`;
  try {
    await assertRejects(() => committedDirectory(dir, "Cannot load"), Error, "does not exist");
    // A crash while writing: only a partial sibling (newer than anything) exists.
    await Deno.mkdir(`${root}/.ckpt.partial-9`);
    await Deno.writeTextFile(`${root}/.ckpt.partial-9/config.json`, "half");
    await assertRejects(() => committedDirectory(dir, "Cannot load"), Error, "does not exist");
    // A crash between the two renames: the previous one aside (old), the new one staged.
    await Deno.mkdir(`${root}/.ckpt.old-2`);
    await Deno.writeTextFile(`${root}/.ckpt.old-2/config.json`, "old");
    assertEquals(await committedDirectory(`${dir}/`, "Cannot load"), `${root}/.ckpt.old-2`);
    await Deno.mkdir(`${root}/.ckpt.staged-1`);
    await Deno.writeTextFile(`${root}/.ckpt.staged-1/config.json`, "staged");
    await Deno.mkdir(`${root}/.ckpt.staged-3`);
    await Deno.writeTextFile(`${root}/.ckpt.staged-3/config.json`, "staged newest");
    assertEquals(await committedDirectory(dir, "Cannot load"), `${root}/.ckpt.staged-3`);
    // The directory itself, once present, wins; without its marker it is an error.
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/config.json`, "current");
    assertEquals(await committedDirectory(dir, "Cannot load"), dir);
    await Deno.remove(`${dir}/config.json`);
    assertEquals(await committedDirectory(dir, "Cannot load"), `${root}/.ckpt.staged-3`);
    for (const left of ["old-2", "staged-1", "staged-3"]) {
      await Deno.remove(`${root}/.ckpt.${left}`, { recursive: true });
    }
    await assertRejects(
      () => committedDirectory(dir, "Cannot load"),
      Error,
      `Cannot load: ${dir}/config.json is missing`,
    );
    // The next commit removes every leftover, the partial one included.
    await writeDirectoryAtomically(dir, files("{}"), "Cannot save");
    assertEquals([...Deno.readDirSync(root)].map((e) => e.name), ["ckpt"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("commitsSettled waits for the commits in flight to end, renames and cleanup included", async () => {
  const root = await Deno.makeTempDir();
  await writeDirectoryAtomically(`${root}/run`, files("{}"), "Cannot save");
  const pending = writeDirectoryAtomically(`${root}/run`, files("[1]"), "Cannot save");
  const failing = writeDirectoryAtomically(`${root}/run/a.bin`, files("{}"), "Cannot save");
  await commitsSettled();
  assertEquals([...Deno.readDirSync(root)].map((e) => e.name), ["run"]);
  assertEquals(await Deno.readTextFile(`${root}/run/config.json`), "[1]");
  await pending;
  await assertRejects(() => failing, Error, "is not a checkpoint");
  await Deno.remove(root, { recursive: true });
});
