# As run on the device (bash rounds.sh REPO), after bench/gpu_run.sh rollout: 3 more rounds at 256, 2 at 512, 2 at 1,024.
cd "$1"
source <(sed -n '/^start_vllm()/,/^}/p;/^stop_vllm()/,/^}/p' bench/gpu_run.sh)
export PYTHONPATH=/tmp/site:. VLLM_USE_FLASHINFER_SAMPLER=0 AGENTGYM_CACHE=/tmp/agentgym
out=/tmp/gout
start_vllm 8014 && python3 -m bench.bench_rollout --llm-url http://127.0.0.1:8014 --concurrency 256 256 256 512 512 1024 1024 --tokens 64 --steps 4 --replay-procs 4 --json $out/rollout-rounds.json > $out/rollout-rounds.txt 2>&1
stop_vllm; echo finished >> $out/rollout-rounds.txt
