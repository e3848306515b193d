"""A server run as a child process: start it, wait until its health URL answers, stop its whole group.

Every server runs under `agentgym/child_guard.py`, which stops it when this process dies, even by
SIGKILL, so no server (or GPU-holding vLLM) outlives the program that started it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

import httpx
import psutil

from agentgym.errors import ServerStartError

log = logging.getLogger(__name__)

GUARD = Path(__file__).with_name("child_guard.py")  # run by path: it needs nothing of this package


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file."""
    try:
        with open(path, errors="replace") as f:
            return "".join(deque(f, maxlen=lines))
    except OSError:
        return ""


class ChildServer:
    """Base of `VLLMServer` and `EnvServer`: subclasses give `command()`, `url` and `environment()`."""

    health_path = "/health"
    startup_timeout = 120.0
    label = "server"

    def __init__(self, log_path: str | os.PathLike | None = None):
        if log_path is None:
            log_path = tempfile.mkstemp(prefix=f"{self.label}-", suffix=".log")[1]
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen | None = None  # the guard, leader of the server's process group

    url: str

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self):
        """Start the process and block until it answers, or raise with its last log lines; an
        interruption while waiting (Ctrl-C) stops it before it propagates."""
        log.info("starting %s: %s (log: %s)", self.label, " ".join(self.command()), self.log_path)
        with open(self.log_path, "ab") as logfile:
            self.proc = subprocess.Popen(
                [sys.executable, str(GUARD), str(os.getpid()), "--", *self.command()],
                stdout=logfile,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                start_new_session=True,  # its own process group, so stop() reaches its workers too
            )
        try:
            return self._wait_until_ready()
        except BaseException:
            self.stop(grace=5.0)
            raise

    def _wait_until_ready(self):
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise ServerStartError(
                    f"{self.label} exited with code {code} before it was ready. "
                    f"Last lines of {self.log_path}:\n{tail(self.log_path)}"
                )
            try:
                if httpx.get(self.url + self.health_path, timeout=2.0).status_code == 200:
                    log.info("%s ready at %s", self.label, self.url)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise ServerStartError(
            f"{self.label} did not answer on {self.url}{self.health_path} within {self.startup_timeout:.0f} s. "
            f"Last lines of {self.log_path}:\n{tail(self.log_path)}"
        )

    def stop(self, grace: float = 30.0) -> None:
        """Stop the process and everything it started (SIGTERM, then SIGKILL after `grace`), and wait
        until every one of them is gone."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:  # its workers, listed now: once the parent is gone they can no longer be found
            family = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:  # workers may outlive the parent: clear the whole group, and any that left it
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for p in family:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        proc.wait()
        psutil.wait_procs(family, timeout=15)

    @property
    def pid(self) -> int | None:
        """The server's process id (the guard's child)."""
        if self.proc is None:
            return None
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return None
        return children[0].pid if children else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
