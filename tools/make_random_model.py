#!/usr/bin/env python3
"""Write a randomly initialised model with the shape of a real checkpoint to a folder, in the
Hugging Face layout, so that the real-size paths (`deno task train --model DIR --data F`,
`tools/measure_load_memory.ts`) run without downloading anything:

* `config.json`: the real model's fields (lib/cli/real_model_shapes.json, the one list that
  `deno task bench:lm --shape` reads too), `generation_config.json` with its BOS/EOS ids;
* random weights (normal(0, initializer_range), norm gains 1, biases 0) in BF16 safetensors,
  sharded by --max-shard-size;
* a byte-level BPE tokenizer whose vocabulary has exactly the model's `vocab_size` ids: the
  model's special tokens at their real ids, the 256 byte symbols, then synthetic merges of
  existing tokens (most common characters first) up to the size, reserved special tokens after
  the real ones where the real tokenizer has fewer ids than the embedding; with a ChatML chat
  template; built with the `tokenizers` package and saved by transformers, so transformers and
  `@huggingface/tokenizers` both load it;
* `prompts.jsonl`: a few `{question, answer}` arithmetic rows in the format `--data` reads.

    python3 tools/make_random_model.py --shape smollm2-135m /tmp/smollm2_shape
    python3 tools/make_random_model.py --shape qwen2.5-0.5b /tmp/qwen_shape [--layers 2]

The folder is checked before the script ends: the vocabulary size, a tokenizer round trip of
several texts (transformers' tokenizer and `tokenizer.json` read alone give the same ids), the
chat template, and transformers loading the folder back. Never commit these
folders (they are hundreds of MB to GB).
"""

import argparse
import json
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES_FILE = os.path.join(ROOT, "lib", "cli", "real_model_shapes.json")

SMOLLM2_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<reponame>", "<file_sep>",
    "<filename>", "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>",
    "<jupyter_start>", "<jupyter_text>", "<jupyter_code>", "<jupyter_output>",
    "<jupyter_script>", "<empty_output>",
]
QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
]


def chatml_template(system):
    """A ChatML template that adds `system` when the conversation has no system message."""
    return (
        "{%- if messages[0]['role'] != 'system' %}"
        "{{- '<|im_start|>system\\n" + system + "<|im_end|>\\n' }}"
        "{%- endif %}"
        "{%- for message in messages %}"
        "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    )


# Where each shape's special tokens sit, which of them are BOS/EOS/pad, and the chat template.
TOKENIZERS = {
    "smollm2-135m": dict(
        specials=SMOLLM2_SPECIALS, first_special=0, reserved_from=None, bos="<|endoftext|>",
        eos="<|endoftext|>", pad=None, split=None,
        template=chatml_template("You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
    ),
    "qwen2.5-0.5b": dict(
        specials=QWEN_SPECIALS, first_special=151643, reserved_from=151665, bos=None,
        eos="<|endoftext|>", pad="<|endoftext|>",
        # Qwen2's pre-tokenization (digits one by one; transformers' Qwen2Tokenizer imposes it
        # whatever tokenizer.json says, so the file must say it too for other readers to agree).
        split=r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
        template=chatml_template("You are a helpful assistant."),
    ),
}

ROUND_TRIP = [
    "Tom has 26 apples and buys 28 more. How many apples does he have?",
    "  leading spaces, trailing   \n\ttabs and\r\nnew lines",
    "Unicode: héllo wörld, 東京, naïve café 🙂",
    "18 boxes hold 18 * 4 = 72 pens.\n#### 72",
    "<|im_start|>user\nhi<|im_end|>\n",
]


def byte_symbols():
    """The 256 printable symbols byte-level BPE uses for the bytes 0…255, in byte order.

    Printable Latin-1 bytes stand for themselves; every other byte is given the next unused code
    point from 256 up, in byte order (so the space, byte 32, is 'Ġ').
    """
    printable = set(range(ord("!"), ord("~") + 1)) | set(range(0xA1, 0xAC + 1)) | set(
        range(0xAE, 0xFF + 1))
    symbols, extra = [], 0
    for b in range(256):
        if b in printable:
            symbols.append(chr(b))
        else:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


def build_vocabulary(vocab_size, specials, first_special, reserved_from):
    """Token → id for exactly `vocab_size` ids, the BPE merges, and the added (special) tokens.

    Specials take the ids from `first_special`; the ids from `reserved_from` (when given: where
    the real tokenizer ends and the embedding's padding rows begin) are reserved special tokens;
    the byte symbols and merged tokens fill the other ids in increasing order. The merges join two
    existing tokens into a new one, level by level (pairs of symbols, then a level's tokens
    followed by a symbol), commonest characters first.
    """
    special_ids = {first_special + i: s for i, s in enumerate(specials)}
    reserved_start = vocab_size if reserved_from is None else reserved_from
    if first_special + len(specials) > reserved_start:
        raise SystemExit(f"special tokens end at {first_special + len(specials)} > {reserved_start}")
    symbols = byte_symbols()
    common = "Ġetaoinshrdlucmfwypvbgk" + "0123456789" + "ETAOINSHRDLUCMFWYPVBGKjxqzJXQZ" + \
        ".,:;!?'\"()[]{}+-*/=#_<>|\\@$%&^`~"
    order = list(dict.fromkeys([c for c in common if c in symbols] + symbols))
    regular = []  # token strings in id order (merges appended as made)
    merges = []
    seen = set(specials)
    for s in symbols:
        regular.append(s)
        seen.add(s)
    regular_slots = reserved_start - len(specials)
    level = order
    while len(regular) < regular_slots:
        made = []
        for a in level:
            for b in order:
                if len(regular) >= regular_slots:
                    break
                t = a + b
                if t in seen:
                    continue
                seen.add(t)
                merges.append((a, b))
                regular.append(t)
                made.append(t)
            if len(regular) >= regular_slots:
                break
        level = made
    vocab = {}
    it = iter(regular)
    for i in range(vocab_size):
        if i in special_ids:
            vocab[special_ids[i]] = i
        elif i < reserved_start:
            vocab[next(it)] = i
        else:
            vocab[f"<|reserved_{i - reserved_start}|>"] = i
    added = [t for t, i in vocab.items() if i in special_ids or i >= reserved_start]
    return vocab, merges, added


def build_tokenizer(shape, vocab_size):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    spec = TOKENIZERS[shape]
    vocab, merges, added = build_vocabulary(
        vocab_size, spec["specials"], spec["first_special"], spec["reserved_from"])
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    if spec["split"] is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(spec["split"]), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in added])
    extra = {k: spec[k] for k in ["bos", "eos", "pad"] if spec[k] is not None}
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        **{f"{k}_token": v for k, v in extra.items()},
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    fast.chat_template = spec["template"]
    return fast


def write_prompts(path, rows, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(rows):
            a, b = rng.randint(2, 99), rng.randint(2, 99)
            f.write(json.dumps({
                "question": f"Tom has {a} apples and buys {b} more. How many apples does he have?",
                "answer": f"He has {a} + {b} = {a + b} apples.\n#### {a + b}",
            }) + "\n")


def main():
    with open(SHAPES_FILE) as f:
        shapes = json.load(f)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--shape", choices=sorted(shapes), default="smollm2-135m")
    p.add_argument("--layers", type=int, help="keep the width and vocabulary, use N layers")
    p.add_argument("--max-shard-size", default="150MB")
    p.add_argument("--prompts", type=int, default=32, help="rows of prompts.jsonl")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = dict(shapes[a.shape]["config"])
    if a.layers is not None:
        config["num_hidden_layers"] = a.layers
        if "max_window_layers" in config:
            config["max_window_layers"] = a.layers
    vocab_size = config["vocab_size"]
    torch.manual_seed(a.seed)
    hf_config = AutoConfig.for_model(**config)
    model = AutoModelForCausalLM.from_config(hf_config, dtype=torch.bfloat16)
    std = config["initializer_range"]
    with torch.no_grad():
        for name, w in model.named_parameters():
            if "norm" in name:
                w.fill_(1.0)
            elif name.endswith(".bias"):
                w.zero_()
            else:
                w.normal_(0.0, std)
    os.makedirs(a.out, exist_ok=True)
    model.save_pretrained(a.out, max_shard_size=a.max_shard_size)
    model.generation_config.save_pretrained(a.out)
    # config.json with the real model's fields (transformers writes its own spelling of them),
    # and the transformers version that wrote the folder, as every Hub checkpoint has.
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump({**config, "transformers_version": transformers.__version__}, f, indent=2)
        f.write("\n")
    fast = build_tokenizer(a.shape, vocab_size)
    fast.save_pretrained(a.out)
    write_prompts(os.path.join(a.out, "prompts.jsonl"), a.prompts, a.seed)

    # Checks: the ids, a round trip, the template, and transformers reading the folder back.
    tok = AutoTokenizer.from_pretrained(a.out)
    assert len(tok) == vocab_size, f"tokenizer has {len(tok)} ids, the model {vocab_size}"
    from tokenizers import Tokenizer
    raw = Tokenizer.from_file(os.path.join(a.out, "tokenizer.json"))
    for text in ROUND_TRIP:
        ids = tok.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text, (text, tok.decode(ids))
        # What tokenizer.json alone says (as @huggingface/tokenizers reads it) must agree.
        assert raw.encode(text, add_special_tokens=False).ids == ids, text
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is 2 + 2?"}],
                                     tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n"), prompt
    back = AutoModelForCausalLM.from_pretrained(a.out, dtype=torch.bfloat16)
    n = sum(t.numel() for t in back.parameters())
    assert back.config.vocab_size == vocab_size and n == sum(t.numel() for t in model.parameters())
    print(f"wrote {a.out}: {a.shape} shape, {config['num_hidden_layers']} layers, {n} parameters, "
          f"{vocab_size} token ids, {len(ROUND_TRIP)} texts round-trip; prompts: {a.out}/prompts.jsonl")


if __name__ == "__main__":
    main()
