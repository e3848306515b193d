"""`TextWorldEnv`: TextWorld games behind the AgentGym `Env` interface."""

from __future__ import annotations

import re
from typing import Any

from agentgym.env import Env, Observation, StepResult
from agentgym.errors import UnknownTask
from agentgym.reworded import Rewording
from envs.textworld import games, tasks
from envs.textworld.games import normalize

# Lines of the ASCII-art "TEXTWORLD" banner, the status line after the prompt, the restart question.
_BANNER = re.compile(r"^[ _$|\\/<>]*[_$|\\/][ _$|\\/<>]*$", re.M)
_PROMPT = re.compile(r"^>.*$", re.M)
_RESTART = re.compile(r"^Would you like to RESTART.*$", re.M)
_BLANKS = re.compile(r"\n\s*\n(\s*\n)+")


def clean(feedback: str) -> str:
    """The game's text without the banner, the prompt/status line and the restart question."""
    text = _RESTART.sub("", _PROMPT.sub("", _BANNER.sub("", feedback)))
    text = "\n".join(line.strip() for line in text.splitlines())
    return _BLANKS.sub("\n\n", text).strip()


class TextWorldEnv(Env):
    """Text adventures generated with TextWorld (cooking, custom quests, simple, coin collector,
    treasure hunter). Task ids and splits: see `envs.textworld`. One game engine per instance.
    """

    name = "textworld"
    version = "0.1"
    instruction = (
        "You are playing a text adventure game. Each turn you read what happens and type one short "
        "command in the imperative, such as 'go north', 'take apple', 'open fridge', 'take red onion "
        "from fridge', 'put milk on stove', 'unlock door with key' or 'examine cookbook'. The first "
        "observation states your objective: complete it. 'look' describes the room and 'inventory' "
        "lists what you carry. In cooking games, read the cookbook, gather and prepare the "
        "ingredients it lists, then 'prepare meal' and 'eat meal'. Each turn lists the commands the "
        "game accepts now; a command it cannot perform is rejected with the game's message. Your "
        "score rises as you make progress."
    )
    action_format = "one short imperative command in lowercase, e.g. 'take apple' (best: one of the available actions)"
    max_steps = 50
    # A step costs about 3 ms of Python: on the event loop it saves the thread hop that cost a quarter of that
    # (bench/bench_protocol.py); the server's watchdog still ends a step that overruns the call timeout. Resets
    # stay in the pool: a new game's load takes longer, reads files and parses with a process-wide parser.
    inline_step = True
    # Reworded held-out variants: other verbs (`take` is `pick up`, ...) and a few of the game's phrases.
    rewording = Rewording(
        actions=(("go", "walk"), ("take", "pick up"), ("put", "place"), ("insert", "slide"), ("drop", "discard"),
                 ("examine", "inspect"), ("eat", "consume")),
        text=(("take a trip", "make a trip"), ("objective", "goal"), ("You are carrying", "You hold"),
              ("Your score has just gone up by one point", "You gain a point")),
    )

    def __init__(self, unlisted_games: int = 0) -> None:
        # Games of unlisted ids this server may generate (each costs seconds and stays on disk): none
        # by default, `agentgym serve textworld --env-option unlisted_games=N` to allow N in the cache.
        self.unlisted_games = int(unlisted_games)
        self._tw: Any = None  # the textworld environment (one engine, reused across resets)
        self._path: str | None = None
        self._meta: dict[str, Any] = {}
        self._admissible: set[str] = set()
        self._score = 0.0

    def tasks(self, split: str) -> list[str]:
        return tasks.tasks(split)

    def split_of(self, task_id: str) -> str:
        return tasks.split_of(task_id)

    def reset(self, task_id: str, seed: int | None = None) -> Observation:
        """Start `task_id` (generated on first use). `seed` is ignored: the id fixes the game."""
        import textworld

        meta = self._load_meta(task_id)
        if meta["path"] != self._path:
            self.close()
            infos = textworld.EnvInfos(
                objective=True, admissible_commands=True, score=True, max_score=True,
                won=True, lost=True, moves=True,
            )
            with games.TEXTWORLD_LOCK:
                self._tw = textworld.start(meta["path"], infos)
            self._path = meta["path"]
        self._meta = meta
        with games.TEXTWORLD_LOCK:
            state = self._tw.reset()
        self._score = float(state["score"] or 0)
        return self._observation(state)

    def step(self, action: str) -> StepResult:
        if self._tw is None:
            raise RuntimeError("step() before reset(): reset a task first")
        command = normalize(action)
        valid = command in self._admissible  # judged against the commands admissible before the step
        with games.TEXTWORLD_LOCK:
            state, score, done = self._tw.step(command)
        obs = self._observation(state)
        score = float(score or 0)
        reward, self._score = score - self._score, score
        won, lost = bool(state["won"]), bool(state["lost"])
        return self.result(
            obs, None if valid else (obs.text or "That command is not possible here."), won=won, score=score,
            reward=reward, terminated=bool(done or lost), lost=lost, max_score=float(state["max_score"]),
            moves=state["moves"],
        )

    def _observation(self, state: Any) -> Observation:
        admissible = sorted(state["admissible_commands"] or [])
        self._admissible = {normalize(a) for a in admissible}
        extra = {
            "objective": state["objective"] or self._meta.get("objective", ""),
            "score": float(state["score"] or 0), "max_score": float(state["max_score"]),
            "moves": state["moves"],
        }
        return Observation(text=clean(state.feedback), available_actions=admissible, extra=extra)

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """The game's walkthrough, which wins from the reset state."""
        return list(self._load_meta(task_id)["walkthrough"])

    def _load_meta(self, task_id: str) -> dict[str, Any]:
        """The game's metadata; a game of an unlisted id is generated only within the server's budget."""
        self.check_task(task_id)  # a malformed id is an unknown task
        listed = task_id in tasks.tasks(tasks.split_of(task_id))
        if not listed and not (games.game_dir(task_id) / "meta.json").is_file():
            if games.unlisted_cached() >= self.unlisted_games:
                raise UnknownTask(
                    f"task '{task_id}' is not listed and its game is not cached: this server plays listed tasks "
                    f"(GET /tasks) and at most {self.unlisted_games} unlisted games; start it with "
                    "--env-option unlisted_games=N to allow more"
                )
        return games.load_meta(task_id)

    def close(self) -> None:
        if self._tw is not None:
            self._tw.close()
        self._tw, self._path = None, None
