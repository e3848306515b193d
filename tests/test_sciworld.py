"""ScienceWorld through a real HTTP server: gold paths, invalid and ambiguous input, splits, no JVM leaks.

What every env must do (splits, experts, unknown ids, determinism) is checked by test_env_contract.py."""

from __future__ import annotations

import time

import psutil
import pytest

from agentgym import EnvClient
from envs.sciworld import SciWorldEnv, pool, tasks
from tests.processes import live_processes

HELD_IN = tasks.tasks("held_in")
HELD_OUT = tasks.tasks("held_out")


def shortest(ids: list[str], types: tuple[str, ...] | None = None, avoid: str = "") -> str:
    """The task with the shortest gold path among `ids` (of `types`, not of type `avoid`)."""
    pool = [t for t in ids if (types is None or tasks.parse(t)[0] in types) and tasks.parse(t)[0] != avoid]
    return min(pool, key=lambda t: (tasks.GOLD_LENGTHS[t], t))


IN_A = shortest(HELD_IN)
IN_B = shortest(HELD_IN, avoid=tasks.parse(IN_A)[0])
OUT_UNSEEN_TYPE = shortest(HELD_OUT, tasks.HELD_OUT_TYPES)
OUT_SEEN_TYPE = shortest(HELD_OUT, tasks.HELD_IN_TYPES)
AMBIGUOUS_TASK = "sciworld-grow-plant-v0"  # its gold path answers an ambiguity question with "0"


@pytest.fixture(scope="module")
def server(server_factory):
    return server_factory("sciworld")


def play(client: EnvClient, task_id: str, actions: list[str]):
    """Play `actions` until the episode ends; the last result and the number of steps taken."""
    with client.session(task_id=task_id) as s:
        assert s.observation.available_actions and s.observation.extra["hint"]
        for n, action in enumerate(actions, 1):
            result = s.step(action)
            if result.done:
                return result, n
    return result, len(actions)


@pytest.mark.parametrize("task_id", [IN_A, OUT_SEEN_TYPE])
def test_gold_path_scores_100(client: EnvClient, task_id: str) -> None:
    actions = client.expert(task_id)
    assert actions and len(actions) == tasks.GOLD_LENGTHS[task_id]
    result, _ = play(client, task_id, actions)
    assert result.info["won"] and result.terminated and result.info["score"] == 100
    assert result.info["valid"] and not result.info["lost"]


def test_ambiguity_question_is_answered_or_cancelled(client: EnvClient) -> None:
    gold = client.expert(AMBIGUOUS_TASK)
    k = gold.index("0") - 1  # the action that makes the simulator ask which object was meant
    with client.session(task_id=AMBIGUOUS_TASK) as s:
        for action in gold[:k]:
            assert s.step(action).info["valid"]
        asked = s.step(gold[k])
        assert not asked.info["valid"] and asked.info["error"].startswith("Ambiguous request")
        assert asked.observation.extra["awaiting_choice"] and "0" in asked.observation.available_actions
        looked = s.step("look around")  # not a number: the question is dropped, the action is taken
        assert looked.info["valid"] and looked.observation.text.startswith("This room is called")
        assert not s.step("0").info["valid"]  # no question pending any more
        assert not s.step(gold[k]).info["valid"]
        answered = s.step("0")
        assert answered.info["valid"] and answered.reward >= 0 and not answered.done


def test_invalid_action_is_feedback(client: EnvClient) -> None:
    with client.session(task_id=IN_A) as s:
        result = s.step("dance wildly with the moon")
        assert result.info["valid"] is False and "No known action" in result.info["error"]
        assert result.reward == 0 and not result.done and result.observation.available_actions
        result = s.step("look around")  # the episode goes on
        assert result.info["valid"] and result.info["error"] is None
        assert result.observation.available_actions is None  # the valid list is only built when needed


def test_wrong_focus_loses(client: EnvClient) -> None:
    with client.session(task_id=OUT_UNSEEN_TYPE) as s:  # find-animal: focus on a non-animal fails
        assert tasks.parse(OUT_UNSEEN_TYPE)[0] == "find-animal"
        result = s.step("focus on air")
        assert result.info["lost"] and result.terminated and not result.info["won"]
        assert result.info["score"] == 0 and result.reward <= 0


def test_reset_switches_task_on_the_same_jvm(client: EnvClient) -> None:
    with client.session(task_id=IN_B) as a:
        first = a.observation
        assert first.text.startswith("Task: ")
        a.step("open door to kitchen")
        assert a.reset(task_id=IN_A) != first and a.reset(task_id=IN_B) == first


def test_step_budget_follows_the_gold_path() -> None:
    env = SciWorldEnv()
    longest = max(HELD_IN, key=tasks.GOLD_LENGTHS.__getitem__)
    assert env.max_steps_for(IN_A) == tasks.MIN_STEPS == SciWorldEnv.max_steps
    assert env.max_steps_for(longest) >= 1.5 * tasks.GOLD_LENGTHS[longest] > tasks.MIN_STEPS


def test_splits_hold_out_task_types() -> None:
    env = SciWorldEnv()
    held_in, held_out = env.tasks("held_in"), env.tasks("held_out")
    for bad in ("sciworld-boil-v999", "sciworld-boil-v01", "sciworld-fly-v1", "boil-v1", "sciworld-freeze-v0"):
        with pytest.raises((KeyError, ValueError)):
            env.split_of(bad)
    in_types = {tasks.parse(t)[0] for t in held_in}
    out_types = {tasks.parse(t)[0] for t in held_out}
    assert len(in_types | out_types) == 30 and len(in_types) == 24
    assert out_types - in_types == set(tasks.HELD_OUT_TYPES)  # task types never seen in held-in
    for t in held_in:
        assert tasks.parse(t)[1] in tasks.SETS[tasks.parse(t)[0]]["train"]
    for t in held_out:
        assert tasks.parse(t)[1] in tasks.SETS[tasks.parse(t)[0]]["test"]


def test_sessions_do_not_leak_jvms(server_factory) -> None:
    # Session TTL 20 s: room for JVM starts and the pool's wait below before b expires (deterministic JVMs load
    # worlds slower). The JVM pool is on (its default), with a 5 s TTL: a closed session's JVM waits, then ends.
    server = server_factory("sciworld", ttl=20.0, extra_env={"AGENTGYM_SCIWORLD_POOL_TTL": "5"})
    pid = server.pid
    with EnvClient(server.url, timeout=120) as c:
        assert live_processes(pid, "java") == set()  # nothing starts before it is needed
        a = c.session(task_id=IN_A)
        jvm_a = live_processes(pid, "java")
        c.session(task_id=IN_B)  # never closed by the client
        jvms = live_processes(pid, "java")
        assert len(jvm_a) == 1 and len(jvms) == 2
        a.reset(task_id=IN_B)  # a reset reuses the session's JVM
        assert jvm_a <= live_processes(pid, "java") <= jvms
        a.close()
        assert jvm_a <= live_processes(pid, "java")  # idle in the pool, for the next session
        deadline = time.monotonic() + 20
        while jvm_a & live_processes(pid, "java") and time.monotonic() < deadline:
            time.sleep(0.25)
        assert not jvm_a & live_processes(pid, "java")  # closed once idle past the pool's TTL
        c.expert(IN_A)  # the catalog starts its own JVM for experts
        catalog = live_processes(pid, "java") - jvms
        assert len(catalog) == 1
        deadline = time.monotonic() + 45  # b expires after 20 s idle; its JVM then waits 5 s in the pool
        while live_processes(pid, "java") != catalog and time.monotonic() < deadline:
            time.sleep(0.5)
        assert live_processes(pid, "java") == catalog
        c.session(task_id=IN_A)  # left open: stopping the server must end it
        everything = live_processes(pid, "java")
    server.stop()
    alive = [p for p in everything | jvms if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not alive, f"JVMs survived the server: {alive}"


def test_expert_mid_episode_keeps_the_episode() -> None:
    """A session's own `expert` reuses its JVM, then rebuilds the episode it interrupted."""
    plan = ["open door to kitchen", "dance", "go to kitchen", "look around", "pick up thermometer", "inventory"]
    a, b = SciWorldEnv(deterministic=True), SciWorldEnv(deterministic=True)
    try:
        assert a.reset(IN_B) == b.reset(IN_B)
        for action in plan[:3]:
            assert a.step(action) == b.step(action)
        assert a.expert(OUT_UNSEEN_TYPE) and a._sim is not None and a._sim.pid != b._sim.pid
        for action in plan[3:]:
            assert a.step(action) == b.step(action)
    finally:
        a.close()
        b.close()
    assert a._sim is None and b._sim is None


def test_pool_hands_a_warm_jvm_to_the_next_session(monkeypatch) -> None:
    shared = pool.SimulatorPool(size=1, ttl=1.0)
    monkeypatch.setattr(pool, "POOL", shared)
    a = SciWorldEnv()
    first = a.reset(IN_A)
    a.step("dance")
    jvm = a._sim.pid
    a.close()
    assert shared.idle == 1 and psutil.pid_exists(jvm)
    b = SciWorldEnv()
    assert b.reset(IN_A) == first and b._sim.pid == jvm  # same JVM, fresh world
    b.close()
    deadline = time.monotonic() + 20  # idle longer than the TTL: the pool's reaper ends it
    while psutil.pid_exists(jvm) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert shared.idle == 0 and not psutil.pid_exists(jvm)
