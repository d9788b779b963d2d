#!/usr/bin/env python3
"""Build the Hugging Face fixtures of tests/fixtures/hf/ (tiny random models, tokenizer, expectations).

Usage: python3 tools/make_hf_fixtures.py [out_dir]   (default tests/fixtures/hf)

Needs torch, transformers and tokenizers. Deterministic (seeded). The Deno tests read only the
files written here, so they need no Python. Each model folder is in the Hub layout
(config.json, safetensors, generation_config.json, tokenizer files) plus expected.json:
logits of several sequences, greedy continuations of left-padded prompts.
"""
import json
import os
import shutil
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
from transformers import GPT2Config, LlamaConfig, Qwen2Config, Qwen3Config

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/hf"
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
CORPUS = [
    "The quick brown fox jumps over the lazy dog. 12 + 30 = 42.",
    "Question: what is 7 * 8? Answer: 56. #### 56",
    "Natalia sold clips to 48 of her friends in April, and then half as many in May.",
    "def add(a, b):\n    return a + b\n\n",
    "Héllo wörld — naïve café, 東京, emoji 🙂 and tabs\tand  double  spaces.",
    "RL for LLMs: GRPO, RLOO, ReMax, PPO and TRePO compare response-level rewards.",
    "\\boxed{3.14} 1,000,000 0.5 -17 1e-3",
] * 20
TRICKY = [
    "Hello world",
    "  leading spaces and trailing   ",
    "digits 1234567890 and 3.14159, -42",
    "line one\nline two\n\n\tindented",
    "Unicode: héllo wörld 東京 🙂 naïve",
    "<|im_start|>user\nhi<|im_end|>",
    "mixed<|endoftext|>special tokens",
    "",
    "a\r\nb",
    "zzzz qqqq xylophone",
]
MESSAGES = [
    [{"role": "user", "content": "What is 2 + 2?"}],
    [
        {"role": "system", "content": "You solve math problems."},
        {"role": "user", "content": "  Natalia sold 48 clips.  "},
        {"role": "assistant", "content": "She sold 72 clips. #### 72"},
        {"role": "user", "content": "And in June? 東京 🙂"},
    ],
]


def train_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=360,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def randomize(model):
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if ("norm" in name or ".ln_" in name or name.startswith("transformer.ln_f")) and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)
            else:
                p.copy_(0.25 * noise)


def configs(vocab, eos, pad):
    common = dict(vocab_size=vocab, bos_token_id=eos, eos_token_id=eos, pad_token_id=pad)
    return {
        "gpt2": ("F32", GPT2Config(n_embd=48, n_layer=2, n_head=4, n_positions=64, **common)),
        "llama": ("F16", LlamaConfig(
            hidden_size=48, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5,
            tie_word_embeddings=True,
            rope_parameters={"rope_type": "llama3", "rope_theta": 5000.0, "factor": 8.0,
                             "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 32},
            **common)),
        "llama_untied": ("BF16", LlamaConfig(
            hidden_size=48, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=1, max_position_embeddings=128, rms_norm_eps=1e-6,
            tie_word_embeddings=False,
            rope_parameters={"rope_type": "default", "rope_theta": 20000.0}, **common)),
        "qwen2": ("F32", Qwen2Config(
            hidden_size=48, intermediate_size=72, num_hidden_layers=2, num_attention_heads=6,
            num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6,
            tie_word_embeddings=False,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, **common)),
        "qwen3": ("BF16", Qwen3Config(
            hidden_size=48, intermediate_size=72, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, max_position_embeddings=128, rms_norm_eps=1e-6,
            tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "rope_theta": 50000.0}, **common)),
    }


TORCH_DTYPE = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def rounded(values):
    return [round(float(v), 6) for v in values]


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    tok = train_tokenizer()
    vocab = len(tok)
    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    texts = ["The quick brown fox", "Question: what is 7 * 8? Answer:", "def add(a, b):\n    return"]
    sequences = [tok.encode(t) for t in texts]
    prompts = [tok.encode(t) for t in ["Natalia sold", "RL for LLMs: GRPO, RLOO", "12 +"]]
    new_tokens = 10
    for family, (dtype, config) in configs(vocab, eos, eos).items():
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config).eval()
        randomize(model)
        # Round to the stored dtype first, so the expectations are those of the saved weights.
        model = model.to(TORCH_DTYPE[dtype]).to(torch.float32)
        folder = os.path.join(OUT, family)
        shutil.rmtree(folder, ignore_errors=True)
        shard = "40KB" if family == "llama_untied" else "50MB"
        model.to(TORCH_DTYPE[dtype]).save_pretrained(folder, max_shard_size=shard)
        model.generation_config.eos_token_id = [eos, im_end]
        model.generation_config.save_pretrained(folder)
        tok.save_pretrained(folder)
        if family == "gpt2":
            # One folder keeps its template inside tokenizer_config.json (older checkpoints).
            with open(os.path.join(folder, "chat_template.jinja")) as f:
                template = f.read()
            os.remove(os.path.join(folder, "chat_template.jinja"))
            path = os.path.join(folder, "tokenizer_config.json")
            with open(path) as f:
                tok_config = json.load(f)
            tok_config["chat_template"] = template
            with open(path, "w") as f:
                json.dump(tok_config, f, indent=2)
        # The reference is what transformers computes for the saved folder (buffers such as
        # RoPE's inverse frequencies are rebuilt in float32, not rounded to the stored dtype).
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        expected = {"family": family, "dtype": dtype, "sequences": [], "greedy": {}}
        with torch.no_grad():
            for ids in sequences:
                logits = model(torch.tensor([ids])).logits[0]
                expected["sequences"].append(
                    {"tokens": ids, "logits": [rounded(row) for row in logits]})
            width = max(len(p) for p in prompts)
            input_ids = torch.tensor([[eos] * (width - len(p)) + p for p in prompts])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
            out = model.generate(input_ids=input_ids, attention_mask=mask, do_sample=False,
                                 max_new_tokens=new_tokens, eos_token_id=eos, pad_token_id=eos)
        expected["greedy"] = {
            "prompts": prompts, "eos": eos, "max_new_tokens": new_tokens,
            "tokens": [row[width:].tolist() for row in out],
        }
        with open(os.path.join(folder, "expected.json"), "w") as f:
            json.dump(expected, f, separators=(",", ":"))
    tokenizer_expected = {
        "vocab_size": vocab,
        "eos_token": "<|endoftext|>",
        "strings": [
            {"text": s, "ids": tok.encode(s),
             "decoded": tok.decode(tok.encode(s)),
             "decoded_skip": tok.decode(tok.encode(s), skip_special_tokens=True)}
            for s in TRICKY
        ],
        "chat": [
            {"messages": m,
             "prompt": tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True),
             "plain": tok.apply_chat_template(m, tokenize=False, add_generation_prompt=False)}
            for m in MESSAGES
        ],
    }
    with open(os.path.join(OUT, "tokenizer_expected.json"), "w") as f:
        json.dump(tokenizer_expected, f, ensure_ascii=False, indent=1)
    print(f"wrote {OUT}: vocab {vocab}")


if __name__ == "__main__":
    main()
