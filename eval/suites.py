"""Evaluation suites: named sets of (environment, split, tasks, episodes per task, max steps)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agentgym.env import ALL_SPLITS

SUITE_DIR = Path(__file__).parent / "suites"


@dataclass
class SuiteEntry:
    env: str
    split: str
    tasks: int | list[str] = 10  # the first N tasks of the split, or explicit task ids
    episodes_per_task: int = 1
    max_steps: int | None = None  # None: the environment's own budget

    def __post_init__(self) -> None:
        if self.split not in ALL_SPLITS:
            raise ValueError(f"suite entry for {self.env}: split must be one of {', '.join(ALL_SPLITS)}, "
                             f"not '{self.split}'")


@dataclass
class Suite:
    name: str
    entries: list[SuiteEntry] = field(default_factory=list)
    # Whole environments held out: never to be trained on, so their results measure transfer to new envs.
    unseen_envs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        missing = sorted(set(self.unseen_envs) - set(self.envs))
        if missing:
            raise ValueError(f"suite '{self.name}': unseen_envs {missing} have no entries")

    @property
    def envs(self) -> list[str]:
        return sorted({e.env for e in self.entries})

    @property
    def seen_envs(self) -> list[str]:
        return [e for e in self.envs if e not in self.unseen_envs]

    def check_trained_on(self, envs: list[str]) -> None:
        """Raise ValueError if training used an env this suite holds out whole."""
        leaked = sorted(set(envs) & set(self.unseen_envs))
        if leaked:
            raise ValueError(f"suite '{self.name}' holds out {leaked} whole, but training used them; "
                             f"train on {self.seen_envs or 'other envs'} only")


def env_holdout_suite(train_envs: list[str], test_envs: list[str], tasks: int = 10,
                      max_steps: int | None = None, splits: tuple[str, ...] = ("held_in", "held_out")) -> Suite:
    """Evaluate on the envs trained on (each split) and on envs never seen (each split, all unseen)."""
    overlap = sorted(set(train_envs) & set(test_envs))
    if overlap:
        raise ValueError(f"envs {overlap} are both trained on and held out")
    entries = [SuiteEntry(env=e, split=s, tasks=tasks, max_steps=max_steps) for e in [*train_envs, *test_envs]
               for s in splits]
    name = f"env-holdout-{'+'.join(test_envs)}"
    return Suite(name=name, entries=entries, unseen_envs=list(test_envs))


def list_suites() -> list[str]:
    return sorted(p.stem for p in SUITE_DIR.glob("*.yaml"))


def load_suite(name: str | os.PathLike) -> Suite:
    """A suite from a YAML file, or by name from eval/suites/."""
    path = Path(name)
    if not path.exists():
        path = SUITE_DIR / f"{name}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no suite '{name}': known suites are {', '.join(list_suites())} (or give a path)")
    data = yaml.safe_load(path.read_text()) or {}
    return suite_from_dict(data, default_name=path.stem)


def suite_from_dict(data: dict, default_name: str = "suite") -> Suite:
    entries = [SuiteEntry(**entry) for entry in data.get("entries", [])]
    if not entries:
        raise ValueError(f"suite '{data.get('name', default_name)}' has no entries")
    return Suite(name=data.get("name", default_name), entries=entries, unseen_envs=list(data.get("unseen_envs", [])))
