"""Whole environments held out in eval suites: declared, checked against what training used, built in code."""

from __future__ import annotations

import pytest

from eval.suites import env_holdout_suite, load_suite, suite_from_dict


def test_shipped_suite_holds_out_whole_envs() -> None:
    suite = load_suite("env-holdout")
    assert suite.unseen_envs == ["alfworld", "babyai", "sciworld"]
    assert suite.seen_envs == ["maze", "textworld", "webshop"]
    suite.check_trained_on(["textworld", "maze"])
    with pytest.raises(ValueError, match=r"holds out \['babyai'\] whole"):
        suite.check_trained_on(["maze", "babyai"])


def test_env_holdout_suite_covers_both_sides() -> None:
    suite = env_holdout_suite(["maze", "wordle"], ["textcraft", "babyai"], tasks=3)
    assert suite.unseen_envs == ["textcraft", "babyai"]
    assert {(e.env, e.split) for e in suite.entries} == {
        (env, split) for env in ("maze", "wordle", "textcraft", "babyai") for split in ("held_in", "held_out")}
    with pytest.raises(ValueError, match="both trained on and held out"):
        env_holdout_suite(["maze"], ["maze"])


def test_unseen_env_without_entries_is_an_error() -> None:
    with pytest.raises(ValueError, match="have no entries"):
        suite_from_dict({"unseen_envs": ["alfworld"], "entries": [{"env": "maze", "split": "held_out"}]})
