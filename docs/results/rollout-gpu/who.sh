# As run on the device (bash who.sh REPO): one round at 1,024 episodes, every process's CPU sampled over 10 s
# in the middle of collection, and the GPU's utilization.
cd "$1"
source <(sed -n '/^start_vllm()/,/^}/p;/^stop_vllm()/,/^}/p' bench/gpu_run.sh)
export PYTHONPATH=/tmp/site:. VLLM_USE_FLASHINFER_SAMPLER=0 AGENTGYM_CACHE=/tmp/agentgym
out=/tmp/gout
start_vllm 8015 || exit 1
python3 -m bench.bench_rollout --llm-url http://127.0.0.1:8015 --concurrency 1024 --tokens 64 --steps 4 --replay-procs 4 > $out/who.txt 2>&1 &
B=$!
python3 - >> $out/who-cpu.txt <<'PY'
import psutil, time
time.sleep(25)
procs = {p.pid: p for p in psutil.process_iter(["name", "cmdline"])}
for p in procs.values():
    try: p.cpu_percent(None)
    except Exception: pass
time.sleep(10)
rows = []
for p in procs.values():
    try: rows.append((p.cpu_percent(None), p.pid, p.name(), " ".join(p.cmdline())[:90]))
    except Exception: pass
import subprocess
gpu = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
print("GPU utilization:", gpu)
for r in sorted(rows, reverse=True)[:12]: print(f"{r[0]:6.1f}% {r[1]} {r[2]} {r[3]}")
PY
wait $B; stop_vllm; echo finished >> $out/who.txt
