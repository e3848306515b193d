"""A pool of idle simulators, shared by the sessions of one process (on by default, bounded, with a TTL).

Starting a JVM costs ~1.5-2.5 s, and a fresh JVM runs its first few hundred steps several times slower
while its JIT compiles the simulator (with 16 fresh JVMs on 2 cores, compiling takes most of the CPU
for about two minutes). A client that opens one session per episode, as the runner does, would pay both
every episode: 10.5 steps/s for 4 such clients on 2 cores, against 87 with warm JVMs
(bench/bench_sciworld.py --episode-steps 30). So a closed session's JVM waits for the next session instead
of exiting: at most `AGENTGYM_SCIWORLD_POOL` of them (default 8, about 300 MB each; 0 turns the pool off),
each at most `AGENTGYM_SCIWORLD_POOL_TTL` s (default 120), after which it is closed. Every episode still
starts from `load()`, which rebuilds the whole simulated world. Idle JVMs also end with this process (py4j's
--die-on-broken-pipe).
"""

from __future__ import annotations

import os
import threading
import time

from envs.sciworld.simulator import Simulator

POOL_ENV, TTL_ENV = "AGENTGYM_SCIWORLD_POOL", "AGENTGYM_SCIWORLD_POOL_TTL"


class SimulatorPool:
    """Up to `size` idle simulators, each closed after `ttl` s unused."""

    def __init__(self, size: int = 0, ttl: float = 120.0) -> None:
        self.size, self.ttl = size, ttl
        self._idle: list[tuple[float, Simulator]] = []
        self._lock = threading.Lock()
        self._reaper: threading.Thread | None = None

    def take(self, java_opts: list[str]) -> Simulator:
        """An idle simulator started with `java_opts`, else a new one."""
        with self._lock:
            for i, (_, sim) in enumerate(self._idle):
                if sim.java_opts == java_opts and sim.alive:
                    del self._idle[i]
                    return sim
        return Simulator(java_opts)

    def give(self, sim: Simulator) -> None:
        """Keep `sim` for a later `take`, or close it when the pool is full (or disabled)."""
        if sim.alive:
            with self._lock:
                if len(self._idle) < self.size:
                    self._idle.append((time.monotonic(), sim))
                    if self._reaper is None:
                        self._reaper = threading.Thread(target=self._run, name="sciworld-pool", daemon=True)
                        self._reaper.start()
                    return
        sim.close()

    def reap(self, everything: bool = False) -> int:
        """Close the simulators idle longer than the TTL (or all of them); how many were closed."""
        now = time.monotonic()
        with self._lock:
            gone = [s for t, s in self._idle if everything or now - t > self.ttl or not s.alive]
            self._idle = [(t, s) for t, s in self._idle if all(s is not g for g in gone)]
        for sim in gone:
            sim.close()
        return len(gone)

    @property
    def idle(self) -> int:
        return len(self._idle)

    def _run(self) -> None:
        while True:
            time.sleep(max(0.5, min(self.ttl / 4, 15.0)))
            self.reap()


DEFAULT_SIZE, DEFAULT_TTL = 8, 120.0
POOL = SimulatorPool(int(os.environ.get(POOL_ENV) or DEFAULT_SIZE), float(os.environ.get(TTL_ENV) or DEFAULT_TTL))
