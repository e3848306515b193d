"""The TextWorld environment, through a real HTTP server, on games generated into a fresh cache.

What every env must do (splits, experts, unknown ids, determinism) is checked by test_env_contract.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from envs.textworld import TextWorldEnv, games, tasks
from envs.textworld.env import clean

HELD_IN = tasks.tasks("held_in")
HELD_OUT = tasks.tasks("held_out")


@pytest.fixture(scope="module")
def server(server_factory, env_cache):
    return server_factory("textworld", extra_env={"AGENTGYM_CACHE": str(env_cache)})


def game_folder(cache: Path, task_id: str) -> Path:
    return next(cache.joinpath("textworld").glob(f"tw*/{task_id}"), cache / "absent")


def test_walkthrough_is_admissible_and_scores_the_maximum(client):
    task_id = HELD_IN[0]
    actions = client.expert(task_id)
    assert actions
    with client.session(task_id=task_id) as s:
        assert s.observation.available_actions and s.observation.extra["max_score"] > 0
        for action in actions:
            result = s.step(action)
            assert result.info["valid"], (action, result.info["error"])
        assert result.info["won"] and result.done and result.terminated
        assert result.info["score"] == result.info["max_score"] == s.observation.extra["score"]


def test_control_characters_in_a_command_do_not_crash_the_server(client):
    # found by schemathesis: a NUL in a command crashed the game's interpreter, and with it the server
    with client.session(task_id=HELD_IN[0]) as s:
        assert not s.step("f<\x00\xddQ\x18Q").info["valid"]
        assert "kitchen" in s.step("look\x00").observation.text.lower()  # the command without its NUL
    assert client.health()["status"] == "healthy"


def test_observation_keeps_the_intro_without_the_banner(client):
    with client.session(task_id=HELD_IN[0]) as s:
        text = s.observation.text
        assert s.observation.extra["objective"] in text and "$$" not in text


def test_ids_are_canonical_and_unlisted_ones_have_a_split():
    env = TextWorldEnv()
    assert len(HELD_IN) == 100 and len(HELD_OUT) == 40
    assert all(tasks.parse(t).id == t for t in HELD_IN + HELD_OUT)
    unlisted = ["tw-cooking-r1-g1-s10000", "tw-simple-dense-none-s3", "tw-custom-q4-w4-s1"]
    assert [env.split_of(t) for t in unlisted] == ["held_out"] * 3  # unseen seed; other family; longer quest
    assert env.split_of("tw-custom-q3-w4-s9999") == "held_in"  # unlisted, of a held-in config and seed
    for bad in ("tw-cooking-r9-g1-s1", "tw-cooking-r1-g1-s007", "tw-cooking-r1-g1-cut-open-s1", "cooking-1",
                "tw-unknown-s1"):
        with pytest.raises(KeyError):
            env.split_of(bad)


def test_game_cache_is_reused(client, env_cache):
    task_id = HELD_IN[50]
    assert not game_folder(env_cache, task_id).exists()
    with client.session(task_id=task_id) as s:
        first = s.observation
        files = sorted(game_folder(env_cache, task_id).iterdir())
        assert [f.name for f in files] == ["game.json", "game.z8", "meta.json"]
        stamps = [f.stat().st_mtime_ns for f in files]
        assert s.reset() == first
    with client.session(task_id=task_id) as s:
        assert s.observation == first
    assert [f.stat().st_mtime_ns for f in files] == stamps


def test_concurrent_generation_is_safe(tmp_path, monkeypatch):
    """Threads of one process and two processes asking for one new game at once each get it whole."""
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))
    calls = []
    real = games._generate_in_child
    monkeypatch.setattr(games, "_generate_in_child", lambda *a: calls.append(a) or real(*a))
    folders: list[Path] = []
    threads = [threading.Thread(target=lambda: folders.append(games.ensure_game(HELD_IN[51]))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(folders)) == 1 and len(folders) == 3

    code = f"from envs.textworld import games; games.ensure_game({HELD_IN[52]!r})"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE) for _ in range(2)]
    assert all(p.wait(timeout=120) == 0 for p in procs), [p.stderr.read().decode()[-2000:] for p in procs]
    root = games.games_root()
    assert (root / HELD_IN[52] / "meta.json").is_file()
    assert not [p for p in root.iterdir() if p.is_dir() and p.name.startswith(".")]  # no temp folder left


def test_clean_strips_banner_and_status_line():
    raw = "  ___  \n |  $$ \\\n\nHello there.\n\n\n>   -= Kitchen =-0/1"
    assert clean(raw) == "Hello there."


def test_concurrent_sessions_load_games_safely(client, env_cache):
    """textworld's logic parser is not thread-safe: a fresh server whose first sessions all load games at
    once (cached games, so no generation serialises them) must still serve every one."""
    import asyncio

    from agentgym import AsyncEnvClient
    from agentgym.env_server import EnvServer

    for i in range(4):  # generate the games through the warm server first
        client.session(index=i).close()

    async def main(url: str):
        async with AsyncEnvClient(url) as aclient:
            sessions = await asyncio.gather(*(aclient.session(index=i % 4) for i in range(16)))
            results = await asyncio.gather(*(s.step("look") for s in sessions))
            for s in sessions:
                await s.close()
            return sessions, results

    with EnvServer("textworld", extra_env={"AGENTGYM_CACHE": str(env_cache)}) as fresh:
        sessions, results = asyncio.run(main(fresh.url))
    assert len({s.id for s in sessions}) == 16 and all(r.observation.text for r in results)
