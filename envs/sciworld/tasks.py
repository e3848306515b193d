"""ScienceWorld task ids and the held-in / held-out split, computed from a shipped JSON (no JVM).

A task is one variation of one of ScienceWorld's 30 task types: `sciworld-<task-type>-v<variation>`,
e.g. `sciworld-boil-v3`. Variations come from the package's own train/dev/test split
(`getVariationsTrain/Dev/Test`), read once from the simulator into `variations.json`
(`python -m envs.sciworld.generate` rebuilds it and checks every listed task's gold path).

- held_in: up to 10 *train* variations (evenly spaced) of each of the 24 held-in task types.
- held_out: up to 10 *test* variations of each of the 6 held-out task types (never seen in held-in,
  one per topic: matter, measurement, electricity, classification, chemistry, forces), plus up to 3
  *test* variations of each held-in task type (seen type, unseen variation).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DATA_PATH = Path(__file__).with_name("variations.json")
PREFIX = "sciworld-"
HELD_OUT_TYPES = (
    "freeze",  # matter (boil, melt, change-the-state-of-matter-of stay held-in)
    "measure-melting-point-unknown-substance",  # measurement
    "test-conductivity-of-unknown-substances",  # electricity
    "find-animal",  # classification
    "chemistry-mix-paint-tertiary-color",  # chemistry
    "inclined-plane-friction-unnamed-surfaces",  # forces
)
HELD_IN_PER_TYPE = 10  # train variations per held-in type
HELD_OUT_PER_TYPE = 10  # test variations per held-out type
HELD_OUT_SEEN_PER_TYPE = 3  # test variations per held-in type
MIN_STEPS = 100
_ID = re.compile(r"sciworld-([a-z0-9-]+?)-v(\d+)")


def _load() -> dict:
    if not DATA_PATH.exists():  # only while `envs.sciworld.generate` builds it
        return {"sets": {}}
    with DATA_PATH.open() as f:
        return json.load(f)


DATA = _load()
SETS: dict[str, dict[str, list[int]]] = {
    name: {part: list(range(*bounds)) for part, bounds in parts.items()} for name, parts in DATA["sets"].items()
}
TASK_TYPES: tuple[str, ...] = tuple(sorted(SETS))
HELD_IN_TYPES: tuple[str, ...] = tuple(t for t in TASK_TYPES if t not in HELD_OUT_TYPES)
GOLD_LENGTHS: dict[str, int] = DATA.get("gold_lengths", {})


def spread(values: list[int], n: int) -> list[int]:
    """Up to `n` values picked evenly across `values` (all of them when there are few)."""
    if len(values) <= n:
        return list(values)
    return [values[i * len(values) // n] for i in range(n)]


def task_id(task_type: str, variation: int) -> str:
    return f"{PREFIX}{task_type}-v{variation}"


def parse(tid: str) -> tuple[str, int]:
    """(task type, variation) of an id; ValueError when it is malformed or names no task type."""
    m = _ID.fullmatch(tid)
    if not m or m.group(1) not in SETS or task_id(m.group(1), int(m.group(2))) != tid:
        raise ValueError(f"malformed ScienceWorld task id '{tid}': expected {PREFIX}<task-type>-v<variation>")
    return m.group(1), int(m.group(2))


def _build() -> dict[str, list[str]]:
    if not SETS:
        return {"held_in": [], "held_out": []}
    held_in = [task_id(t, v) for t in HELD_IN_TYPES for v in spread(SETS[t]["train"], HELD_IN_PER_TYPE)]
    unseen = [task_id(t, v) for t in HELD_OUT_TYPES for v in spread(SETS[t]["test"], HELD_OUT_PER_TYPE)]
    seen = [task_id(t, v) for t in HELD_IN_TYPES for v in spread(SETS[t]["test"], HELD_OUT_SEEN_PER_TYPE)]
    return {"held_in": held_in, "held_out": unseen + seen}


SPLIT_TASKS: dict[str, list[str]] = _build()
_SPLIT_OF: dict[str, str] = {t: split for split, ids in SPLIT_TASKS.items() for t in ids}


def tasks(split: str) -> list[str]:
    """The task ids of a split (a fresh list)."""
    if not SETS:
        raise RuntimeError(f"{DATA_PATH} is missing: rebuild it with `python -m envs.sciworld.generate`")
    return list(SPLIT_TASKS[split])


def split_of(tid: str) -> str:
    """`held_in` or `held_out`; KeyError for an id in neither (ValueError when malformed)."""
    parse(tid)
    return _SPLIT_OF[tid]


def step_budget(tid: str) -> int:
    """Steps an agent gets: 100, or 1.5x the gold path rounded up to tens when that is longer."""
    gold = GOLD_LENGTHS.get(tid, 0)
    return max(MIN_STEPS, -(-gold * 3 // 20) * 10)
