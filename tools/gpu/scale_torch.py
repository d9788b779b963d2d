"""The same scale table as tools/gpu/scale.ts in PyTorch (same shapes: a pre-LN GPT with tied
nothing, vocab 64, batch 16 x 64 tokens, Adam; sampling 16 rows x 32 new tokens with a KV-free
full forward per token). Run by tools/gpu_check.sh when `import torch` works:
python3 tools/gpu/scale_torch.py results/gpu/scale_torch.json"""
import json, sys, time
import torch
import torch.nn as nn

dev = "cuda" if torch.cuda.is_available() else "cpu"
V, B, L, NEW, REPEATS = 64, 16, 64, 32, 3


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d))

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, d, layers):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, d), nn.Embedding(L + NEW + 8, d)
        self.blocks = nn.ModuleList(Block(d, max(1, d // 64)) for _ in range(layers))
        self.lnf, self.head = nn.LayerNorm(d), nn.Linear(d, V, bias=False)

    def forward(self, ids):
        n = ids.shape[1]
        mask = torch.triu(torch.ones(n, n, dtype=torch.bool, device=ids.device), 1)
        x = self.wte(ids) + self.wpe(torch.arange(n, device=ids.device))
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.lnf(x))


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


rows = []
for d in (128, 512, 1024):
    for layers in (2, 8, 12):
        torch.manual_seed(1)
        model = GPT(d, layers).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        ids = torch.tensor([[(b * 7 + t * 3) % V for t in range(L + 1)] for b in range(B)], device=dev)

        def step():
            sync(); t0 = time.perf_counter()
            loss = nn.functional.cross_entropy(model(ids[:, :-1]).reshape(-1, V), ids[:, 1:].reshape(-1))
            opt.zero_grad(); loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step(); sync()
            return (time.perf_counter() - t0) * 1000

        first = step()
        times = sorted(step() for _ in range(REPEATS))
        prompts = torch.tensor([[1 + b % 5, 2, 3] for b in range(B)], device=dev)
        sync(); t0 = time.perf_counter()
        with torch.no_grad():
            x = prompts
            for _ in range(NEW):
                nxt = torch.multinomial(torch.softmax(model(x)[:, -1], -1), 1)
                x = torch.cat([x, nxt], 1)
        sync(); s = time.perf_counter() - t0
        row = dict(dModel=d, layers=layers, parameters=sum(p.numel() for p in model.parameters()),
                   firstStepMs=first, stepMs=times[len(times) // 2], sampleTokensPerS=B * NEW / s)
        print(json.dumps(row), flush=True)
        rows.append(row)

out = sys.argv[1] if len(sys.argv) > 1 else "results/gpu/scale_torch.json"
with open(out, "w") as f:
    json.dump(dict(device=torch.cuda.get_device_name(0) if dev == "cuda" else "cpu",
                   torch=torch.__version__, batch=B, length=L, newTokens=NEW, rows=rows), f, indent=2)
