#!/usr/bin/env bash
# GPU check: one H100/H200, about 4 minutes (hard caps add up to 500 s without vLLM), no network needed.
#   bash benchmarks/gpu_check.sh            # logs and figures land in $OUT (default: a temp folder)
# 1. Installs the wheels carried in .whl/ (if any) into /tmp/site with pip --no-index --no-deps
#    and puts it first on PYTHONPATH; this repo's own source is then copied over the installed
#    reasoning_distill, so the check runs the tree it was sent with even if the wheel is older.
# 2. Prints the versions (torch, CUDA device, transformers, trl, datasets, ...) to versions.txt.
# 3. Runs the CUDA tests (tests/gpu: HF engine cuda vs cpu, KL losses and gradients cuda vs cpu
#    in fp32 and bf16, train_sft on cuda) -> pytest.log.
# 4. Where vLLM imports: our vLLM engine + job + store against plain vllm.LLM.generate (target:
#    overhead < 5%) and vLLM's n=N fan-out (bench_vllm.json/.log). Always: the transformers engine
#    on a ~0.2B-parameter Qwen2 with random weights built locally (bench_hf.json/.log).
# 5. SFT: tokens/s and MFU of our SFT stage on a Qwen2.5-1.5B-shaped student (random weights from
#    its config) at 8k context, packed (padding-free), bf16, gradient checkpointing, Liger when
#    installed, flash-attention when installed (else SDPA) -> bench_sft.json/.log.
# 6. A short table at the end of summary.txt: test counts, tokens/s, SFT MFU.
# Environment: PYTHON (interpreter), WHEELS (folder of wheels, default .whl), SITE_DIR (default
# /tmp/site), BENCH_DEVICE / BENCH_SIZE / BENCH_HF_ARGS (default cuda / medium / 32 problems x 2
# samples x 256 tokens; a CPU rehearsal uses cpu / tiny / a smaller load), BENCH_SFT_ARGS (extra
# flags for bench_sft_gpu.py; a CPU rehearsal: --size tiny --max-length 1024 --rows 60 --median 300).
# Python runs with -P: the repo root must not shadow the installed package (whose
# reasoning_distill.verifiers etc. exist only in the installed layout).
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
WHEELS=${WHEELS:-.whl}
SITE=${SITE_DIR:-/tmp/site}
BENCH_DEVICE=${BENCH_DEVICE:-cuda}
BENCH_SIZE=${BENCH_SIZE:-medium}
BENCH_HF_ARGS=${BENCH_HF_ARGS:---problems 32 --n 2 --max-tokens 256 --hf-batch-size 64}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export WANDB_MODE=disabled
log() { echo "[gpu_check $(date +%H:%M:%S)] $*" | tee -a "$OUT/summary.txt"; }
status=0
t_start=$(date +%s)

log "python: $PY; output: $OUT"
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  rm -rf "$SITE"
  n=$(ls "$WHEELS"/*.whl | wc -l)
  if timeout 40 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --disable-pip-version-check --target "$SITE" "$WHEELS"/*.whl >>"$OUT/summary.txt" 2>&1; then
    log "installed $n carried wheels into $SITE"
  else
    log "installing the carried wheels FAILED (see above); going on with what is installed"
    status=1
  fi
  if [ -d "$SITE/reasoning_distill" ]; then
    # The wheel maps verifiers/ eval/ data_recipes/ under reasoning_distill/: copy the sent tree
    # over it the same way, so a wheel built before the latest edits cannot hide them.
    stale=0
    for pair in reasoning_distill: verifiers:verifiers eval:eval data_recipes:data_recipes; do
      src=${pair%%:*}
      dst="$SITE/reasoning_distill/${pair#*:}"
      stale=$((stale + $(diff -rq -x __pycache__ -x verifiers -x eval -x data_recipes \
        "$src" "$dst" 2>/dev/null | grep -c "differ\|^Only in $src")))
      mkdir -p "$dst" && cp -r "$src"/. "$dst"/
    done
    log "copied this tree's source over the installed package ($stale files differed from the wheel)"
  fi
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
else
  log "no wheels in $WHEELS: using the installed packages, this tree on PYTHONPATH"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true; } >"$OUT/versions.txt" 2>&1
timeout 40 "$PY" -P - <<'EOF' >>"$OUT/versions.txt" 2>&1
import importlib
import sys

print(f"python=={sys.version.split()[0]} ({sys.executable})")
for name in ("torch", "transformers", "trl", "datasets", "accelerate", "peft", "tokenizers",
             "huggingface_hub", "safetensors", "pyarrow", "fsspec", "numpy", "vllm"):
    try:
        m = importlib.import_module(name)
        print(f"{name}=={getattr(m, '__version__', '?')}")
    except Exception as e:  # report, do not stop: the check adapts to what is installed
        print(f"{name}: not importable ({type(e).__name__}: {str(e)[:160]})")
import torch

cuda = torch.cuda.is_available()
print("torch.version.cuda:", torch.version.cuda)
print("cuda available:", cuda)
if cuda:
    print("device:", torch.cuda.get_device_name(0), "capability", torch.cuda.get_device_capability(0),
          "bf16", torch.cuda.is_bf16_supported())
# Everything the tests and the benchmark import, so a missing package shows here by name.
for mod in ("reasoning_distill.generation.hf_engine", "reasoning_distill.generation.job",
            "reasoning_distill.training.sft_trainer", "reasoning_distill.training.distill_trainer",
            "reasoning_distill.toy.models", "reasoning_distill.verifiers"):
    try:
        m = importlib.import_module(mod)
        print(f"import ok: {mod} ({m.__file__})")
    except Exception as e:
        print(f"IMPORT FAILED: {mod}: {type(e).__name__}: {e}")
EOF
sed 's/^/  /' "$OUT/versions.txt" | tee -a "$OUT/summary.txt"
grep -q "IMPORT FAILED\|not importable.*transformers\|^torch: not" "$OUT/versions.txt" && status=1

log "CUDA tests (tests/gpu)"
timeout 140 "$PY" -P -m pytest tests/gpu -v -p no:cacheprovider --timeout 100 \
  --junitxml=/tmp/gpu_check_junit.xml >"$OUT/pytest.log" 2>&1
rc=$?
tail -15 "$OUT/pytest.log" | tee -a "$OUT/summary.txt"
[ "$rc" = 0 ] || { log "CUDA tests: exit $rc"; status=1; }

if grep -q "^vllm==" "$OUT/versions.txt"; then
  log "vLLM part: ours vs plain LLM.generate vs n=N fan-out (256 problems x 4 samples, 512 tokens)"
  timeout 300 "$PY" -P benchmarks/bench_generation.py --engines vllm --size "$BENCH_SIZE" --device "$BENCH_DEVICE" \
    --problems 256 --n 4 --max-tokens 512 --repeats 2 --json "$OUT/bench_vllm.json" 2>"$OUT/bench_vllm.log" \
    | tee -a "$OUT/summary.txt"
  rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || { log "vLLM part failed (exit $rc); last lines of its log:"; tail -30 "$OUT/bench_vllm.log" | tee -a "$OUT/summary.txt"; status=1; }
else
  log "vLLM is not installed here: measuring the transformers engine only"
fi

log "transformers part ($BENCH_HF_ARGS, $BENCH_SIZE model on $BENCH_DEVICE)"
# shellcheck disable=SC2086  # BENCH_HF_ARGS is a list of flags
timeout 80 "$PY" -P benchmarks/bench_generation.py --engines hf --size "$BENCH_SIZE" --device "$BENCH_DEVICE" \
  $BENCH_HF_ARGS --json "$OUT/bench_hf.json" >"$OUT/bench_hf.log" 2>&1
rc=$?
grep -v "it/s\]\|^Loading\|^Writing" "$OUT/bench_hf.log" | tail -5 | tee -a "$OUT/summary.txt"
[ "$rc" = 0 ] || { log "transformers part failed (exit $rc); last lines of its log:"; tail -30 "$OUT/bench_hf.log" | tee -a "$OUT/summary.txt"; status=1; }

log "SFT part: Qwen2.5-1.5B-shaped student, 8k packed, bf16, gradient checkpointing, Liger if installed"
timeout 180 "$PY" -P benchmarks/bench_sft_gpu.py --device "$BENCH_DEVICE" ${BENCH_SFT_ARGS:-} \
  --json "$OUT/bench_sft.json" >"$OUT/bench_sft.log" 2>&1
rc=$?
grep "^SFT " "$OUT/bench_sft.log" | tee -a "$OUT/summary.txt"
[ "$rc" = 0 ] || { log "SFT part failed (exit $rc); last lines of its log:"; tail -30 "$OUT/bench_sft.log" | tee -a "$OUT/summary.txt"; status=1; }

log "KD part: reverse KL at 4k and 16k, 1.5B-student / 7B-teacher shapes, peak memory ours vs TRL's chunked loss"
timeout 120 "$PY" -P benchmarks/bench_kd_gpu.py --lengths 4096,16384 --chunk-size 1024 \
  >"$OUT/bench_kd.log" 2>&1
rc=$?
tee -a "$OUT/summary.txt" <"$OUT/bench_kd.log"
[ "$rc" = 0 ] || { log "KD part failed (exit $rc)"; status=1; }

"$PY" -P - "$OUT" /tmp/gpu_check_junit.xml <<'EOF' 2>&1 | tee -a "$OUT/summary.txt"
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

out, junit = Path(sys.argv[1]), Path(sys.argv[2])
rows = []
if junit.is_file():
    s = ET.parse(junit).getroot()
    s = s if s.tag == "testsuite" else s.find("testsuite")
    n, f, e, k = (int(s.get(a, 0)) for a in ("tests", "failures", "errors", "skipped"))
    rows.append(("CUDA tests", f"{n - f - e - k} passed, {f} failed, {e} errors, {k} skipped"))
    for case in s.iter("testcase"):
        res = next(iter(case), None)
        state = "passed" if res is None or res.tag in ("system-out", "system-err") else res.tag
        rows.append((f"  {case.get('name')}", f"{state} {float(case.get('time', 0)):.1f}s"))
else:
    rows.append(("CUDA tests", "no result (pytest did not finish)"))
h = json.loads((out / "bench_hf.json").read_text()) if (out / "bench_hf.json").is_file() else {}
v = json.loads((out / "bench_vllm.json").read_text()) if (out / "bench_vllm.json").is_file() else {}
if h:
    rows.append(("transformers engine", f"{h['hf_tokens_per_s']:.0f} tok/s ({h['hf_tokens']} tokens "
                 f"in {h['hf_s']:.1f}s; {h['problems']}x{h['n']}x{h['max_tokens']} on {h['device']})"))
if v:
    rows.append(("vLLM plain", f"{v['vllm_tokens_per_s']:.0f} tok/s"))
    rows.append(("our vLLM overhead", f"{v['overhead_pct']:+.1f}% (target < 5%)"))
    if h:
        rows.append(("vLLM / transformers", f"{v['vllm_tokens_per_s'] / h['hf_tokens_per_s']:.1f}x "
                     "(different loads)"))
sft = json.loads((out / "bench_sft.json").read_text()) if (out / "bench_sft.json").is_file() else {}
if sft:
    mfu = f"MFU {sft['mfu']:.1%}" if sft.get("mfu") is not None else "MFU n/a"
    rows.append((f"SFT {sft['model']}, {sft['max_length']} packed", f"{sft['tokens_per_s']:.0f} tok/s, {mfu} "
                 f"({sft['attn']}, liger {sft['liger']}, {sft['peak_memory_gb'] or 0:.0f} GB peak)"))
width = max(len(r[0]) for r in rows)
print("-" * 60)
for name, value in rows:
    print(f"{name:<{width}}  {value}")
print("-" * 60)
EOF
log "done in $(($(date +%s) - t_start))s (status $status); files in $OUT"
exit $status
