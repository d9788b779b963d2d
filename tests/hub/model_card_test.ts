import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { checkpointModelCard } from "../../lib/hub/model_card.ts";

Deno.test("checkpointModelCard writes front matter, config, training config and final metrics", () => {
  const card = checkpointModelCard({
    repo: "org/m",
    config: { vocabSize: 14, dModel: 64 },
    trainerState: {
      state: {
        step: 12,
        trainingConfig: { algorithm: "TRePO", task: "sort digits", "lr|x": 0.5 },
        metrics: [{ "reward/mean": 0.1 }, { "reward/mean": 0.9, kl: 0.25 }],
      },
    },
    files: ["config.json", "model.safetensors"],
  });
  const header = card.split("---")[1];
  // "TRePO" is already there as the library tag; the task becomes a tag
  assertEquals(
    header,
    "\nlibrary_name: trepo\ntags:\n- trepo\n- reinforcement-learning\n- text-generation\n- sort-digits\n",
  );
  assertStringIncludes(card, "# org/m");
  assertStringIncludes(card, "| algorithm | TRePO |\n| task | sort digits |\n| step | 12 |");
  assertStringIncludes(card, "| vocabSize | 14 |\n| dModel | 64 |");
  assertStringIncludes(card, "| lr\\|x | 0.5 |"); // pipes escaped
  assertStringIncludes(card, "| reward/mean | 0.9 |\n| kl | 0.25 |"); // last entry of the history
  assert(!card.includes("| reward/mean | 0.1 |"));
  assertStringIncludes(card, "- `model.safetensors`");
  assertStringIncludes(card, 'await pullCheckpoint("org/m")');
});

Deno.test("checkpointModelCard without JSON files still has front matter and usage", () => {
  const card = checkpointModelCard({ repo: "a/b" });
  assert(card.startsWith("---\nlibrary_name: trepo\n"));
  assert(!card.includes("## Final metrics"));
  assert(!card.includes("## Training configuration"));
  assertStringIncludes(card, "## Usage");
});

Deno.test("checkpointModelCard reads the layout saveCheckpoint writes (state nested, config nested)", () => {
  // shapes as written by lib/policy/checkpoint.ts + lib/algorithms/train.ts (typed here by hand)
  const card = checkpointModelCard({
    repo: "org/run",
    config: { format: "trepo", policy: { vocabSize: 14, dModel: 32 }, files: ["config.json"] },
    trainerState: {
      format_version: 1,
      state: {
        step: 300,
        algorithm: "rloo",
        task: "addition",
        seed: 7,
        config: { steps: 300, groupSize: 4 },
        metrics: { "eval/accuracy": 0.5 },
      },
      rng: {},
    },
  });
  assertStringIncludes(card, "- rloo\n- addition\n---");
  assertStringIncludes(card, "| algorithm | rloo |\n| task | addition |\n| step | 300 |");
  assertStringIncludes(card, "| policy.vocabSize | 14 |\n| policy.dModel | 32 |");
  assertStringIncludes(card, '| files | ["config.json"] |');
  assertStringIncludes(
    card,
    "## Training configuration\n\n| key | value |\n|---|---|\n| steps | 300 |",
  );
  assertStringIncludes(card, "| eval/accuracy | 0.5 |");
});
