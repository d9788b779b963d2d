"""Write a randomly initialised llama with SmolLM2-135M's shape (hidden 576, 30 layers, 9 heads,
3 key/value heads, intermediate 1536, vocabulary 49152, tied head) to a folder, in BF16, sharded
by --max-shard-size, with the tiny test tokenizer (tests/fixtures/hf/llama). Used to measure the
memory of loading (tools/measure_load_memory.ts); nothing is downloaded.

    python3 tools/make_random_llama.py /tmp/smollm2_shape [--max-shard-size 150MB]
"""

import argparse
import shutil

import torch
from transformers import LlamaConfig, LlamaForCausalLM

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--max-shard-size", default="150MB")
args = parser.parse_args()

torch.manual_seed(0)
config = LlamaConfig(
    hidden_size=576,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    intermediate_size=1536,
    vocab_size=49152,
    max_position_embeddings=8192,
    rope_theta=100000.0,
    tie_word_embeddings=True,
    eos_token_id=2,
    bos_token_id=1,
)
model = LlamaForCausalLM(config).to(torch.bfloat16)
model.save_pretrained(args.out, max_shard_size=args.max_shard_size)
for name in ["tokenizer.json", "tokenizer_config.json"]:
    shutil.copy(f"tests/fixtures/hf/llama/{name}", f"{args.out}/{name}")
print(f"wrote {args.out}: {sum(p.numel() for p in model.parameters())} parameters")
