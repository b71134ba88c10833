#!/usr/bin/env bash
# GPU check for trace generation: one H100, under 10 minutes, no network needed.
#   bash benchmarks/gpu_check.sh            # figures land in $OUT (default: a temp folder)
# Builds a ~0.2B-parameter Qwen2 with random weights locally (no download), then runs
# benchmarks/bench_generation.py: our vLLM engine + job + store against plain vllm.LLM.generate
# (target: overhead < 5%), vLLM's n=N fan-out, and the transformers engine. Where vLLM is not
# installed it measures the transformers engine alone and says so.
# Budget: ~1 min setup, <= 5 min vLLM part, <= 2.5 min transformers part.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in .venv/bin/python python3 python; do
    if command -v "$c" >/dev/null 2>&1; then PY=$c; break; fi
  done
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
log() { echo "[gpu_check $(date +%H:%M:%S)] $*" | tee -a "$OUT/summary.txt"; }

log "python: $PY; output: $OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
"$PY" - <<'EOF' 2>&1 | tee "$OUT/versions.txt"
import importlib
for name in ("torch", "transformers", "vllm"):
    try:
        m = importlib.import_module(name)
        print(f"{name}=={getattr(m, '__version__', '?')}")
    except Exception as e:  # report, do not stop: the check adapts to what is installed
        print(f"{name}: not importable ({type(e).__name__}: {str(e)[:120]})")
import torch
print("cuda available:", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF

status=0
if grep -q "^vllm==" "$OUT/versions.txt"; then
  log "vLLM part: ours vs plain LLM.generate vs n=N fan-out (256 problems x 4 samples, 512 tokens)"
  timeout 300 "$PY" benchmarks/bench_generation.py --engines vllm --size medium --device cuda \
    --problems 256 --n 4 --max-tokens 512 --repeats 2 --chunk-size 64 --json "$OUT/bench_vllm.json" 2>"$OUT/bench_vllm.log" \
    | tee -a "$OUT/summary.txt"
  rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || { log "vLLM part failed (exit $rc); last lines of its log:"; tail -30 "$OUT/bench_vllm.log" | tee -a "$OUT/summary.txt"; status=1; }
else
  log "vLLM is not installed here: measuring the transformers engine only"
fi

log "transformers part (smaller load: 32 problems x 2 samples, 256 tokens)"
timeout 150 "$PY" benchmarks/bench_generation.py --engines hf --size medium --device cuda \
  --problems 32 --n 2 --max-tokens 256 --hf-batch-size 64 --json "$OUT/bench_hf.json" 2>"$OUT/bench_hf.log" \
  | tee -a "$OUT/summary.txt"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || { log "transformers part failed (exit $rc); last lines of its log:"; tail -30 "$OUT/bench_hf.log" | tee -a "$OUT/summary.txt"; status=1; }

if [ -f "$OUT/bench_vllm.json" ] && [ -f "$OUT/bench_hf.json" ]; then
  "$PY" - "$OUT" <<'EOF' | tee -a "$OUT/summary.txt"
import json, sys
v = json.load(open(f"{sys.argv[1]}/bench_vllm.json"))
h = json.load(open(f"{sys.argv[1]}/bench_hf.json"))
print(f"vLLM / transformers tokens/s: {v['vllm_tokens_per_s'] / h['hf_tokens_per_s']:.1f}x "
      f"(different loads: vLLM {v['problems']}x{v['n']}x{v['max_tokens']}, "
      f"transformers {h['problems']}x{h['n']}x{h['max_tokens']}) {h.get('hf_note', '')}")
EOF
fi
log "done (status $status); figures in $OUT"
exit $status
