"""Small network helpers shared by servers, tests and benchmarks."""

from __future__ import annotations

import resource
import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def raise_open_file_limit() -> None:
    """Lift this process's soft limit on open files to its hard limit (often 1,024 against 500,000+): a runner
    with N episodes in flight holds about 2N sockets (LLM and env)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
