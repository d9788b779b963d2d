#!/usr/bin/env python3
"""PyTorch side of `deno task bench:lm` (lib/cli/bench_lm.ts): the same random llama model
(SmolLM2-135M's shape unless told otherwise) and the same workload, fp32 on the CPU.

* sampling: `generate(do_sample=True)` with the KV cache, `samplePrompts` prompts of
  `promptTokens` random tokens, exactly `newTokens` new tokens each (one timed call after a
  2-token warm-up);
* one Adam step on `trainBatch` x `trainTokens` tokens: mean log-prob of the last
  `trainTokens - 1` tokens, backward, `torch.optim.Adam` (timed steps after one untimed);
* peak RSS of the process (`ru_maxrss`).

    python3 tools/bench_lm.py --layers 30 --threads 2 --steps 1 --out /tmp/torch.json
"""

import argparse
import json
import resource
import statistics
import time


def main():
    p = argparse.ArgumentParser()
    for name, default in [
        ("layers", 30), ("hidden", 576), ("heads", 9), ("kvHeads", 3), ("intermediate", 1536),
        ("vocab", 49152), ("samplePrompts", 16), ("promptTokens", 64), ("newTokens", 64),
        ("trainBatch", 4), ("trainTokens", 256), ("steps", 1), ("threads", 2),
    ]:
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--out", required=True)
    p.add_argument("--model", help="a checkpoint folder to load instead of the random model")
    a = p.parse_args()

    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    config = LlamaConfig(
        hidden_size=a.hidden, intermediate_size=a.intermediate, num_hidden_layers=a.layers,
        num_attention_heads=a.heads, num_key_value_heads=a.kvHeads, vocab_size=a.vocab,
        max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=100000.0,
        tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0,
        attn_implementation="sdpa",
    )
    if a.model:
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
        a.vocab = model.config.vocab_size
    else:
        model = LlamaForCausalLM(config).float()
    params = sum(t.numel() for t in model.parameters())
    g = torch.Generator().manual_seed(7)
    prompts = torch.randint(1, a.vocab, (a.samplePrompts, a.promptTokens), generator=g)
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

    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    tokens = torch.randint(1, a.vocab, (a.trainBatch, a.trainTokens), generator=g)
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
        "info": {"torch": torch.__version__, "transformers": transformers.__version__,
                 "threads": a.threads, "attn_implementation": "sdpa"},
    }
    with open(a.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
