"""ALFWorld's TextWorld engine (PDDL + grammar) over generated problems; planner walkthroughs cached on disk.

The planner (Fast Downward, through TextWorld's `policy_commands`) runs once per task, when its
walkthrough is first needed; the walkthrough is replayed to check that it wins and stored in
`$AGENTGYM_CACHE/alfworld/<version>/<task id>.json` with the layout seed that produced it (a layout the
planner cannot solve falls back to derived seeds, deterministically). Playing never asks the planner.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import tempfile
import threading
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path
from typing import Any

from agentgym.models import cache_dir
from envs.alfworld.problems import Goal, parse_task, problem

GENERATOR_VERSION = 1  # bump when problems.py changes what a task id generates
ATTEMPTS = 4
# TextWorld's PDDL text generator parses with one tatsu parser (global state): one thread at a time.
ALFWORLD_LOCK = threading.RLock()


@functools.cache
def _domain_and_grammar() -> tuple[str, str]:
    data = files("alfworld") / "data"
    return (data / "alfred.pddl").read_text(), (data / "alfred.twl2").read_text()


def game_data(goal: Goal, seed: int, wording: int = 0) -> dict[str, Any]:
    """The game (`*.tw-pddl` content) of a layout: ALFWorld's domain and grammar, our problem, the task text."""
    domain, grammar = _domain_and_grammar()
    return {"pddl_domain": domain, "grammar": grammar.replace("UNKNOWN GOAL", goal.description(wording)),
            "pddl_problem": problem(goal, seed)}


@functools.cache
def _speed_up_text_generation() -> None:
    """Make TextWorld's PDDL text generator 4x faster, with identical text.

    Every step it re-parses the same command templates with tatsu and deep-copies the variable
    bindings of every symbol; parse results are cached here (handed out as copies) and bindings are
    copied one level deep (they are replaced, never mutated). Checked against the original on random
    walks: the same feedback and admissible commands (tests/test_alfworld.py).
    """
    import textworld.envs.pddl.textgen as textgen

    parse = functools.lru_cache(maxsize=None)(textgen._parse_and_convert)
    textgen._parse_and_convert = lambda *a, **k: copy.deepcopy(parse(*a, **k))
    textgen.copy_context = lambda c: {
        "state": c["state"], "facts": c["facts"], "variables": dict(c["variables"]),
        "mapping": dict(c["mapping"]), "entity_infos": c["entity_infos"],
    }


def start(data: dict[str, Any], policy: bool = False, fast: bool = True) -> Any:
    """A loaded ALFWorld game (TextWorld's PddlEnv with ALFWorld's name demangler)."""
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
    from textworld.envs.pddl import PddlEnv

    if fast:
        _speed_up_text_generation()
    infos = textworld.EnvInfos(won=True, admissible_commands=True, policy_commands=policy)
    env = AlfredDemangler(PddlEnv(infos))
    with ALFWORLD_LOCK:
        env.load(data)
    return env


def _cache_file(task_id: str) -> Path:
    return cache_dir() / "alfworld" / f"g{GENERATOR_VERSION}-alfworld{version('alfworld')}" / f"{task_id}.json"


def solution(task_id: str) -> dict[str, Any]:
    """{"seed": layout seed, "walkthrough": planner commands that win}: from the cache, or planned now."""
    path = _cache_file(task_id)
    if path.is_file():
        return json.loads(path.read_text())
    goal, seed = parse_task(task_id)
    errors = []
    for attempt in range(ATTEMPTS):
        layout = seed + attempt * 10**7
        try:
            walkthrough = _plan(game_data(goal, layout))
            break
        except Exception as exc:  # Fast Downward fails on unsolvable layouts (KeyError 'val1')
            errors.append(f"layout {layout}: {type(exc).__name__}: {exc}")
    else:
        raise RuntimeError(f"could not generate {task_id}: " + "; ".join(errors))
    meta = {"task_id": task_id, "seed": layout, "walkthrough": walkthrough}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{task_id}-", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(meta, f)
    os.replace(tmp, path)  # atomic: a concurrent reader sees all of it or nothing
    return meta


def _plan(data: dict[str, Any]) -> list[str]:
    """The planner's commands for a game, checked to win when replayed."""
    with ALFWORLD_LOCK:
        game = start(data, policy=True)
        walkthrough = list(game.reset()["policy_commands"])
        game.request_infos.policy_commands = False  # replay without replanning at every step
        state = game.reset()
        for command in walkthrough:
            state, _, _ = game.step(command)
    if not state["won"]:
        raise ValueError(f"the planner's walkthrough {walkthrough} does not win")
    return walkthrough
