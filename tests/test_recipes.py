"""Shipped recipes load (no unknown keys) and unknown keys are refused."""

from __future__ import annotations

import pytest

from training.grpo import GRPORecipe
from training.recipes import RECIPE_DIR, load_recipe
from training.sft import SFTRecipe

KINDS = {"sft": SFTRecipe, "grpo": GRPORecipe}


@pytest.mark.parametrize("path", sorted(RECIPE_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_recipe_loads(path):
    cls = KINDS[path.stem.split("-")[0]]
    recipe = load_recipe(cls, path.stem)  # by name, as the CLI's --recipe takes it
    assert isinstance(recipe, cls) and recipe != cls()  # it sets something


def test_unknown_keys_and_overrides(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: 1.0e-4\nlearnig_rate: 2\n")
    with pytest.raises(ValueError, match="learnig_rate"):
        load_recipe(SFTRecipe, bad)
    assert load_recipe(GRPORecipe, "grpo-maze-cpu", max_steps=1).max_steps == 1
    assert load_recipe(GRPORecipe, "grpo-maze-cpu").use_vllm is False
