#!/usr/bin/env bash
# The GPU device figures, with vLLM 0.25 (carried by ../shared/gpu/vllm-carry.sh) serving the embedded model.
# Run on the device from the repo root after the carry's install.sh:
#   bash bench/gpu_run.sh OUT_DIR [PART...]        parts: rollout (default), pipeline
# rollout: collection against the exact-request replay at 1 to 1,024 concurrent episodes (replay over 4 client
#   processes), once with vLLM's one API server and once with 4 (`--api-server-count 4`, so vLLM's Python
#   front-end is not the limit), and the runner's own ceiling against the bench's instant stand-in LLM.
# pipeline: the main job with a larger config.
set -u
out=${1:-/tmp/out}
shift || true
parts=${*:-rollout}
mkdir -p "$out"
export PYTHONPATH=/tmp/site:. VLLM_USE_FLASHINFER_SAMPLER=0 TRL_EXPERIMENTAL_SILENCE=1 AGENTGYM_CACHE=/tmp/agentgym
# The commands of trajectories/, eval/ and training/ are mounted through entry points: install the project's metadata.
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >/dev/null 2>&1 || true

# vllm serve on PORT with extra arguments, in the background; waits until it answers. Dev mode serves
# /reset_prefix_cache, which the rollout bench calls before each side.
start_vllm() {
  local port=$1
  shift
  VLLM_SERVER_DEV_MODE=1 python3 -m vllm.entrypoints.cli.main serve /tmp/models/smollm2 --served-model-name smollm2 \
    --port "$port" --max-model-len 4096 "$@" >"$out/vllm-$port.log" 2>&1 &
  vllm_pid=$!
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0
    kill -0 $vllm_pid 2>/dev/null || { echo "vLLM on $port died; see $out/vllm-$port.log"; return 1; }
    sleep 1
  done
  echo "vLLM on $port did not answer in 600 s; stopping it"
  stop_vllm
  return 1
}

stop_vllm() {
  pkill -TERM -P $vllm_pid 2>/dev/null
  kill -TERM $vllm_pid 2>/dev/null
  wait $vllm_pid 2>/dev/null
  sleep 5
}

rollout() {
  local conc=(1 64 256 512 1024)
  start_vllm 8011 && {
    python3 -m bench.bench_rollout --llm-url http://127.0.0.1:8011 --concurrency "${conc[@]}" --tokens 64 --steps 4 \
      --replay-procs 4 --json "$out/rollout.json" 2>&1 | tee "$out/rollout.txt"
    stop_vllm
  }
  start_vllm 8012 --api-server-count 4 && {
    python3 -m bench.bench_rollout --llm-url http://127.0.0.1:8012 --concurrency 256 512 1024 --tokens 64 --steps 4 \
      --replay-procs 4 --json "$out/rollout-4-frontends.json" 2>&1 | tee "$out/rollout-4-frontends.txt"
    stop_vllm
  }
  python3 -m bench.bench_rollout --instant-llm --concurrency 256 1024 --tokens 64 --steps 4 --replay-procs 4 \
    --json "$out/runner-ceiling.json" 2>&1 | tee "$out/runner-ceiling.txt"
}

pipeline() {
  start_vllm 8013 --enable-lora --max-lora-rank 64 && {
    python3 -m agentgym.cli pipeline --set "out=$out/pipeline" --set "vllm_url=http://127.0.0.1:8013" \
      --set "model=/tmp/models/smollm2" --set "envs=[maze,wordle,webshop]" --set "eval_tasks=30" \
      --set "eval_max_steps=15" --set "demo_episodes=120" --set "explore_episodes=60" --set "explore_max_steps=15" \
      --set "concurrency=128" --set "max_tokens=64" --set "trained_as=lora" --set "retrain_from=base"
    stop_vllm
  }
}

for part in $parts; do
  echo "== $part: $(date -u +%H:%M:%S)"
  $part
done
echo "== done: $(date -u +%H:%M:%S)"
