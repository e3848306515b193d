"""`ALFWorldEnv`: household tasks in ALFWorld's text engine, over generated households."""

from __future__ import annotations

from typing import Any

from agentgym.compat import AgentEnvSpec
from agentgym.env import Env, Observation, StepResult
from agentgym.errors import UnknownTask
from agentgym.reworded import Rewording
from envs.alfworld import engine, problems
from envs.textworld.games import normalize  # the same engine: commands compared and cleaned alike

WELCOME = "-= Welcome to TextWorld, ALFRED! =-"


def from_agentgym(action: str) -> str:
    """AgentGym's ALFWorld `put <object> in/on <receptacle>` as this engine's `move <object> to <receptacle>`."""
    command = normalize(action)
    obj, sep, receptacle = command.removeprefix("put ").partition(" in/on ")
    return f"move {obj} to {receptacle}" if command.startswith("put ") and sep else action


class ALFWorldEnv(Env):
    """ALFWorld's six task types (pick and place, clean, heat, cool, examine in light, pick two) in
    households generated from the task id, played by the `alfworld` package's TextWorld engine.

    Task ids and splits: `envs.alfworld.problems`. Held-in: 240 tasks (40 per type) of seen goals in
    layouts 0-39. Held-out: 120 tasks (20 per type) of unseen goals (object/receptacle combinations never
    in held-in) in unseen rooms (layouts from 10,000 on). The expert is the planner's walkthrough.
    """

    name = "alfworld"
    instruction = (
        "You are in a household and must complete the task stated after 'Your task is to:'. Commands: "
        "'go to <receptacle>', 'open <receptacle>', 'close <receptacle>', 'take <object> from <receptacle>', "
        "'move <object> to <receptacle>', 'heat <object> with microwave 1', 'cool <object> with fridge 1', "
        "'clean <object> with sinkbasin 1', 'use <lamp>', 'examine <something>', 'look', 'inventory'. Name "
        "things with their numbers as the game does (e.g. 'take apple 1 from countertop 2'). You carry one "
        "object at a time. Each turn lists the commands the game accepts now."
    )
    action_format = "one command, e.g. 'go to countertop 1' (best: one of the available actions)"
    max_steps = 50
    agentenv = AgentEnvSpec("alfworld", index_field="game", translate=from_agentgym,
                            extras={"available_actions": lambda obs: obs.available_actions if obs else []})
    # AgentRefine's rewording of ALFWorld's commands; the task sentence takes ALFWorld's other template
    rewording = Rewording(
        actions=(("go to", "move to"), ("take", "pick up"), ("move", "put"), ("heat", "warm"), ("cool", "chill"),
                 ("clean", "wash"), ("use", "turn on"), ("examine", "inspect"), ("inventory", "check inventory")),
        text=(("arrive at", "reach"), ("Looking quickly around you", "Glancing around")),
    )

    def __init__(self) -> None:
        self._game: Any = None
        self._loaded: tuple[str, int] | None = None  # (task id, wording) of the loaded game
        self._admissible: set[str] = set()
        self.done = False

    # -- tasks -------------------------------------------------------------------------------
    def tasks(self, split: str) -> list[str]:
        return list(problems.listed(split))

    def split_of(self, task_id: str) -> str:
        return problems.split_of_id(task_id)

    def _check(self, task_id: str) -> None:
        try:
            problems.parse_task(task_id)
        except KeyError:
            raise UnknownTask(
                f"unknown alfworld task '{task_id}': ids are alfworld-<kind>-<object>-<receptacle>-s<seed> "
                f"with kind in {', '.join(problems.KINDS)} (e.g. {problems.listed('held_in')[0]})"
            ) from None

    # -- episode -----------------------------------------------------------------------------
    def reset(self, task_id: str, seed: int | None = None) -> Observation:
        """Start `task_id` (planned on first use). `seed` is ignored: the id fixes the household."""
        self._check(task_id)
        wording = 1 if getattr(self, "reworded", False) else 0  # set by the reworded split's wrapper
        if self._loaded != (task_id, wording):
            goal, _ = problems.parse_task(task_id)
            layout = engine.solution(task_id)["seed"]
            self._game = engine.start(engine.game_data(goal, layout, wording))
            self._loaded = (task_id, wording)
        with engine.ALFWORLD_LOCK:
            state = self._game.reset()
        self.done = False
        return self._observation(state)

    def step(self, action: str) -> StepResult:
        if self._game is None or self.done:
            return StepResult(Observation("The episode is over; reset to play again."), terminated=True,
                              info={"valid": False, "error": "The episode is over; reset to play again."})
        command = normalize(action)
        valid = command in self._admissible
        with engine.ALFWORLD_LOCK:
            state, _, _ = self._game.step(command)
        obs = self._observation(state)
        won = bool(state["won"])
        self.done = won
        error = None if valid else f"Nothing happens: '{command[:60]}' is not a command you can do now."
        info = {"valid": valid, "error": error, "won": won, "score": float(won)}
        return StepResult(obs, reward=float(won), terminated=won, info=info)

    def _observation(self, state: Any) -> Observation:
        admissible = [c for c in state["admissible_commands"] if c != "help"]
        self._admissible = {normalize(c) for c in admissible}
        text = state.feedback.replace(WELCOME, "").strip()
        return Observation(text=text, available_actions=admissible)

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """The planner's walkthrough (Fast Downward via TextWorld), checked to win when it was made."""
        self._check(task_id)
        return list(engine.solution(task_id)["walkthrough"])

    def close(self) -> None:
        self._game, self._loaded = None, None
