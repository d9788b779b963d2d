#!/usr/bin/env python3
"""Check that Python transformers loads trepo-saved folders and gives the expected logits.

Usage: python3 tools/check_hf_logits.py EXPECTED_JSON SAVED_DIR [EXPECTED_JSON SAVED_DIR ...]

For each pair: AutoModelForCausalLM.from_pretrained(SAVED_DIR) in float32, logits of every
sequence of EXPECTED_JSON (written by tools/make_hf_fixtures.py) within 1e-4, and the tokenizer
loads with AutoTokenizer. Prints one line per folder; exits 1 on any mismatch.
"""
import json
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def worst_logit_difference(model, expected_path):
    """Largest |logit - expected| of `model` over the sequences of an expected-logits JSON."""
    with open(expected_path) as f:
        expected = json.load(f)
    worst = 0.0
    with torch.no_grad():
        for s in expected["sequences"]:
            logits = model(torch.tensor([s["tokens"]])).logits[0]
            worst = max(worst, (logits - torch.tensor(s["logits"])).abs().max().item())
    return worst


def main():
    args = sys.argv[1:]
    failed = False
    for expected_path, folder in zip(args[0::2], args[1::2]):
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        AutoTokenizer.from_pretrained(folder)
        worst = worst_logit_difference(model, expected_path)
        ok = worst < 1e-4
        failed |= not ok
        print(f"{'ok' if ok else 'FAIL'} {folder}: max |logit difference| {worst:.2e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
