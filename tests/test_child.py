"""Child servers die with the program that started them: SIGKILL of the parent, Ctrl-C during start-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.processes import still_alive

ROOT = Path(__file__).parent.parent


def parent_process(body: str) -> subprocess.Popen:
    """A Python program that runs `body` and prints lines the test reads."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(body)], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)


def test_sigkill_of_the_parent_takes_its_server_and_workers_down():
    # The server here has a worker of its own (as vLLM has), started through a plain ChildServer.
    parent = parent_process("""
        import sys, time
        from agentgym.child import ChildServer
        from agentgym.netutil import free_port

        class Family(ChildServer):
            label = "family"
            def __init__(self):
                super().__init__()
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
            def command(self):
                code = ("import subprocess, sys, http.server; "
                        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
                        "http.server.test(http.server.SimpleHTTPRequestHandler, port=%d, bind='127.0.0.1')")
                return [sys.executable, "-c", code % self.port]

        server = Family()
        server.health_path = "/"
        server.start()
        print(server.url, flush=True)
        time.sleep(600)
    """)
    try:
        url = parent.stdout.readline().strip()
        assert httpx.get(url).status_code == 200
        family = [p.pid for p in psutil.Process(parent.pid).children(recursive=True)]
        assert len(family) == 3  # the guard, the server, its worker
        parent.kill()
        parent.wait()
        assert still_alive(family) == []
    finally:
        parent.kill()


def test_env_server_started_in_a_thread_outlives_the_thread_but_not_the_process():
    parent = parent_process("""
        import threading, time
        from agentgym.env_server import EnvServer

        servers = []
        thread = threading.Thread(target=lambda: servers.append(EnvServer("echo").start()))
        thread.start()
        thread.join()
        time.sleep(1.0)  # the thread that spawned it is gone: the server must still run
        print(servers[0].url, servers[0].pid, flush=True)
        time.sleep(600)
    """)
    try:
        url, pid = parent.stdout.readline().split()
        assert httpx.get(url + "/health").json()["status"] == "healthy"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert still_alive([int(pid)]) == []
    finally:
        parent.kill()


def test_ctrl_c_during_start_up_stops_the_server():
    parent = parent_process("""
        import signal, sys
        from agentgym.child import ChildServer

        # Ctrl-C in a terminal reaches a program whose SIGINT is Python's default; a suite run in the
        # background of a non-interactive shell hands SIGINT down ignored, and then no KeyboardInterrupt
        # would ever come (the parent waited out its start-up timeout and exited without a word).
        signal.signal(signal.SIGINT, signal.default_int_handler)

        class NeverReady(ChildServer):
            url = "http://127.0.0.1:9"
            def command(self):
                return [sys.executable, "-c", "import time; time.sleep(600)"]

        server = NeverReady()
        try:
            server.start()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """)
    try:
        for _ in range(300):  # a hang guard (up to 30 s for the child to appear), not a speed check
            if len(family := psutil.Process(parent.pid).children(recursive=True)) >= 2:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the child never started")
        pids = [p.pid for p in family]
        parent.send_signal(signal.SIGINT)
        assert parent.stdout.readline().strip() == "interrupted"
        assert still_alive(pids) == []
    finally:
        parent.kill()
