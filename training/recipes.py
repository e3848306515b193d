"""Recipes: YAML files whose keys set the fields of a training dataclass."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TypeVar

import yaml

T = TypeVar("T")
RECIPE_DIR = Path(__file__).parent / "recipes"


def load_recipe(cls: type[T], path: str | os.PathLike | None = None, **overrides) -> T:
    """An instance of `cls` from a YAML file (a path, or a name in training/recipes/) plus overrides.

    Unknown keys are an error, so a typo in a recipe never silently falls back to a default.
    """
    values: dict = {}
    if path:
        p = Path(path)
        if not p.exists() and (RECIPE_DIR / f"{path}.yaml").exists():
            p = RECIPE_DIR / f"{path}.yaml"
        values = yaml.safe_load(p.read_text()) or {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} setting(s) {unknown} in {path}: known are {sorted(known)}")
    return cls(**values)
