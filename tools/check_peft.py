#!/usr/bin/env python3
"""Check that Python PEFT loads trepo-saved LoRA adapters and gives the expected logits.

Usage: python3 tools/check_peft.py EXPECTED_JSON BASE_DIR ADAPTER_DIR [EXPECTED_JSON BASE_DIR ADAPTER_DIR ...]

For each triple: AutoModelForCausalLM.from_pretrained(BASE_DIR) in float32, then
PeftModel.from_pretrained(base, ADAPTER_DIR); the logits of every sequence of EXPECTED_JSON
({"sequences": [{"tokens", "logits"}]}) within 1e-4 (`worst_logit_difference` of
check_hf_logits.py). Prints one line per adapter; exits 1 on any mismatch.
"""
import os
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_hf_logits import worst_logit_difference  # noqa: E402


def main():
    args = sys.argv[1:]
    failed = False
    for expected_path, base_dir, adapter_dir in zip(args[0::3], args[1::3], args[2::3]):
        base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
        model = PeftModel.from_pretrained(base, adapter_dir).eval()
        worst = worst_logit_difference(model, expected_path)
        ok = worst < 1e-4
        failed |= not ok
        print(f"{'ok' if ok else 'FAIL'} {adapter_dir}: max |logit difference| {worst:.2e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
