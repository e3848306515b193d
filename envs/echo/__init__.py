"""A trivial environment that echoes actions: it measures the framework's own overhead."""

from __future__ import annotations

from agentgym.env import Env, Observation, StepResult


class EchoEnv(Env):
    """Say things (an empty action is invalid); `finish` wins. Held-in tasks echo-0..echo-99, held-out
    echo-100..echo-119."""

    name = "echo"
    instruction = "Repeat after the observation, then act `finish` to end the episode."
    action_format = "any non-empty text; `finish` ends the episode"
    max_steps = 1000
    inline_step = inline_reset = True

    def tasks(self, split: str) -> list[str]:
        ranges = {"held_in": range(100), "held_out": range(100, 120)}
        return [f"echo-{i}" for i in ranges[split]]

    def split_of(self, task_id: str) -> str:
        prefix, _, num = task_id.partition("-")
        if prefix != "echo" or not num.isdigit() or int(num) >= 120:
            raise KeyError(task_id)
        return "held_in" if int(num) < 100 else "held_out"

    def reset(self, task_id: str, seed: int | None = None) -> Observation:
        self.check_task(task_id)
        self.task_id = task_id
        return Observation(text=f"echo task {task_id}", available_actions=["finish"])

    def step(self, action: str) -> StepResult:
        if not action.strip():
            return self.result(Observation(text=""), "Nothing to echo: say something, or `finish`.")
        return self.result(Observation(text=action), won=action.strip() == "finish")

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        self.check_task(task_id)
        return ["finish"]


ENV = EchoEnv
