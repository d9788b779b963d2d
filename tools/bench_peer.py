#!/usr/bin/env python3
"""Peer benchmark for `deno task bench:peer`: TRL's GRPOTrainer and a lean PyTorch GRPO step.

Both run exactly the workload of `deno task bench:rl` (lib/cli/bench_rl.ts), GRPO with beta = 0:
2 prompts x 8 responses per step, 8-token prompts, exactly 16 new tokens (EOS suppressed, so every
response is full length), vocabulary 64 (63 characters + EOS), a GPT-2-like policy with d 128,
2 layers, 4 heads, MLP width 4d, untied output head, random init, no dropout; fp32 on the CPU with
2 torch threads; Adam; a reward that counts one character.

    python3 tools/bench_peer.py --impl trl,lean --steps 10 --warmup 2 --out /tmp/peer.json

Prints one line per implementation and writes JSON: for each implementation the per-step
milliseconds (wall clock, after warm-up) and their median. `--check` only checks the imports and
prints {"missing": [...]} (what `bench:peer` runs first).
"""

import argparse
import json
import os
import statistics
import sys
import time

VOCAB = 64
PROMPT_TOKENS = 8
NEW_TOKENS = 16
PROMPTS = 2
GROUP = 8
D_MODEL = 128
LAYERS = 2
HEADS = 4
CHARS = [chr(0x21 + i) for i in range(VOCAB - 1)]
EOS = VOCAB - 1
TARGET = CHARS[0]


def check_imports():
    missing = []
    for name in ["torch", "transformers", "trl", "datasets", "tokenizers"]:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - any failure means unusable
            missing.append(name)
    return missing


def make_model(seed):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=VOCAB,
        n_positions=PROMPT_TOKENS + NEW_TOKENS,
        n_embd=D_MODEL,
        n_layer=LAYERS,
        n_head=HEADS,
        n_inner=4 * D_MODEL,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        tie_word_embeddings=False,
        bos_token_id=EOS,
        eos_token_id=EOS,
        pad_token_id=EOS,
    )
    # EOS is banned at generation time (bench_rl.ts does it through the weights), so every
    # response has exactly NEW_TOKENS tokens.
    return GPT2LMHeadModel(config).float()


def make_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(CHARS)}
    vocab["<eos>"] = EOS
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<eos>"))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>", bos_token="<eos>"
    )
    fast.padding_side = "left"
    return fast


def random_prompts(n, seed):
    import random

    rng = random.Random(seed)
    return ["".join(rng.choice(CHARS) for _ in range(PROMPT_TOKENS)) for _ in range(n)]


def reward_share(completions, **_kwargs):
    return [sum(1 for ch in c if ch == TARGET) / NEW_TOKENS for c in completions]


def bench_trl(steps, warmup):
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = make_tokenizer()
    model = make_model(1)
    total = warmup + steps
    dataset = Dataset.from_dict({"prompt": random_prompts(PROMPTS * total * 2, 3)})
    out_dir = os.environ.get("TMPDIR", "/tmp") + "/trepo_bench_peer_trl"
    args = GRPOConfig(
        output_dir=out_dir,
        use_cpu=True,
        per_device_train_batch_size=PROMPTS * GROUP,
        num_generations=GROUP,
        max_completion_length=NEW_TOKENS,
        generation_kwargs={"suppress_tokens": [EOS], "min_new_tokens": NEW_TOKENS},
        beta=0.0,
        learning_rate=1e-6,
        temperature=1.0,
        max_steps=total,
        logging_steps=10_000,
        save_strategy="no",
        report_to="none",
        bf16=False,
        fp16=False,
        disable_dropout=True,
        dataloader_num_workers=0,
        seed=2,
    )
    times = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *_a, **_k):
            self.t0 = time.perf_counter()

        def on_step_end(self, *_a, **_k):
            times.append((time.perf_counter() - self.t0) * 1000)

    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_share,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[Timer()],
    )
    trainer.train()
    return times[warmup:]


def bench_lean(steps, warmup):
    """A hand-written GRPO step: KV-cached sampling, group-normalised advantages, one forward and
    backward pass over prompt + response, PPO-clipped surrogate (ratio 1 on-policy, beta 0), Adam."""
    import torch

    model = make_model(1)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-6)
    gen = torch.Generator().manual_seed(2)
    prompts = random_prompts(PROMPTS * (warmup + steps), 3)
    stoi = {c: i for i, c in enumerate(CHARS)}
    times = []
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        batch = prompts[step * PROMPTS:(step + 1) * PROMPTS]
        ids = torch.tensor([[stoi[c] for c in p] for p in batch for _ in range(GROUP)])
        # 1. Sample with a KV cache, EOS banned.
        with torch.no_grad():
            out = model(input_ids=ids, use_cache=True)
            past = out.past_key_values
            logits = out.logits[:, -1]
            new = []
            for t in range(NEW_TOKENS):
                logits[:, EOS] = float("-inf")
                tok = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)
                new.append(tok)
                if t + 1 < NEW_TOKENS:
                    out = model(input_ids=tok, past_key_values=past, use_cache=True)
                    past = out.past_key_values
                    logits = out.logits[:, -1]
            completion = torch.cat(new, 1)
        # 2. Rewards and group-relative advantages.
        rewards = (completion == stoi[TARGET]).float().sum(1) / NEW_TOKENS
        g = rewards.view(PROMPTS, GROUP)
        adv = ((g - g.mean(1, keepdim=True)) / (g.std(1, keepdim=True) + 1e-6)).view(-1)
        # 3. Log-probs of the sampled tokens, clipped surrogate, per-sequence mean, Adam.
        seq = torch.cat([ids, completion], 1)
        logits = model(input_ids=seq).logits[:, PROMPT_TOKENS - 1:-1]
        logp = torch.log_softmax(logits, -1).gather(-1, completion.unsqueeze(-1)).squeeze(-1)
        ratio = torch.exp(logp - logp.detach())
        a = adv.unsqueeze(1)
        loss = torch.max(-a * ratio, -a * ratio.clamp(0.8, 1.2)).mean(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append((time.perf_counter() - t0) * 1000)
    return times[warmup:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impl", default="trl,lean", help="comma-separated: trl, lean")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="JSON output path (default: stdout only)")
    parser.add_argument("--check", action="store_true", help="only report missing modules")
    args = parser.parse_args()
    if args.check:
        print(json.dumps({"missing": check_imports(), "python": sys.executable}))
        return
    missing = check_imports()
    if missing:
        sys.exit(f"bench_peer.py: missing Python modules: {', '.join(missing)}")
    import warnings

    warnings.filterwarnings("ignore")
    import torch
    import transformers
    import trl

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    result = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "threads": args.threads,
        "impls": {},
    }
    for impl in args.impl.split(","):
        fn = {"trl": bench_trl, "lean": bench_lean}[impl]
        ms = fn(args.steps, args.warmup)
        result["impls"][impl] = {"step_ms": ms, "median_ms": statistics.median(ms)}
        print(f"{impl}: median {statistics.median(ms):.1f} ms over {len(ms)} steps", flush=True)
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
