import { assertEquals, assertThrows } from "@std/assert";
import { checkRepoName, parseHubRef } from "../../lib/hub/hub_ref.ts";

Deno.test("parseHubRef splits repo and revision, defaulting to main", () => {
  assertEquals(parseHubRef("org/name"), { repo: "org/name", revision: "main" });
  assertEquals(parseHubRef("org/name@v1.2"), { repo: "org/name", revision: "v1.2" });
  const sha = "0123456789abcdef0123456789abcdef01234567";
  assertEquals(parseHubRef(`my-org/my_model.v2@${sha}`), {
    repo: "my-org/my_model.v2",
    revision: sha,
  });
  assertEquals(parseHubRef("org/name@refs/pr/1"), { repo: "org/name", revision: "refs/pr/1" });
});

Deno.test("parseHubRef rejects malformed references with exact messages", () => {
  assertThrows(
    () => parseHubRef("name"),
    TypeError,
    'Cannot parse Hub reference: repo must look like "namespace/name" (letters, digits, "-", "_", "."), got "name"',
  );
  assertThrows(() => parseHubRef("a/b/c"), TypeError, 'got "a/b/c"');
  assertThrows(() => parseHubRef("../x"), TypeError, 'got "../x"');
  assertThrows(() => parseHubRef("org/"), TypeError, 'got "org/"');
  assertThrows(
    () => parseHubRef("org/name@"),
    TypeError,
    'Cannot parse Hub reference: the revision after "@" must be a branch, tag or commit sha, got "org/name@"',
  );
  assertThrows(() => parseHubRef("org/name@a b"), TypeError, "the revision after");
  assertThrows(
    () => parseHubRef(42 as unknown as string),
    TypeError,
    'Cannot parse Hub reference: expected a string "org/name[@revision]", got number',
  );
});

Deno.test("checkRepoName accepts namespace/name and returns it", () => {
  assertEquals(checkRepoName("X", "a/b"), "a/b");
  assertThrows(
    () => checkRepoName("Cannot push", undefined),
    TypeError,
    'Cannot push: repo must be a string "namespace/name", got undefined',
  );
  assertThrows(() => checkRepoName("Cannot push", "a/.."), TypeError, 'got "a/.."');
});
