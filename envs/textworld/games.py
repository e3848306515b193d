"""Generate TextWorld games on demand, reproducibly, and cache them on disk.

A game lives in `<cache>/textworld/tw<version>/<task id>/` (`game.z8`, `game.json`, `meta.json`).
It is generated into a temporary sibling folder and renamed into place, under a per-game file lock,
so two processes (or threads) asking for the same game at once generate it once and never see half
of it. `meta.json` keeps what the expert and the env need without parsing the game again.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import multiprocessing
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from agentgym.models import cache_dir
from envs.textworld.tasks import Task, parse

ATTEMPTS = 4  # a seed whose quest cannot be generated falls back to derived seeds, deterministically
# textworld keeps global state in its generator and in its logic parser (tatsu), which game loading
# uses: concurrent sessions corrupted it ("IndexError: pop from empty list"). One thread at a time.
TEXTWORLD_LOCK = threading.RLock()


@functools.cache
def _textworld_version() -> str:
    from importlib.metadata import version

    return version("textworld")


def games_root() -> Path:
    """`$AGENTGYM_CACHE/textworld/tw<textworld version>` (default ~/.cache/agentgym/...)."""
    return cache_dir() / "textworld" / f"tw{_textworld_version()}"


def game_dir(task_id: str) -> Path:
    return games_root() / task_id


def load_meta(task_id: str) -> dict[str, Any]:
    """Generate the game if needed; return its metadata (paths, walkthrough, objective, max_score)."""
    folder = ensure_game(task_id)
    meta = json.loads((folder / "meta.json").read_text())
    meta["path"] = str(folder / "game.z8")
    return meta


def ensure_game(task_id: str) -> Path:
    """The cached folder of a game, generating it first if absent (safe across processes)."""
    task = parse(task_id)
    folder = game_dir(task.id)
    if (folder / "meta.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{task.id}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # whoever holds it generates; the others wait, then reuse
        if (folder / "meta.json").is_file():
            return folder
        for stale in folder.parent.glob(f".{task.id}-*"):  # left by a killed generator (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{task.id}-", dir=folder.parent))
        try:
            tmp.chmod(0o755)
            _generate_in_child(task, tmp)
            os.rename(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


_generator: ProcessPoolExecutor | None = None
_generator_lock = threading.Lock()


def _generate_in_child(task: Task, out: Path) -> None:
    """`_generate` in a worker process of this one: textworld's generator needs its global state to itself,
    and in this process that would mean holding `TEXTWORLD_LOCK`, which every step of every session needs.
    The worker lives on, so textworld is imported and its knowledge bases parsed once."""
    global _generator
    with _generator_lock:
        if _generator is None:
            _generator = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        generator = _generator
    try:
        generator.submit(_generate, task, out).result()
    except BrokenProcessPool as exc:  # the worker died (killed, out of memory): the next call starts another
        with _generator_lock:
            if _generator is generator:
                _generator = None
        raise RuntimeError(f"the TextWorld generator process died while generating {task.id}") from exc


def unlisted_cached() -> int:
    """How many games of unlisted tasks the cache holds."""
    from envs.textworld.tasks import tasks

    root = games_root()
    if not root.is_dir():
        return 0
    listed = set(tasks("held_in")) | set(tasks("held_out"))
    return sum(1 for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name not in listed)


def _settings(task: Task) -> dict[str, Any]:
    """The settings a textworld challenge's `make` expects."""
    o = task.opts
    if task.family == "cooking":
        return {
            "recipe": o["recipe"], "take": o["recipe"], "go": o["go"], "open": o["open"], "cook": o["cook"],
            "cut": o["cut"], "drop": False, "recipe_seed": 0,
            # the food itself is a generalisation axis: unseen ingredients in held-out games
            "split": "train" if task.split == "held_in" else "test",
        }
    if task.family == "simple":
        return {"rewards": o["rewards"], "goal": o["goal"], "test": True}
    return {"level": o["level"]}


_kb_cache: dict[tuple, Any] = {}


@contextlib.contextmanager
def _memoized_knowledge_bases() -> Iterator[None]:
    """Parse each challenge's knowledge base once per process, not once per game (~1.1 s each)."""
    from textworld.generator.data import KnowledgeBase

    original = KnowledgeBase.__dict__["load"]

    def load(cls: type, target_dir: str | None = None, logic_path: str | None = None,
             grammar_path: str | None = None) -> Any:
        key = (target_dir, logic_path, grammar_path)
        if key not in _kb_cache:
            _kb_cache[key] = original.__func__(cls, target_dir, logic_path, grammar_path)
        return _kb_cache[key]

    KnowledgeBase.load = classmethod(load)
    try:
        yield
    finally:
        KnowledgeBase.load = original


def _make(task: Task, seed: int) -> tuple[Any, Any]:
    import textworld
    import textworld.challenges
    from textworld.generator import make_game

    options = textworld.GameOptions()
    options.seeds = seed
    if task.family == "custom":
        o = task.opts
        options.nb_rooms, options.nb_objects = o["rooms"], o["rooms"] + 4
        c = options.chaining
        c.min_length = c.max_length = c.max_depth = o["quest"]
        c.min_breadth = c.max_breadth = 1
        return make_game(options), options
    _, make, _ = textworld.challenges.CHALLENGES[f"tw-{task.family}"]
    with _memoized_knowledge_bases():
        return make(settings=_settings(task), options=options), options


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize(command: str) -> str:
    """Lowercase, single spaces, no trailing full stop: how commands are compared (and sent to the game).
    Control characters become spaces: a NUL in a command crashes the game's interpreter (the whole server)."""
    return " ".join(_CONTROL.sub(" ", command).lower().split()).rstrip(".!").strip()


def _winning_walkthrough(game_file: str, walkthrough: list[str]) -> list[str]:
    """The walkthrough without its no-op steps (e.g. opening an open door), checked to win."""
    import textworld

    env = textworld.start(game_file, textworld.EnvInfos(admissible_commands=True, won=True))
    try:
        for skip_inadmissible in (True, False):
            state, kept = env.reset(), []
            for command in walkthrough:
                if skip_inadmissible and normalize(command) not in map(normalize, state["admissible_commands"]):
                    continue
                kept.append(command)
                state, _, done = env.step(command)
                if done:
                    break
            if state["won"]:
                return kept
    finally:
        env.close()
    raise ValueError(f"the walkthrough {walkthrough} does not win")


def _generate(task: Task, out: Path) -> None:
    """Make and compile the game of `task` into the folder `out`; check that its walkthrough wins."""
    from textworld.generator import QuestGenerationError, compile_game

    start = time.perf_counter()
    errors = []
    for attempt in range(ATTEMPTS):
        seed = task.seed + attempt * 10**9
        try:
            game, options = _make(task, seed)
            options.path = str(out / "game.z8")
            options.force_recompile = True
            game_file = compile_game(game, options)
            walkthrough = list(game.metadata.get("walkthrough") or game.main_quest.commands)
            expert = _winning_walkthrough(game_file, walkthrough)
            break
        except (QuestGenerationError, ValueError, AssertionError) as exc:
            errors.append(f"seed {seed}: {type(exc).__name__}: {exc}")
    else:
        raise RuntimeError(f"could not generate {task.id}: " + "; ".join(errors))
    (out / "game.ni").unlink(missing_ok=True)  # the Inform 7 source, not needed to play
    meta = {
        "task_id": task.id,
        "generation_seed": seed,
        "walkthrough": expert,
        "raw_walkthrough": walkthrough,
        "objective": game.objective,
        "max_score": game.max_score,
        "seconds": round(time.perf_counter() - start, 3),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
