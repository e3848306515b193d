#!/usr/bin/env bash
# The GPU experiments of issue 12 (results in docs/results/<name>/), each one function below, on a device
# machine after the carry's install (../shared/gpu/vllm-carry.sh; model in /tmp/models/smollm2).
#
#   bash scripts/gpu_experiments.sh start LANE...   run lanes detached (setsid: they outlive a device call)
#   bash scripts/gpu_experiments.sh status OUT      progress, and everything so far packed into OUT
#                                                   (<name>.tar.gz: reports, plots, logs; no weights)
# Lanes:
#   self_evolution  behaviour cloning, then 3 rounds of explore -> filter -> retrain
#   refine_ablation the AgentRefine ablation at equal training tokens
#   grpo            behaviour cloning with whole episodes in context (GRPO's start); then GRPO with a horizon
#                   curriculum and with a fixed horizon at once; their evaluation
#   two_gpus        (2 GPUs) GRPO with vLLM on one GPU and the trainer on the other (TRL's server mode) against
#                   colocated on one; SFT on both GPUs (accelerate, DDP) against one
# With two GPUs or more, lanes spread over GPUs 0 and 1; with one, every lane shares it and each vLLM takes a
# small slice of its memory (a 135M model needs little KV cache).
# Knobs: VMEM, GMEM (memory fraction of each pipeline vLLM and of each GRPO arm's colocated vLLM: 0.45 and 0.25
# with two GPUs, 0.15 and 0.1 with one), DEADLINE (s of GRPO per arm, 720),
# BC_STEPS (GRPO's start, 150). Run of 2026-11-27: the first three lanes together on one H100 in 31 min.
# Pack at every call (status OUT): a device machine left idle 30 s is given back with /tmp.
set -u
W=${W:-/tmp/exp}
M=${MODEL:-/tmp/models/smollm2}
export PYTHONPATH=/tmp/site:. VLLM_USE_FLASHINFER_SAMPLER=0 TRL_EXPERIMENTAL_SILENCE=1 AGENTGYM_CACHE=/tmp/agentgym
export PYTHONUNBUFFERED=1
NGPU=$(nvidia-smi -L 2>/dev/null | wc -l)
if [ "$NGPU" -ge 2 ]; then G0=0 G1=1 VMEM=${VMEM:-0.45} GMEM=${GMEM:-0.25}
else G0=0 G1=0 VMEM=${VMEM:-0.15} GMEM=${GMEM:-0.1}; fi
DEADLINE=${DEADLINE:-720}  # seconds of GRPO training per arm, whatever the step count reached
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
    --set model=$M --set out=$W/self-evolution --set "vllm_args=[--gpu-memory-utilization, '$VMEM']"
}

refine_ablation() {
  CUDA_VISIBLE_DEVICES=$1 ag train ablation --config training/experiments/ablation-gpu.yaml \
    --set model=$M --set out=$W/refine-ablation --set "vllm_args=[--gpu-memory-utilization, '$VMEM']"
}

grpo_start() {  # GPU DIR: behaviour cloning with the whole episode in context (what multi-turn GRPO trains on)
  local d=$2; mkdir -p $d
  printf 'max_steps: %s\nlearning_rate: 5.0e-4\nper_device_train_batch_size: 16\nmax_length: 2048\n' "${BC_STEPS:-150}" >$d/bc.yaml
  ag collect --env guided_maze --expert --episodes 400 --concurrency 64 --out $d/expert.jsonl
  CUDA_VISIBLE_DEVICES=$1 ag train sft --data $d/expert.jsonl --model $M --out $d/bc --recipe $d/bc.yaml
}

grpo_arm() {  # GPU, arm name (curriculum | fixed)
  local recipe=$W/grpo/$2.yaml fixed=; [ "$2" = fixed ] && fixed='s/^horizon:.*/horizon: []/'
  sed -e "s/^vllm_gpu_memory_utilization:.*/vllm_gpu_memory_utilization: $GMEM/" \
    -e "s/^deadline_s:.*/deadline_s: $DEADLINE/" -e "$fixed" training/recipes/grpo-horizon-gpu.yaml >$recipe
  wait_file $W/grpo/bc/merged/config.json || return 1
  [ "$2" = fixed ] && sleep 60  # after the other arm's vLLM has sized its cache
  CUDA_VISIBLE_DEVICES=$1 ag train grpo --env guided_maze --model $W/grpo/bc/merged --recipe $recipe --out $W/grpo/$2
}

grpo_eval() {  # GPU: the start model and both arms, greedy, on one vLLM serving the arms as adapters
  wait_file $W/grpo/curriculum/adapter/adapter_config.json $W/grpo/fixed/adapter/adapter_config.json || return 1
  printf 'name: guided_maze-200\nentries:\n  - {env: guided_maze, split: held_in, tasks: 200}\n  - {env: guided_maze, split: held_out, tasks: 100}\n' \
    >$W/grpo/suite.yaml
  CUDA_VISIBLE_DEVICES=$1 ag llm serve --model $W/grpo/bc/merged --port 8300 --vllm-arg=--gpu-memory-utilization=$VMEM \
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

two_gpus() {  # START: both GPUs: GRPO in server mode (vLLM on GPU 1) against colocated (GPU 0); SFT on 2 GPUs against 1
  local d=$W/two-gpus b=$1; mkdir -p $d
  sed -e 's/^max_steps:.*/max_steps: 20/' -e 's/^deadline_s:.*/deadline_s: 0/' -e 's/^horizon:.*/horizon: []/' \
    training/recipes/grpo-horizon-gpu.yaml >$d/colocate.yaml
  sed -e 's/^vllm_gpu_memory_utilization:.*/vllm_mode: server/' $d/colocate.yaml >$d/server.yaml
  CUDA_VISIBLE_DEVICES=0 ag train grpo --env guided_maze --model $b/bc/merged --recipe $d/colocate.yaml \
    --out $d/grpo-colocate
  CUDA_VISIBLE_DEVICES=1 python3 -m trl.scripts.vllm_serve --model $b/bc/merged --port 8000 \
    --gpu_memory_utilization 0.5 --max_model_len 8192 >$d/trl-vllm-serve.log 2>&1 &
  local server=$!
  wait_server $server localhost:8000/health || return 1
  CUDA_VISIBLE_DEVICES=0 ag train grpo --env guided_maze --model $b/bc/merged --recipe $d/server.yaml \
    --out $d/grpo-server
  kill $server; wait $server
  printf 'max_steps: 60\nlearning_rate: 5.0e-4\nper_device_train_batch_size: 16\nmax_length: 2048\nmerge: false\n' \
    >$d/sft.yaml
  CUDA_VISIBLE_DEVICES=0 ag train sft --data $b/expert.jsonl --model $M --out $d/sft-1gpu --recipe $d/sft.yaml
  CUDA_VISIBLE_DEVICES=0,1 python3 -m accelerate.commands.launch --num_processes 2 -m agentgym.cli train sft \
    --data $b/expert.jsonl --model $M --out $d/sft-2gpus --recipe $d/sft.yaml
}

ended() { local rc=$?; [ $rc = 0 ] && mark "$1 done" || mark "$1 failed ($rc)"; }  # after the lane's last job
lane_self_evolution() { mark "self-evolution"; self_evolution $G0; ended self-evolution; }
lane_refine_ablation() { mark "refine ablation"; refine_ablation $G1; ended "refine ablation"; }

lane_grpo() {
  mark "grpo start"; grpo_start $G1 $W/grpo
  mark "grpo arms"; grpo_arm $G0 curriculum & grpo_arm $G1 fixed & wait
  mark "grpo eval"; grpo_eval $G0; ended grpo
}

lane_two_gpus() {
  [ "$NGPU" -ge 2 ] || { mark "two gpus: needs 2 GPUs, found $NGPU"; return 1; }
  local start=$W/grpo  # the GRPO lane's start model if it ran here, else one of its own (not packed as grpo's)
  [ -f $start/bc/merged/config.json ] || { start=$W/two-gpus/start; grpo_start 1 $start; }
  mark "two gpus"; two_gpus $start; ended "two gpus"
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
    shift; for lane in "$@"; do
      declare -F lane_$lane >/dev/null || { echo "no lane '$lane'"; exit 2; }
      detach lane_$lane; sleep 20  # staggered: vLLM sizes its cache from the memory it sees free
    done
    cat $W/progress ;;
  lane_*) "$1" ;;
  status) cat $W/progress; nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv
    for f in $W/lane_*.log; do echo "== $f"; tail -c 1500 $f | tr '\r' '\n' | grep -v '^ *$' | tail -4; done
    [ -z "${2:-}" ] || pack "$2" ;;
  *) sed -n 2,18p "$0"; exit 2 ;;
esac
