#!/usr/bin/env bash
# The GPU experiments of issue 12 (results in docs/results/<name>/), each one function below, on a device
# machine with two GPUs after the carry's install (../shared/gpu/vllm-carry.sh; model in /tmp/models/smollm2).
#
#   bash scripts/gpu_experiments.sh start evolve|grpo   run one pair of lanes detached (setsid: they outlive
#                                                       a device call), one GPU each
#   bash scripts/gpu_experiments.sh status OUT          progress, and everything so far packed into OUT
#                                                       (<name>.tar.gz: reports, plots, logs; no weights)
#
# evolve: GPU 0 self-evolution; GPU 1 the AgentRefine ablation.                  (about 23 min on 2 H100s)
# grpo:   GPU 1 behaviour cloning with whole episodes in context (GRPO's start); then GRPO with a horizon
#         curriculum (GPU 0) and with a fixed horizon (GPU 1) at once, their evaluation; then both GPUs: GRPO
#         with vLLM on one GPU and the trainer on the other (TRL's server mode) against colocated on one; SFT
#         on both GPUs (accelerate, DDP) against one.
# Each GPU's jobs run one at a time: a GRPO step beside another lane's vLLM ran out of GPU memory.
# Pack at every call (status OUT): a device machine left idle 30 s is given back with /tmp.
set -u
W=${W:-/tmp/exp}
M=${MODEL:-/tmp/models/smollm2}
export PYTHONPATH=/tmp/site:. VLLM_USE_FLASHINFER_SAMPLER=0 TRL_EXPERIMENTAL_SILENCE=1 AGENTGYM_CACHE=/tmp/agentgym
export PYTHONUNBUFFERED=1
ag() { python3 -m agentgym.cli "$@"; }
mark() { echo "$(date +%T) $*" >>"$W/progress"; }
wait_file() {  # FILE...: wait (at most 20 min) until every FILE exists; fail, saying so, if one never does
  local t=0; for f in "$@"; do until [ -f "$f" ]; do sleep 10; t=$((t + 10))
    [ $t -lt 1200 ] || { mark "gave up waiting for $f"; return 1; }; done; done
}
wait_server() {  # PID URL: wait until URL answers; fail if PID died first
  until curl -sf "$2" >/dev/null; do kill -0 "$1" 2>/dev/null || { mark "server $1 died"; return 1; }; sleep 5; done
}

self_evolution() {
  CUDA_VISIBLE_DEVICES=$1 ag train evolve --config training/experiments/self-evolution-gpu.yaml \
    --set model=$M --set out=$W/self-evolution
}

refine_ablation() {
  CUDA_VISIBLE_DEVICES=$1 ag train ablation --config training/experiments/ablation-gpu.yaml \
    --set model=$M --set out=$W/refine-ablation
}

grpo_start() {  # behaviour cloning with the whole episode in context: what multi-turn GRPO trains on
  mkdir -p $W/grpo
  printf 'max_steps: 150\nlearning_rate: 5.0e-4\nper_device_train_batch_size: 16\nmax_length: 2048\n' >$W/grpo/bc.yaml
  ag collect --env guided_maze --expert --episodes 400 --concurrency 64 --out $W/grpo/expert.jsonl
  CUDA_VISIBLE_DEVICES=$1 ag train sft --data $W/grpo/expert.jsonl --model $M --out $W/grpo/bc --recipe $W/grpo/bc.yaml
}

grpo_arm() {  # GPU, arm name (curriculum | fixed)
  local recipe=training/recipes/grpo-horizon-gpu.yaml
  if [ "$2" = fixed ]; then sed 's/^horizon:.*/horizon: []/' $recipe >$W/grpo/fixed.yaml; recipe=$W/grpo/fixed.yaml; fi
  wait_file $W/grpo/bc/merged/config.json || return 1
  CUDA_VISIBLE_DEVICES=$1 ag train grpo --env guided_maze --model $W/grpo/bc/merged --recipe $recipe --out $W/grpo/$2
}

grpo_eval() {  # GPU: the start model and both arms, greedy, on one vLLM serving the arms as adapters
  wait_file $W/grpo/curriculum/adapter/adapter_config.json $W/grpo/fixed/adapter/adapter_config.json || return 1
  printf 'name: guided_maze-200\nentries:\n  - {env: guided_maze, split: held_in, tasks: 200}\n  - {env: guided_maze, split: held_out, tasks: 100}\n' \
    >$W/grpo/suite.yaml
  CUDA_VISIBLE_DEVICES=$1 ag llm serve --model $W/grpo/bc/merged --port 8300 \
    --lora curriculum=$W/grpo/curriculum/adapter --lora fixed=$W/grpo/fixed/adapter &
  local server=$!
  wait_server $server localhost:8300/v1/models || return 1
  for arm in bc curriculum fixed; do
    local served=(); [ $arm = bc ] || served=(--served $arm)
    ag eval --suite $W/grpo/suite.yaml --llm-url http://127.0.0.1:8300 "${served[@]}" --out $W/grpo/eval-$arm \
      --concurrency 256 --max-tokens 48
  done
  kill $server; wait $server
  ag report $W/grpo/eval-bc/results.json $W/grpo/eval-curriculum/results.json --labels bc,grpo-curriculum \
    --out $W/grpo/compare-curriculum
  ag report $W/grpo/eval-bc/results.json $W/grpo/eval-fixed/results.json --labels bc,grpo-fixed \
    --out $W/grpo/compare-fixed
  ag report $W/grpo/eval-fixed/results.json $W/grpo/eval-curriculum/results.json --labels grpo-fixed,grpo-curriculum \
    --out $W/grpo/compare-arms
}

two_gpus() {  # both GPUs: GRPO in server mode (vLLM on GPU 1) against colocated (GPU 0); SFT on 2 GPUs against 1
  local d=$W/two-gpus; mkdir -p $d
  sed -e 's/^max_steps:.*/max_steps: 20/' -e 's/^deadline_s:.*/deadline_s: 0/' -e 's/^horizon:.*/horizon: []/' \
    training/recipes/grpo-horizon-gpu.yaml >$d/colocate.yaml
  sed -e 's/^vllm_gpu_memory_utilization:.*/vllm_mode: server/' $d/colocate.yaml >$d/server.yaml
  CUDA_VISIBLE_DEVICES=0 ag train grpo --env guided_maze --model $W/grpo/bc/merged --recipe $d/colocate.yaml \
    --out $d/grpo-colocate
  CUDA_VISIBLE_DEVICES=1 python3 -m trl.scripts.vllm_serve --model $W/grpo/bc/merged --port 8000 \
    --gpu_memory_utilization 0.5 --max_model_len 8192 >$d/trl-vllm-serve.log 2>&1 &
  local server=$!
  wait_server $server localhost:8000/health || return 1
  CUDA_VISIBLE_DEVICES=0 ag train grpo --env guided_maze --model $W/grpo/bc/merged --recipe $d/server.yaml \
    --out $d/grpo-server
  kill $server; wait $server
  printf 'max_steps: 60\nlearning_rate: 5.0e-4\nper_device_train_batch_size: 16\nmax_length: 2048\nmerge: false\n' \
    >$d/sft.yaml
  CUDA_VISIBLE_DEVICES=0 ag train sft --data $W/grpo/expert.jsonl --model $M --out $d/sft-1gpu --recipe $d/sft.yaml
  CUDA_VISIBLE_DEVICES=0,1 python3 -m accelerate.commands.launch --num_processes 2 -m agentgym.cli train sft \
    --data $W/grpo/expert.jsonl --model $M --out $d/sft-2gpus --recipe $d/sft.yaml
}

lane_self_evolution() { mark "self-evolution"; self_evolution 0; mark "self-evolution done"; }
lane_refine_ablation() { mark "refine ablation"; refine_ablation 1; mark "refine ablation done"; }

lane_grpo() {
  mark "grpo start"; grpo_start 1
  mark "grpo arms"; grpo_arm 0 curriculum & grpo_arm 1 fixed & wait
  mark "grpo eval"; grpo_eval 0
  mark "two gpus"; two_gpus
  mark "grpo done"
}

pack() {  # the small files of each experiment (no models, no checkpoints), one archive each
  local out=$1; mkdir -p "$out"
  for name in self-evolution refine-ablation grpo two-gpus; do  # lane logs go inside, as <name>/lane.log
    [ -f $W/lane_${name//-/_}.log ] && mkdir -p $W/$name && cp $W/lane_${name//-/_}.log $W/$name/lane.log
    [ -d $W/$name ] || continue
    (cd $W && find $name \( -name '*.md' -o -name '*.png' -o -name '*.json' -o -name '*.yaml' -o -name '*.log' \) \
      -not -path '*/checkpoints/*' -not -path '*/adapter/*' -not -path '*/merged/*' -size -4M -print0 |
      tar -czf "$out/$name.tar.gz" --null -T -)
  done
  cp $W/progress "$out/" 2>/dev/null
  true
}

detach() { setsid bash "$0" "$1" >$W/$1.log 2>&1 </dev/null & }

case "${1:-}" in
  start)
    python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >/dev/null 2>&1
    mkdir -p $W; touch $W/progress
    case "${2:-}" in
      evolve) detach lane_self_evolution; detach lane_refine_ablation ;;
      grpo) detach lane_grpo ;;
      *) echo "start evolve|grpo"; exit 2 ;;
    esac
    sleep 2; cat $W/progress ;;
  lane_*) "$1" ;;
  status) cat $W/progress; nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv
    for f in $W/lane_*.log; do echo "== $f"; tail -c 1500 $f | tr '\r' '\n' | grep -v '^ *$' | tail -4; done
    [ -z "${2:-}" ] || pack "$2" ;;
  *) sed -n 2,17p "$0"; exit 2 ;;
esac
