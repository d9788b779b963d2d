#!/usr/bin/env bash
# One prepared check for a machine with an NVIDIA GPU, Deno and the Vulkan loader (libvulkan1 +
# the NVIDIA ICD): trepo on tfjs-webgpu against the real GPU, and PyTorch on the same shapes when
# `python3 -c "import torch"` works. Writes results/gpu/ (JSON + a markdown summary). Budget:
# about 6 minutes (each part has its own timeout).
#
#   bash tools/gpu_check.sh
#
# Status: prepared and checked on CPU only (wasm/--quick paths); not yet run on a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=results/gpu
mkdir -p "$OUT"
log() { printf 'gpu_check: %s\n' "$*" | tee -a "$OUT/log.txt"; }
: >"$OUT/log.txt"

log "date $(date -u +%FT%TZ); deno $(deno --version | head -n1)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
  --format=csv,noheader | tee "$OUT/gpu.txt"
deno eval 'const a = await navigator.gpu?.requestAdapter(); console.log(JSON.stringify(a ? { vendor: a.info.vendor, architecture: a.info.architecture, description: a.info.description, fallback: a.info.isFallbackAdapter } : null))' \
  | tee "$OUT/adapter.json"
if grep -q '"fallback":true' "$OUT/adapter.json" || grep -q '^null' "$OUT/adapter.json"; then
  log "no hardware WebGPU adapter (see adapter.json): install the Vulkan loader (libvulkan1) and the NVIDIA driver's ICD; stopping"
  exit 1
fi
deno install >/dev/null 2>&1 || log "deno install failed (offline? carry node_modules)"

run() { # name timeout command...
  local name=$1 limit=$2; shift 2
  log "$name: $*"
  local t0=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
  log "$name: exit $? in $((SECONDS - t0)) s"
}
export TREPO_BACKEND=webgpu
run bench 90 deno task bench --backend webgpu --out "$OUT/bench_webgpu.json"
run bench_rl 90 deno task bench:rl --backend webgpu --steps 5 --warmup 2 --out "$OUT/bench_rl_webgpu.json"
run scale_tfjs 150 deno run -A --unstable-webgpu tools/gpu/scale.ts --backend webgpu --out "$OUT/scale_tfjs.json"
if python3 -c "import torch" 2>/dev/null; then
  run scale_torch 60 python3 tools/gpu/scale_torch.py "$OUT/scale_torch.json"
else
  log "scale_torch: skipped (python3 cannot import torch)"
fi

# Summary table (tfjs-webgpu vs torch, with the ratio where both ran).
deno eval '
const read = (p) => { try { return JSON.parse(Deno.readTextFileSync(p)); } catch { return undefined; } };
const tfjs = read("results/gpu/scale_tfjs.json"), torch = read("results/gpu/scale_torch.json");
const lines = ["| d | layers | params | tfjs-webgpu step ms (first) | torch step ms | ratio | tfjs tok/s | torch tok/s |", "|---|---|---|---|---|---|---|---|"];
for (const r of tfjs?.rows ?? []) {
  const t = torch?.rows.find((x) => x.dModel === r.dModel && x.layers === r.layers);
  lines.push(`| ${r.dModel} | ${r.layers} | ${r.parameters} | ${r.stepMs.toFixed(1)} (${r.firstStepMs.toFixed(0)}) | ${t ? t.stepMs.toFixed(1) : "–"} | ${t ? (r.stepMs / t.stepMs).toFixed(1) + "×" : "–"} | ${r.sampleTokensPerS.toFixed(0)} | ${t ? t.sampleTokensPerS.toFixed(0) : "–"} |`);
}
Deno.writeTextFileSync("results/gpu/summary.md", `GPU: ${torch?.device ?? Deno.readTextFileSync("results/gpu/adapter.json").trim()}\n\n${lines.join("\n")}\n`);
console.log(lines.join("\n"));
' | tee -a "$OUT/log.txt"
log "done in $SECONDS s; results in $OUT/"
