"""The contract every registered environment keeps, run over the registry: an env added under `envs/`
is checked here without a line of test of its own. In process where the contract is about the class
(splits, ids, close), through a real HTTP server where it is about episodes."""

from __future__ import annotations

import re
import sys
import threading

import pytest

from agentgym import EnvClient
from agentgym.env import REWORDED, SPLITS, Env
from agentgym.env_server import EnvServer
from agentgym.errors import UnknownTask
from agentgym.registry import available, load
from agentgym.reworded import split_id

SAMPLE = 2  # expert episodes per split: its first task and its last (lists group tasks by family)
# Envs whose episodes cost seconds (a browser per session, a planner) play one per split, its last task (the
# invalid-action test below wins the first held-in one; the reworded split's last shares held-out's plan).
ONE_PER_SPLIT = {"alfworld", "miniwob"}
IO_EVENTS = ("open", "os.", "shutil.", "subprocess.", "socket.", "import")  # audit events of I/O

_watching = threading.Event()
_io_events: list[str] = []
sys.addaudithook(lambda event, args: _watching.is_set() and event.startswith(IO_EVENTS) and _io_events.append(event))


@pytest.fixture(scope="module", params=available())
def env_name(request) -> str:
    """The name of a folder under `envs/`."""
    return request.param


@pytest.fixture(scope="module")
def env_cls(env_name: str) -> type[Env]:
    return load(env_name)


@pytest.fixture(scope="module")
def catalog(env_cls: type[Env]):
    """One instance that is asked about tasks and never stepped (as the server's catalog)."""
    env = env_cls()
    yield env
    env.close()


@pytest.fixture(scope="module")
def client(env_name: str):
    with EnvServer(env_name) as server, EnvClient(server.url, timeout=120) as c:
        yield c


def splits(env_cls: type[Env]) -> list[str]:
    """The splits the env serves: `held_in` and `held_out`, and any more it declares in `info()`."""
    return env_cls.info()["splits"]


def unknown_ids(catalog: Env) -> list[str]:
    """Ids no env should know: nonsense, and a listed id with a character added."""
    return ["no-such-task", catalog.tasks("held_in")[0] + "x", catalog.tasks("held_out")[-1] + "0x"]


def sample(tasks: list[str]) -> list[str]:
    """`SAMPLE` tasks spread evenly over the list, its first and last included."""
    return list(dict.fromkeys(tasks[i * (len(tasks) - 1) // max(1, SAMPLE - 1)] for i in range(SAMPLE)))


def expert_sample(env_cls: type[Env], client: EnvClient) -> list[str]:
    """The tasks whose expert episodes are played: a `sample` of each split, or one for `ONE_PER_SPLIT` envs."""
    listed = [client.tasks(split) for split in splits(env_cls)]
    if env_cls.name in ONE_PER_SPLIT:
        return [tasks[-1] for tasks in listed]
    return [t for tasks in listed for t in sample(tasks)]


def test_env_is_found_by_its_name_and_describes_itself(env_cls: type[Env], client: EnvClient) -> None:
    assert load(env_cls.name).name == env_cls.name
    info = client.info()
    assert info["name"] == env_cls.name and info["instruction"] and info["action_format"]
    assert info["max_steps"] >= 1 and info["splits"][:2] == list(SPLITS)


def test_splits_are_disjoint_and_stable(env_cls: type[Env], catalog: Env, client: EnvClient) -> None:
    listed = [catalog.tasks(split) for split in splits(env_cls)]
    ids = [t for tasks in listed for t in tasks]
    assert all(listed) and len(set(ids)) == len(ids)  # none empty, no id twice, in one split or across
    fresh = env_cls()
    try:
        assert [fresh.tasks(split) for split in splits(env_cls)] == listed
    finally:
        fresh.close()
    assert [client.tasks(split) for split in splits(env_cls)] == listed  # another process lists the same


def test_split_of_is_a_pure_function_of_the_id(env_cls: type[Env], catalog: Env) -> None:
    listed = {split: catalog.tasks(split) for split in splits(env_cls)}
    ids = [t for tasks in listed.values() for t in tasks]
    expected = [catalog.split_of(t) for t in ids]  # warm up (imports, caches)
    fresh = env_cls()
    _io_events.clear()
    _watching.set()
    try:
        again = [fresh.split_of(t) for t in ids]
        twice = [fresh.split_of(t) for t in ids]
    finally:
        _watching.clear()
        fresh.close()
    assert _io_events == []  # no file, process or network I/O
    assert expected == again == twice == [split for split, tasks in listed.items() for _ in tasks]
    for bad in unknown_ids(catalog):
        with pytest.raises((KeyError, ValueError)):
            catalog.split_of(bad)


def test_unknown_task_is_refused(env_cls: type[Env], catalog: Env, client: EnvClient) -> None:
    fresh = env_cls()
    try:
        for bad in unknown_ids(catalog):
            for call in (catalog.check_task, catalog.expert, fresh.reset):
                with pytest.raises(UnknownTask, match=re.escape(f"'{bad}'")):
                    call(bad)
            with pytest.raises(UnknownTask):
                client.session(task_id=bad)
            with pytest.raises(UnknownTask):
                client.expert(bad)
    finally:
        fresh.close()


def test_expert_wins_a_sample_of_each_split(env_cls: type[Env], catalog: Env, client: EnvClient) -> None:
    for task in expert_sample(env_cls, client):
        actions = client.expert(task)
        with client.session(task_id=task) as s:
            budget = s.state()["max_steps"]
            assert budget == catalog.max_steps_for(task) >= len(actions), (task, budget, len(actions))
            for action in actions:
                result = s.step(action)
                if result.done:
                    break
            assert result.info["won"] and result.terminated and not result.truncated, (task, result.info)


def test_invalid_action_is_flagged_and_the_episode_goes_on(client: EnvClient) -> None:
    task = client.tasks("held_in")[0]
    with client.session(task_id=task) as s:
        result = s.step("")
        assert not result.info["valid"] and isinstance(result.info["error"], str) and result.info["error"].strip()
        assert not result.done and result.reward == 0.0
        for action in client.expert(task):  # the expert still wins after the invalid step
            result = s.step(action)
            if result.done:
                break
        assert result.info["won"], result.info


def test_same_task_and_seed_give_the_same_first_observation(client: EnvClient) -> None:
    task = client.tasks("held_out")[0]
    with client.session(task_id=task, seed=7) as a, client.session(task_id=task, seed=7) as b:
        first = a.observation
        assert first.text and b.observation == first
        a.step(client.expert(task)[0])
        assert a.reset(task_id=task, seed=7) == first


def test_close_is_idempotent(env_cls: type[Env], catalog: Env) -> None:
    never_reset = env_cls()
    never_reset.close()
    never_reset.close()
    env = env_cls()
    env.reset(catalog.tasks("held_in")[0])
    env.close()
    env.close()


def test_reworded_tasks_take_other_words_and_refuse_the_old_ones(env_cls: type[Env], client: EnvClient) -> None:
    if REWORDED not in splits(env_cls):
        pytest.skip(f"{env_cls.name} declares no rewording")
    rewording, info = env_cls.rewording, client.info()
    assert info["reworded"]["instruction"] != info["instruction"]
    task = client.tasks(REWORDED)[-1]  # its plan and its held-out twin's are the expert test's already
    plain, reworded = client.expert(split_id(task)[0]), client.expert(task)
    assert [rewording.to_env(a) for a in reworded] == plain  # the same plan, in other words
    old = [a for a in plain if rewording.stray_word(a)]
    assert bool(old) == bool(rewording.actions)  # (an env may reword its text alone)
    if old:
        with client.session(task_id=task) as s:
            result = s.step(old[0])
            assert not result.info["valid"] and "is not a command here" in result.info["error"] and not result.done
