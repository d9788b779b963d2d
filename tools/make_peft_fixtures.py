#!/usr/bin/env python3
"""Build the PEFT LoRA fixtures of tests/fixtures/hf/<family>_lora/ (adapters and expectations).

Usage: python3 tools/make_peft_fixtures.py [fixtures_dir]   (default tests/fixtures/hf)

Needs torch, transformers and peft, and the model fixtures of tools/make_hf_fixtures.py. For the
llama and gpt2 fixtures: a LoRA adapter made by peft (get_peft_model) whose lora_A and lora_B are
both random (seeded; PEFT would start lora_B at zero, which would hide the adapter), saved with
PeftModel.save_pretrained, plus expected.json: the logits of PeftModel.from_pretrained(base,
adapter) on the sequences of the base fixture's expected.json.
"""
import json
import os
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

ROOT = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/hf"
ADAPTERS = {
    "llama": dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"]),
    "gpt2": dict(r=3, lora_alpha=5, target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True),
}


def rounded(values):
    return [[round(v, 6) for v in row] for row in values]


def main():
    torch.manual_seed(14)
    for family, options in ADAPTERS.items():
        base_dir = os.path.join(ROOT, family)
        out = os.path.join(ROOT, f"{family}_lora")
        base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
        config = LoraConfig(task_type="CAUSAL_LM", lora_dropout=0.0, bias="none", **options)
        model = get_peft_model(base, config)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_A" in name or "lora_B" in name:
                    p.copy_(torch.randn_like(p) * 0.2)
        model.peft_config["default"].base_model_name_or_path = f"tests/fixtures/hf/{family}"
        model.save_pretrained(out)
        # Reload exactly as a user would, and record its logits.
        fresh = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
        loaded = PeftModel.from_pretrained(fresh, out).eval()
        with open(os.path.join(base_dir, "expected.json")) as f:
            sequences = json.load(f)["sequences"]
        expected = {"family": family, "base": f"tests/fixtures/hf/{family}", "sequences": []}
        with torch.no_grad():
            for s in sequences:
                logits = loaded(torch.tensor([s["tokens"]])).logits[0]
                expected["sequences"].append({"tokens": s["tokens"], "logits": rounded(logits.tolist())})
        with open(os.path.join(out, "expected.json"), "w") as f:
            json.dump(expected, f, separators=(",", ":"))
        readme = os.path.join(out, "README.md")
        if os.path.exists(readme):
            os.remove(readme)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
