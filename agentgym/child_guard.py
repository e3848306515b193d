"""Run a command and take its whole process group down when the parent that asked for it dies.

`python -m agentgym.child_guard PARENT_PID -- CMD ...` is how `ChildServer` starts servers. The guard
leads the group the command runs in; it learns of the parent's death at once through Linux's
`PR_SET_PDEATHSIG`, and by polling its parent id as a fallback (other systems, or a parent thread
that exits before its process does). It then stops the group: SIGTERM, then SIGKILL after a grace.
Otherwise it waits for the command and exits with its status.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

import psutil

PR_SET_PDEATHSIG = 1
POLL_S = 0.2
GRACE_S = 5.0


def set_parent_death_signal(sig: int) -> bool:
    """Ask Linux to send `sig` to this process when its parent thread exits; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def stop_group(child: subprocess.Popen, grace: float = GRACE_S) -> None:
    """SIGTERM the guard's group and every descendant, SIGKILL what is left after `grace`."""
    try:
        family = psutil.Process().children(recursive=True)
    except psutil.Error:
        family = []
    os.killpg(os.getpgrp(), signal.SIGTERM)  # the guard's own handler ignores it
    for p in family:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(family, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=grace)
    os.killpg(os.getpgrp(), signal.SIGKILL)  # anything of the group still here, the guard included


def main(argv: list[str]) -> int:
    parent, command = int(argv[0]), argv[2:]
    parent_gone = False

    def on_parent_death(signum: int, frame: object) -> None:
        nonlocal parent_gone
        parent_gone = os.getppid() != parent  # the signal also comes when only the parent *thread* exits

    # Handlers, not SIG_IGN: handlers are reset in the command, an ignored signal would stay ignored.
    signal.signal(signal.SIGTERM, lambda *_: None)  # a stop() of the group: the command answers it
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGUSR1, on_parent_death)
    set_parent_death_signal(signal.SIGUSR1)
    if os.getppid() != parent:  # died before the death signal was armed
        return 1
    child = subprocess.Popen(command)
    while True:
        try:
            code = child.wait(timeout=POLL_S)
            return code if code >= 0 else 128 - code
        except subprocess.TimeoutExpired:
            pass
        if parent_gone or os.getppid() != parent:
            stop_group(child)
            return 1


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: python -m agentgym.child_guard PARENT_PID -- COMMAND ...")
    sys.exit(main(sys.argv[1:]))
