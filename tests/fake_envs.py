"""Test doubles of environments, to provoke server behaviour real environments rarely show."""

from __future__ import annotations

import threading
import time

from agentgym.env import Observation, StepResult
from envs.echo import EchoEnv


class CrashEnv(EchoEnv):
    """Echo, except that the action `crash` raises inside the environment."""

    name = "crash"
    inline_step = False

    def step(self, action: str) -> StepResult:
        if action == "crash":
            raise RuntimeError("simulated environment failure")
        return super().step(action)


class SlowEnv(EchoEnv):
    """Each step sleeps 50 ms in a worker thread and reports how many steps were inside at once."""

    name = "slow"
    inline_step = False
    _lock = threading.Lock()
    _inside: dict[str, int] = {}  # session task id -> steps inside now
    _inside_all = 0

    def step(self, action: str) -> StepResult:
        cls = SlowEnv
        with cls._lock:
            cls._inside[self.task_id] = cls._inside.get(self.task_id, 0) + 1
            cls._inside_all += 1
            same, everywhere = cls._inside[self.task_id], cls._inside_all
        time.sleep(0.05)
        with cls._lock:
            cls._inside[self.task_id] -= 1
            cls._inside_all -= 1
        return StepResult(Observation(text=action), info={"inside_same": same, "inside_all": everywhere})


class SlowStartEnv(EchoEnv):
    """Echo whose construction takes 0.3 s, like an env that starts a JVM: widens the create race."""

    name = "slow-start"

    def __init__(self) -> None:
        time.sleep(0.3)


class WatchCloseEnv(EchoEnv):
    """Each step takes 0.5 s in a worker thread and reports whether the env was closed while it ran."""

    name = "watch-close"
    inline_step = False

    def __init__(self) -> None:
        self.closed = False

    def step(self, action: str) -> StepResult:
        time.sleep(0.5)
        return StepResult(Observation(text=action), info={"closed_during_step": self.closed})

    def close(self) -> None:
        self.closed = True


class UnencodableEnv(EchoEnv):
    """Echo whose step info holds a value JSON cannot carry (an integer past 64 bits)."""

    name = "unencodable"

    def step(self, action: str) -> StepResult:
        return StepResult(Observation(text=action), info={"big": 2**70})


class SleepyEnv(EchoEnv):
    """Echo, except that the action `sleep` blocks its worker thread for 3 s."""

    name = "sleepy"
    inline_step = False

    def step(self, action: str) -> StepResult:
        if action == "sleep":
            time.sleep(3.0)
        return super().step(action)


class SpinningEnv(EchoEnv):
    """Echo with steps on the event loop (`inline_step`), except that the action `spin` loops forever in Python,
    swallowing every `Exception`, and the first `BaseException` too: only a watchdog that comes back can end it."""

    name = "spinning"
    inline_step = True

    def step(self, action: str) -> StepResult:
        swallowed = False
        while action == "spin":
            try:
                sum(range(1000))
            except Exception:
                pass
            except BaseException:
                if swallowed:
                    raise
                swallowed = True
        return super().step(action)


class SleepyInlineEnv(SleepyEnv):
    """SleepyEnv with its steps on the event loop where the server can guard them."""

    name = "sleepy-inline"
    inline_step = True
