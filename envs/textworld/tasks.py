"""Task ids of the TextWorld environment: their grammar, their split, and the listed tasks.

Everything here is pure string work (no I/O, no `textworld` import), so listing tasks is instant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

HELD_IN_SEEDS = 10_000  # seeds below this are "seen"; the held-out listing starts here
MAX_SEED = 10**9
COOKING_FLAGS = ("open", "cook", "cut")
COOKING_ROOMS = (1, 6, 9, 12)
SIMPLE_REWARDS = ("dense", "balanced", "sparse")
SIMPLE_GOALS = ("detailed", "brief", "none")

_ID = re.compile(r"tw-(?P<family>cooking|custom|simple|coin_collector|treasure_hunter)-(?P<opts>.+)-s(?P<seed>\d+)")
_OPTS = {
    "cooking": re.compile(r"r(?P<recipe>[1-4])-g(?P<go>\d+)(?P<flags>(?:-(?:open|cook|cut))*)"),
    "custom": re.compile(r"q(?P<quest>[1-8])-w(?P<rooms>[1-9]|10)"),
    "simple": re.compile(r"(?P<rewards>dense|balanced|sparse)-(?P<goal>detailed|brief|none)"),
    "coin_collector": re.compile(r"l(?P<level>[1-9]\d?|100)"),
    "treasure_hunter": re.compile(r"l(?P<level>[1-9]|[12]\d|30)"),
}


@dataclass(frozen=True)
class Task:
    """A parsed task id: a game family, its options and the generation seed."""

    family: str
    options: tuple[tuple[str, Any], ...]
    seed: int

    @property
    def opts(self) -> dict[str, Any]:
        return dict(self.options)

    @property
    def id(self) -> str:
        return format_id(self.family, self.opts, self.seed)

    @property
    def held_in_config(self) -> bool:
        """Whether family and options are of the training distribution (seed aside)."""
        o = self.opts
        if self.family == "cooking":
            return o["recipe"] <= 2 and o["go"] in (1, 6)
        if self.family == "custom":
            return o["quest"] <= 3 and o["rooms"] <= 4
        return False

    @property
    def split(self) -> str:
        return "held_in" if self.held_in_config and self.seed < HELD_IN_SEEDS else "held_out"


def format_id(family: str, opts: dict[str, Any], seed: int) -> str:
    """The canonical id of a game (the inverse of `parse`)."""
    if family == "cooking":
        flags = "".join(f"-{f}" for f in COOKING_FLAGS if opts.get(f))
        body = f"r{opts['recipe']}-g{opts['go']}{flags}"
    elif family == "custom":
        body = f"q{opts['quest']}-w{opts['rooms']}"
    elif family == "simple":
        body = f"{opts['rewards']}-{opts['goal']}"
    else:
        body = f"l{opts['level']}"
    return f"tw-{family}-{body}-s{seed}"


def parse(task_id: str) -> Task:
    """Parse a canonical task id; raise KeyError for anything else (unknown family, bad option)."""
    m = _ID.fullmatch(task_id)
    o = m and _OPTS[m["family"]].fullmatch(m["opts"])
    if not m or not o:
        raise KeyError(task_id)
    opts: dict[str, Any] = {k: int(v) if v.isdigit() else v for k, v in o.groupdict().items() if k != "flags"}
    if m["family"] == "cooking":
        flags = (o["flags"] or "").split("-")[1:]
        opts.update({f: f in flags for f in COOKING_FLAGS})
        if opts["go"] not in COOKING_ROOMS:
            raise KeyError(task_id)
    task = Task(m["family"], tuple(sorted(opts.items())), int(m["seed"]))
    if task.seed >= MAX_SEED or task.id != task_id:  # one game, one id: no "s007", no reordered flags
        raise KeyError(task_id)
    return task


def split_of(task_id: str) -> str:
    """`held_in` or `held_out`, a pure function of the id (KeyError for an unknown id)."""
    return parse(task_id).split


# (family, options) of the listed tasks; `tasks()` adds the seeds.
HELD_IN_CONFIGS = [
    ("cooking", {"recipe": 1, "go": 1}),
    ("cooking", {"recipe": 2, "go": 1}),
    ("custom", {"quest": 2, "rooms": 3}),
    ("custom", {"quest": 3, "rooms": 4}),
]
HELD_OUT_CONFIGS = [
    ("cooking", {"recipe": 3, "go": 6, "open": True}),
    ("custom", {"quest": 5, "rooms": 6}),
    ("simple", {"rewards": "dense", "goal": "detailed"}),
    ("coin_collector", {"level": 5}),
    ("treasure_hunter", {"level": 8}),
]
PER_CONFIG = {"held_in": 25, "held_out": 8}


def tasks(split: str) -> list[str]:
    """Stable task ids of a split: 4 x 25 held-in, 5 x 8 held-out (seeds from `HELD_IN_SEEDS`)."""
    if split == "held_in":
        configs, first = HELD_IN_CONFIGS, 0
    elif split == "held_out":
        configs, first = HELD_OUT_CONFIGS, HELD_IN_SEEDS
    else:
        raise KeyError(split)
    return [
        format_id(family, opts, seed)
        for family, opts in configs
        for seed in range(first, first + PER_CONFIG[split])
    ]
