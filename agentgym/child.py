"""A server run as a child process: start it, wait until its health URL answers, stop its whole group."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import time
from collections import deque
from pathlib import Path

import httpx
import psutil

from agentgym.errors import ServerStartError

log = logging.getLogger(__name__)


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
        self.proc: subprocess.Popen | None = None

    url: str

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self):
        """Start the process and block until it answers, or raise with its last log lines."""
        log.info("starting %s: %s (log: %s)", self.label, " ".join(self.command()), self.log_path)
        with open(self.log_path, "ab") as logfile:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=logfile,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                start_new_session=True,  # its own process group, so stop() reaches its workers too
            )
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
        return self.proc.pid if self.proc else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
