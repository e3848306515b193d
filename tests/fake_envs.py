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
