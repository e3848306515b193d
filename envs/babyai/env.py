"""`BabyAIEnv`: minigrid's BabyAI levels, observed and acted on in text; minigrid's BabyAIBot as expert."""

from __future__ import annotations

import contextlib
import io
from functools import lru_cache
from typing import Any

from agentgym.compat import AgentEnvSpec
from agentgym.env import Env, Observation, SeededTasks, StepResult
from agentgym.reworded import Rewording
from envs.babyai.text import describe, name_of

# Instruction kinds seen in training: go to, pick up, open (an unlocked door).
HELD_IN_LEVELS = ("GoToRedBallGrey", "GoToRedBall", "GoToObj", "GoToLocal", "PickupLoc", "OpenDoorColor")
# Never seen: put next to, unlock (a key to find first), sequences of instructions.
HELD_OUT_LEVELS = ("PutNextLocal", "UnlockLocal", "GoToSeqS5R2")
HELD_IN_SEEDS = range(0, 40)  # listed per held-in level (any seed below UNSEEN_SEED is held-in)
HELD_OUT_SEEDS = range(10_000, 10_035)
UNSEEN_SEED = 10_000
SEED_ATTEMPTS = 4  # a seed the bot cannot solve falls back to derived seeds, deterministically
ACTIONS = ("turn left", "turn right", "go forward", "pick up", "drop", "toggle")
ACTION_HELP = "Write one of: " + ", ".join(f"`{a}`" for a in ACTIONS) + "."


def from_agentgym(action: str) -> str:
    """AgentGym's BabyAI `move forward` as `go forward` (its turns and `toggle` are ours; its `go to <obj>`,
    `pick up <obj>` and `go through <door>` are several steps here and have no one-step counterpart)."""
    return "go forward" if " ".join(action.lower().split()) == "move forward" else action


TASKS = SeededTasks("babyai", "level", HELD_IN_LEVELS, HELD_OUT_LEVELS, HELD_IN_SEEDS, HELD_OUT_SEEDS, UNSEEN_SEED)
task_id_of, parse_task = TASKS.id, TASKS.parse


def make_level(level: str) -> Any:
    """A bare (unwrapped) minigrid BabyAI level."""
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the BabyAI-* ids)

    return gym.make(f"BabyAI-{level}-v0", disable_env_checker=True).unwrapped


def quiet_reset(env: Any, seed: int) -> dict:
    """Reset, without minigrid's 'Sampling rejected' prints."""
    with contextlib.redirect_stdout(io.StringIO()):
        obs, _ = env.reset(seed=seed)
    return obs


@lru_cache(maxsize=4096)
def solve(level: str, seed: int) -> tuple[int, tuple[str, ...]]:
    """(minigrid seed, the bot's winning actions) of a task: the first derived seed the bot wins."""
    from minigrid.utils.baby_ai_bot import BabyAIBot

    env = make_level(level)
    for attempt in range(SEED_ATTEMPTS):
        real_seed = seed + attempt * 10**7
        quiet_reset(env, real_seed)
        bot, actions = BabyAIBot(env), []
        try:
            while True:
                action = bot.replan()
                if action == env.actions.done:
                    break
                actions.append(ACTIONS[int(action)])
                _, reward, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    break
        except Exception:  # the bot's own failure on odd layouts (e.g. an opened box): try the next seed
            continue
        if terminated and reward > 0:
            return real_seed, tuple(actions)
    raise RuntimeError(f"BabyAIBot solves none of {SEED_ATTEMPTS} seeds derived from {task_id_of(level, seed)}")


class BabyAIEnv(Env):
    """BabyAI (minigrid) in text: the mission, then what is visible and where, in sentences.

    Task ids `babyai-<Level>-s<seed>`. Held-in: go-to, pick-up and open levels (GoToRedBallGrey,
    GoToRedBall, GoToObj, GoToLocal, PickupLoc, OpenDoorColor), seeds 0-39 listed. Held-out: levels and
    instruction kinds never seen (PutNextLocal, UnlockLocal, GoToSeqS5R2), and any seed from 10,000 on;
    seeds 10000-10034 listed. `seed` of `reset` is ignored: the id fixes the layout.
    """

    name = "babyai"
    instruction = (
        "You are in a grid world and must carry out the mission you are given. You see only the cells in "
        "front of you and to your sides, described in steps: `2 steps forward and 1 step left` is two cells "
        "ahead and one to the left. Walls and closed doors block the way; a locked door opens with `toggle` "
        "when you carry a key of its colour. `go forward` moves one cell; `turn left`/`turn right` turn in "
        "place; `pick up`, `drop` and `toggle` act on the cell right in front of you. You can carry one "
        "object. To go to an object, end facing it from the next cell. " + ACTION_HELP
    )
    action_format = "turn left | turn right | go forward | pick up | drop | toggle"
    max_steps = 64
    agentenv = AgentEnvSpec("babyai", index_field="data_idx", translate=from_agentgym)
    rewording = Rewording(
        actions=(("turn left", "rotate left"), ("turn right", "rotate right"), ("go forward", "move ahead"),
                 ("pick up", "grab"), ("drop", "put down"), ("toggle", "activate")),
        text=(("You see", "You notice"), ("steps forward", "steps ahead"), ("step forward", "step ahead"),
              ("Your mission", "Your goal"), ("go to", "move to"), ("next to", "beside")),
    )
    inline_step = inline_reset = True
    seeded_tasks = TASKS

    def __init__(self) -> None:
        self._levels: dict[str, Any] = {}
        self.env: Any = None
        self.mission = ""
        self.done = False
        self.steps = 0

    def max_steps_for(self, task_id: str) -> int:
        """Three times the bot's path plus 10 (BabyAI's own limits run to hundreds of steps)."""
        return 3 * len(self.expert(task_id)) + 10

    # -- episode -----------------------------------------------------------------------------
    def reset(self, task_id: str, seed: int | None = None) -> Observation:
        level, task_seed = self.parse_task(task_id)
        real_seed, _ = solve(level, task_seed)
        if level not in self._levels:
            self._levels[level] = make_level(level)
        self.env = self._levels[level]
        obs = quiet_reset(self.env, real_seed)
        self.mission, self.done, self.steps = obs["mission"], False, 0
        return self._observation(f"Your mission: {self.mission}.", obs)

    def step(self, action: str) -> StepResult:
        if self.env is None or self.done:
            return self._result("The episode is over; reset to play again.", None, valid=False, terminated=True)
        self.steps += 1
        command = " ".join(action.strip().lower().rstrip(".!").split())
        if command not in ACTIONS:
            return self._result(f"Unknown action '{action.strip()[:60]}'. {ACTION_HELP}", None, valid=False)
        env = self.env
        error = self._precondition(command)
        obs, reward, terminated, truncated, _ = env.step(ACTIONS.index(command))
        won = bool(terminated and reward > 0)
        if won:
            self.done = True
            return self._result(f"You completed the mission: {self.mission}. You win!", obs, won=True)
        if terminated:
            self.done = True
            return self._result(f"The mission failed: {self.mission}.", obs, terminated=True)
        if error:
            return self._result(error, obs, valid=False)
        return self._result(_DONE[command], obs)

    def _precondition(self, command: str) -> str | None:
        """Why `command` will change nothing in the current state (it is still a turn), or None."""
        env = self.env
        front = env.grid.get(*env.front_pos)
        thing = name_of(front.type, front.color, _door_state(front)) if front is not None else ""
        if command == "go forward" and front is not None and not front.can_overlap():
            return f"You cannot go forward: a {thing} is in the way."
        if command == "pick up":
            if env.carrying is not None:
                return f"You already carry a {env.carrying.color} {env.carrying.type}; drop it first."
            if front is None or not front.can_pickup():
                return "There is nothing you can pick up right in front of you."
        if command == "drop":
            if env.carrying is None:
                return "You carry nothing to drop."
            if front is not None:
                return f"You cannot drop here: a {thing} is in front of you."
        if command == "toggle":
            if front is None or front.type not in ("door", "box"):
                return "There is nothing to toggle right in front of you."
            if front.type == "door" and front.is_locked and not (
                    env.carrying is not None and env.carrying.type == "key" and env.carrying.color == front.color):
                return f"The {front.color} door is locked: you need to carry a {front.color} key."
        return None

    def _result(self, message: str, obs: dict | None, valid: bool = True, won: bool = False,
                terminated: bool = False) -> StepResult:
        info: dict[str, Any] = {"valid": valid, "error": None if valid else message, "won": won,
                                "score": float(won), "steps": self.steps}
        observation = self._observation(message, obs) if obs is not None and not self.done else Observation(message)
        return StepResult(observation, float(won), terminated=won or terminated, info=info)

    def _observation(self, message: str, obs: dict) -> Observation:
        lines = [message, *describe(obs["image"], self.env.carrying)]
        return Observation("\n".join(lines), available_actions=list(ACTIONS), extra={"mission": self.mission})

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """minigrid's BabyAIBot, played from the reset state until the mission succeeds."""
        return list(solve(*self.parse_task(task_id))[1])


def _door_state(obj: Any) -> int | None:
    if obj.type != "door":
        return None
    return 2 if obj.is_locked else 0 if obj.is_open else 1


_DONE = {"turn left": "You turned left.", "turn right": "You turned right.", "go forward": "You went forward.",
         "pick up": "You picked it up.", "drop": "You dropped it.", "toggle": "You toggled it."}
