#!/usr/bin/env bash
# The GPU device figures: vLLM (0.25, carried by ../shared/gpu/vllm-carry.sh) serving the embedded model,
# rollout efficiency at 1/64/256 concurrent episodes, then the main pipeline with a larger config.
# Run on the device from the repo root after the carry's install.sh:  bash bench/gpu_run.sh OUT_DIR
set -u
out=${1:-/tmp/out}
export PYTHONPATH=/tmp/site:. VLLM_USE_FLASHINFER_SAMPLER=0 TRL_EXPERIMENTAL_SILENCE=1 AGENTGYM_CACHE=/tmp/agentgym
# The commands of trajectories/, eval/ and training/ are mounted through entry points: install the project's metadata.
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >/dev/null 2>&1 || true
python3 - "$out" <<'PY'
import subprocess, sys, time
from agentgym.vllm_server import VLLMServer

out = sys.argv[1]
t0 = time.monotonic()
with VLLMServer("/tmp/models/smollm2", served_name="smollm2", enable_lora=True, log_path=f"{out}/vllm.log") as s:
    print(f"vLLM ready in {time.monotonic() - t0:.0f} s", flush=True)
    subprocess.run([sys.executable, "-m", "bench.bench_rollout", "--llm-url", s.url, "--concurrency", "1", "64",
                    "256", "--tokens", "64", "--steps", "4", "--json", f"{out}/rollout.json"], timeout=180)
    subprocess.run([sys.executable, "-m", "agentgym.cli", "pipeline", "--set", f"out={out}/pipeline",
                    "--set", f"vllm_url={s.url}", "--set", "model=/tmp/models/smollm2",
                    "--set", "envs=[maze,wordle,webshop]", "--set", "eval_tasks=30", "--set", "eval_max_steps=15",
                    "--set", "demo_episodes=120", "--set", "explore_episodes=60", "--set", "explore_max_steps=15",
                    "--set", "concurrency=128", "--set", "max_tokens=64",
                    "--set", "trained_as=lora", "--set", "retrain_from=base"], timeout=290)
PY
