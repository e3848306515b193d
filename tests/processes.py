"""Counting processes, for the tests and benches that check nothing is left running (JVMs, children)."""

from __future__ import annotations

import time

import psutil


def live_processes(pid: int | None = None, name: str | None = None) -> set[int]:
    """Live (not zombie) processes started, directly or not, by `pid` (with None: every process on the
    machine), only those called `name` when given (e.g. "java": ScienceWorld's JVMs)."""
    procs = psutil.Process(pid).children(recursive=True) if pid else psutil.process_iter()
    out = set()
    for p in procs:
        try:
            if (name is None or p.name() == name) and p.status() != psutil.STATUS_ZOMBIE:
                out.add(p.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def still_alive(pids: list[int], timeout: float = 15.0) -> list[int]:
    """Those of `pids` still running (zombies count as gone) after waiting up to `timeout` seconds for them."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    left.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)
