#!/usr/bin/env python3
"""PyTorch side of `deno task bench:lm` (lib/cli/bench_lm.ts): a random model from the same
`config.json` (which bench:lm writes to a file; any model type transformers knows) and the same
workload, fp32 on the CPU.

* sampling of the base model: `generate(do_sample=True)` with the KV cache, `samplePrompts`
  prompts of `promptTokens` random tokens, exactly `newTokens` new tokens each (one timed call
  after a 2-token warm-up);
* one Adam step on `trainBatch` x `trainTokens` tokens: mean log-prob of the last
  `trainTokens - 1` tokens, backward, `torch.optim.Adam` over every weight, or, with
  `--lora-rank`, over a PEFT LoRA adapter (`get_peft_model`, `--lora-alpha`, `--lora-targets`)
  (timed steps after one untimed);
* peak RSS of the process (`ru_maxrss`) after sampling and at the end.

    python3 tools/bench_lm.py --config CONFIG.json --threads 2 --steps 1 --out /tmp/torch.json
"""

import argparse
import json
import resource
import statistics
import time


def main():
    p = argparse.ArgumentParser()
    for name, default in [
        ("samplePrompts", 16), ("promptTokens", 64), ("newTokens", 64), ("trainBatch", 4),
        ("trainTokens", 256), ("steps", 1), ("threads", 2), ("lora-rank", 0), ("lora-alpha", 0),
    ]:
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--out", required=True)
    p.add_argument("--config", help="the config.json of the random model")
    p.add_argument("--model", help="a checkpoint folder to load instead of the random model")
    p.add_argument("--lora-targets", default="", help="comma-separated PEFT target_modules")
    a = p.parse_args()
    if (a.config is None) == (a.model is None):
        p.error("give --config or --model")

    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    if a.model:
        model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32,
                                                     attn_implementation="sdpa")
    else:
        with open(a.config) as f:
            fields = json.load(f)
        fields.pop("torch_dtype", None)
        config = AutoConfig.for_model(**fields)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32,
                                                 attn_implementation="sdpa")
    vocab = model.config.vocab_size
    params = sum(t.numel() for t in model.parameters())
    g = torch.Generator().manual_seed(7)
    prompts = torch.randint(1, vocab, (a.samplePrompts, a.promptTokens), generator=g)
    model.eval()
    with torch.no_grad():
        model.generate(prompts[:2], attention_mask=torch.ones_like(prompts[:2]), do_sample=True,
                       max_new_tokens=2, min_new_tokens=2, pad_token_id=0)
        t0 = time.perf_counter()
        out = model.generate(prompts, attention_mask=torch.ones_like(prompts), do_sample=True,
                             max_new_tokens=a.newTokens, min_new_tokens=a.newTokens,
                             pad_token_id=0, top_k=0)
        sample_s = time.perf_counter() - t0
    sample_tokens = (out.shape[1] - a.promptTokens) * out.shape[0]
    print(f"  sampling: {sample_tokens} tokens in {sample_s:.2f} s", flush=True)
    sample_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    lora = None
    if a.lora_rank > 0:
        import peft
        targets = [t for t in a.lora_targets.split(",") if t]
        model = peft.get_peft_model(model, peft.LoraConfig(
            r=a.lora_rank, lora_alpha=a.lora_alpha or 2 * a.lora_rank, lora_dropout=0.0,
            target_modules=targets, bias="none"))
        trainable = [t for t in model.parameters() if t.requires_grad]
        lora = {"rank": a.lora_rank, "alpha": a.lora_alpha or 2 * a.lora_rank,
                "target_modules": targets,
                "trainable_parameters": sum(t.numel() for t in trainable)}
    model.train()
    opt = torch.optim.Adam([t for t in model.parameters() if t.requires_grad], lr=1e-5)
    tokens = torch.randint(1, vocab, (a.trainBatch, a.trainTokens), generator=g)
    times = []
    for i in range(a.steps + 1):
        t0 = time.perf_counter()
        logits = model(tokens).logits[:, :-1]
        logp = torch.log_softmax(logits, dim=-1)
        lp = logp.gather(-1, tokens[:, 1:, None]).squeeze(-1)
        loss = -lp.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        ms = (time.perf_counter() - t0) * 1000
        print(f"  adam step {'(untimed)' if i == 0 else i}: {ms:.0f} ms", flush=True)
        if i > 0:
            times.append(ms)
    result = {
        "impl": "torch",
        "parameters": params,
        "sample_tokens_per_s": sample_tokens / sample_s,
        "sample_s": sample_s,
        "sample_tokens": sample_tokens,
        "adam_step_ms": times,
        "adam_step_median_ms": statistics.median(times),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sample_peak_rss_mib": sample_peak,
        "lora": lora,
        "info": {"torch": torch.__version__, "transformers": transformers.__version__,
                 "threads": a.threads, "attn_implementation": "sdpa",
                 **({"peft": __import__("peft").__version__} if lora else {})},
    }
    with open(a.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
