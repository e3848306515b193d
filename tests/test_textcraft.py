"""TextCraft: the generated recipe graph in process, and episodes through a real HTTP server."""

from __future__ import annotations

import pytest

from agentgym import EnvClient
from agentgym.errors import UnknownTask
from envs.textcraft import TextCraftEnv
from envs.textcraft.env import parse_task, split_of_item
from envs.textcraft.recipes import UNSEEN_MATERIALS, graph


@pytest.fixture(scope="module")
def server(served):
    return served("textcraft")


def test_graph_is_a_deterministic_dag() -> None:
    g = graph()
    graph.cache_clear()
    again = graph()
    assert again.recipes == g.recipes and len(g.recipes) == 250
    for item, recipe in g.recipes.items():
        assert recipe.ingredients and all(g.depth[i] < g.depth[item] for i, _ in recipe.ingredients)
        assert max(g.depth[i] for i, _ in recipe.ingredients) == g.depth[item] - 1


def test_splits_follow_depth_and_materials() -> None:
    env, g = TextCraftEnv(), graph()
    held_in, held_out = env.tasks("held_in"), env.tasks("held_out")
    assert len(held_in) >= 200 and len(held_out) >= 100 and not set(held_in) & set(held_out)
    targets_in = {parse_task(t)[0] for t in held_in}
    targets_out = {parse_task(t)[0] for t in held_out}
    assert {g.depth[t] for t in targets_in} == {1, 2} and {3, 4} <= {g.depth[t] for t in targets_out}
    seen_bases = set().union(*(g.bases(t) for t in targets_in))
    assert not seen_bases & set(UNSEEN_MATERIALS)
    assert any(g.depth[t] <= 2 and g.bases(t) & set(UNSEEN_MATERIALS) for t in targets_out)
    assert all(env.split_of(t) == "held_in" for t in held_in) and all(env.split_of(t) == "held_out" for t in held_out)
    unlisted = held_in[0].rsplit("-s", 1)[0] + "-s77"  # any seed below 100 is a task of its target's split
    assert env.split_of(unlisted) == split_of_item(parse_task(unlisted)[0])
    for bad in ("textcraft-oak_log-s0", "textcraft-nothing-s0", held_in[0] + "0", held_in[0].replace("-s0", "-s100")):
        with pytest.raises(KeyError):
            env.split_of(bad)


def test_expert_wins_every_listed_task_in_process() -> None:
    env = TextCraftEnv()
    for task in env.tasks("held_in") + env.tasks("held_out"):
        env.reset(task)
        actions = env.expert(task)
        assert len(actions) <= env.max_steps_for(task)
        for action in actions:
            result = env.step(action)
            assert result.info["valid"], (task, action, result.info["error"])
        assert result.info["won"] and result.terminated and result.reward == 1.0


def test_crafting_rules() -> None:
    env = TextCraftEnv()
    single = [t for t in env.tasks("held_in") if len(graph().recipes[parse_task(t)[0]].ingredients) == 1]
    task = next(t for t in single if graph().depth[parse_task(t)[0]] == 1)  # one base material
    item = parse_task(task)[0]
    recipe = graph().recipes[item]
    (ingredient, q), = recipe.ingredients
    first = env.reset(task)
    assert recipe.command() in first.text and first.text.endswith(f"Goal: craft 1 {item}.")
    r = env.step(recipe.command())
    assert not r.info["valid"] and "missing" in r.info["error"] and not r.done
    assert "crafted, not gathered" in env.step(f"get 1 {item}").info["error"]
    r = env.step(f"craft {recipe.count} {item} using {q + 1} {ingredient}")
    assert r.info["error"].endswith("the ingredients or amounts are wrong.")
    assert env.step(f"get {2 * q} {ingredient}s").info["valid"]  # plural forgiven
    assert env.step("inventory").observation.text == f"Inventory: {2 * q} {ingredient}."
    r = env.step(recipe.command(2))  # a multiple of the command
    assert r.info["won"] and r.done and r.observation.extra["inventory"] == {item: 2 * recipe.count}


# -- through the server --------------------------------------------------------------------------
def test_expert_wins_sample_over_http(client: EnvClient) -> None:
    for split in ("held_in", "held_out"):
        tasks = client.tasks(split)
        for task in tasks[:: len(tasks) // 5]:
            with client.session(task_id=task) as s:
                for action in client.expert(task):
                    result = s.step(action)
                assert result.info["won"] and result.done
    with pytest.raises(UnknownTask):
        client.session(task_id="textcraft-oak_log-s0")


def test_invalid_action_keeps_the_episode(client: EnvClient) -> None:
    with client.session(split="held_out", index=3) as s:
        result = s.step("dance")
        assert not result.info["valid"] and not result.done and "get <n> <material>" in result.info["error"]
        result = s.step("get 2 diamond")
        assert result.info["error"] == "Could not get diamond: there is no such item."
