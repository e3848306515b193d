"""The wordle environment: rules and solver in process, and episodes through a real HTTP server.

What every env must do (splits, experts, unknown ids, determinism) is checked by test_env_contract.py."""

from __future__ import annotations

import pytest

from agentgym import EnvClient
from envs.wordle import TARGETS, WordleEnv
from envs.wordle.logic import ATTEMPTS, OPENER, WORDS, feedback, solve, summary, task_id_of


@pytest.fixture(scope="module")
def server(served):
    return served("wordle")


# -- in process ----------------------------------------------------------------------------------
def test_word_list() -> None:
    assert 500 <= len(WORDS) <= 2000
    assert all(len(w) == 5 and w.isascii() and w.isalpha() and w.islower() for w in WORDS)
    assert OPENER in WORDS
    assert len(TARGETS) == len(WORDS)  # ids never collide


@pytest.mark.parametrize(
    "guess,target,expected",
    [
        ("babes", "abbey", "YYGGX"),  # one b green, the other b yellow: abbey has two
        ("keeps", "abbey", "XYXXX"),  # abbey has one e: the first e is yellow, the second gray
        ("speed", "abide", "XXYXY"),
        ("eerie", "there", "YXYXG"),  # green e first, then one yellow e, then gray
        ("lolly", "hello", "XYGGX"),  # both l of hello are matched by greens: the first l is gray
        ("crane", "crane", "GGGGG"),
        ("fuzzy", "crane", "XXXXX"),
    ],
)
def test_feedback_duplicate_letters(guess: str, target: str, expected: str) -> None:
    assert feedback(guess, target) == expected


def test_summary_does_not_call_a_placed_letter_absent() -> None:
    text = summary([("trace", feedback("trace", "patch")), ("catch", feedback("catch", "patch"))])
    assert "pattern _ A T C H" in text and "not in the word: E, R." in text


def test_solver_wins_every_target_with_consistent_guesses() -> None:
    worst = 0
    for target in WORDS:
        guesses = solve(target)
        assert guesses[-1] == target and len(guesses) <= ATTEMPTS, (target, guesses)
        for i, guess in enumerate(guesses):  # each guess agrees with all earlier feedback
            assert all(feedback(g, guess) == feedback(g, target) for g in guesses[:i])
        worst = max(worst, len(guesses))
    assert worst <= ATTEMPTS


def test_every_word_is_a_target_of_one_split() -> None:
    env = WordleEnv()
    held_in, held_out = env.tasks("held_in"), env.tasks("held_out")
    assert set(held_in) | set(held_out) == set(TARGETS)
    assert 0.1 < len(held_out) / len(TARGETS) < 0.3
    assert not any(w in t for t in TARGETS for w in WORDS[:50])  # ids do not leak the word
    for bad in ["wordle-zzzz", "wordle-00000000", "wordle-crane", task_id_of("crane") + "0"]:
        with pytest.raises(KeyError):
            env.split_of(bad)


def test_loss_after_six_attempts() -> None:
    env = WordleEnv()
    task = task_id_of("crane")
    env.reset(task)
    results = [env.step(w) for w in ["slate", "about", "light", "pound", "woven", "width"]]
    assert not any(r.done for r in results[:-1])
    last = results[-1]
    assert last.terminated and not last.info["won"] and last.reward == 0.0
    assert "the word was CRANE" in last.observation.text
    assert not env.step("crane").info["valid"]


# -- through the server --------------------------------------------------------------------------
def test_info(client: EnvClient) -> None:
    info = client.info()
    assert info["name"] == "wordle" and "guess WORD" in info["instruction"] and info["max_steps"] == 20


def test_invalid_guesses_do_not_count(client: EnvClient) -> None:
    with client.session(task_id=task_id_of("sweet")) as s:
        for action, needle in [
            ("guess cat", "has 3 letters"),
            ("guess xqzvw", "not in this game's word list"),
            ("guess ab3de", "letters a-z only"),
            ("please guess now", "guess WORD"),
        ]:
            result = s.step(action)
            assert not result.info["valid"] and not result.done and needle in result.info["error"]
            assert result.info["attempts"] == 0 and needle in result.observation.text
        result = s.step("EAGER")  # the bare word, any case; sweet has two e: one green, one yellow
        assert result.info["valid"] and result.info["feedback"] == "YXXGX"
        assert result.info["attempts_left"] == 5
        assert "E yellow, A gray, G gray, E green, R gray" in result.observation.text
        result = s.step("guess eager")
        assert not result.info["valid"] and "already guessed" in result.info["error"]
        assert result.info["attempts"] == 1 and not result.done


def test_reset_clears_the_history(client: EnvClient) -> None:
    with client.session(task_id=client.tasks("held_out")[3]) as s:
        s.step("guess trace")
        s.reset()
        assert s.step("guess trace").info["attempts"] == 1
