"""AgentGym's wire format under `/agentgym`: their clients' paths and fields, spoken with httpx (PyPI
`agentenv` is an empty placeholder), for every env both projects host."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from agentgym import EnvClient

COMPASS_TO_LMRL = {"north": "up", "south": "down", "west": "left", "east": "right"}


def their_action(env: str, action: str) -> str:
    """An expert action as AgentGym's client of `env` would send it."""
    if env == "maze":  # `move north` -> `move up`
        return "move " + COMPASS_TO_LMRL[action.split()[-1]]
    if env == "wordle":  # `guess crane` -> `c r a n e`
        return " ".join(action.split()[-1])
    if env == "alfworld" and action.startswith("move "):  # their ALFWorld's `put <object> in/on <receptacle>`
        return "put " + action.removeprefix("move ").replace(" to ", " in/on ", 1)
    if env == "babyai" and action == "go forward":
        return "move forward"
    if env == "textcraft":  # their client keeps letters, digits, commas and single spaces
        return " ".join(re.sub(r"[^A-Za-z0-9, ]+", "", action).split())
    return action


def quick_task(env: str, split: str) -> int:
    """Index of a task whose expert is short (ScienceWorld's gold paths run to 100+ steps at ~2 steps/s)."""
    if env != "sciworld":
        return 1
    from envs.sciworld import tasks

    ids = tasks.tasks(split)
    return min(range(len(ids)), key=lambda i: tasks.GOLD_LENGTHS.get(ids[i], 10**6))


@dataclass(frozen=True)
class TheirClient:
    """How AgentGym's client of one env speaks (read from `agentenv/agentenv/envs/<env>.py`)."""

    index_field: str  # the task index in the reset body
    id_field: str = "id"
    reset_extra: dict = field(default_factory=dict)
    create_body: dict | None = None
    reward: str = "reward"  # the step answer's field their client takes as the reward
    text: str = "observation"  # ... and as the next observation
    closed: Any = True  # the close answer of their server


CLIENTS = {
    "maze": TheirClient("game", closed={"closed": True}),
    "wordle": TheirClient("seed", closed={"closed": True}),
    "sciworld": TheirClient("data_idx", closed={"closed": True}),
    "webshop": TheirClient("session_id", id_field="env_idx", text="state", closed={"closed": True}),
    "alfworld": TheirClient("game", reset_extra={"world_type": "Text"}, closed={"closed": True}),
    "babyai": TheirClient("data_idx", reward="score"),
    "textcraft": TheirClient("data_idx", create_body={"minecraft_dir": "agentenv_textcraft/", "commands": None,
                                                       "goal": None}),
}


def play_their_loop(base: str, env: str, index: int, actions: list[str]) -> tuple[str, list[dict]]:
    """AgentGym's evaluation loop for one task: create, reset(index), observe, step until done, close."""
    their = CLIENTS[env]
    with httpx.Client(base_url=base, timeout=120) as http:
        created = http.post("/create", json=their.create_body)
        assert created.status_code == 200
        env_id = created.json() if env == "webshop" else created.json()["id"]
        assert isinstance(env_id, int)
        if env == "textcraft":  # their TextCraft starts an episode on create
            assert created.json()["observation"].startswith("Crafting commands:")
        reset = http.post("/reset", json={their.id_field: env_id, their.index_field: index, **their.reset_extra})
        assert reset.status_code == 200
        observation = http.get("/observation", params={their.id_field: env_id})
        assert observation.status_code == 200
        first = observation.json()["observation"] if env == "babyai" else observation.json()
        assert isinstance(first, str)
        steps = []
        for action in actions:
            r = http.post("/step", json={their.id_field: env_id, "action": their_action(env, action)})
            assert r.status_code == 200
            steps.append(r.json())
        assert http.post("/close", json={their.id_field: env_id}).json() == their.closed
        return first, steps


@pytest.mark.parametrize(("env", "split"), [(env, "held_in") for env in sorted(CLIENTS)] + [("maze", "held_out")])
def test_agentgym_loop_plays_the_expert_with_our_rewards(served, env, split):
    url = served(env).url
    index = quick_task(env, split)
    with EnvClient(url) as client:
        task_id = client.tasks(split)[index]
        actions = client.expert(task_id)
        with client.session(task_id=task_id) as s:
            first, ours = s.observation.text, []
            for a in actions:  # a gold path may run past the win: stop where the episode does
                ours.append(s.step(a))
                if ours[-1].done:
                    break
        actions = actions[:len(ours)]
    base = url + "/agentgym" + ("" if split == "held_in" else "/held_out")
    observation, theirs = play_their_loop(base, env, index, actions)
    their = CLIENTS[env]
    assert observation == first
    assert [t[their.reward] for t in theirs] == pytest.approx([r.reward for r in ours])
    assert [t["done"] for t in theirs] == [r.done for r in ours] and theirs[-1]["done"]
    assert [t[their.text] for t in theirs] == [r.observation.text for r in ours]
    assert ours[-1].info["won"]
    if env == "sciworld":  # their client reads the score (0-100) as the reward
        assert theirs[-1]["score"] == ours[-1].info["score"] == 100
    if env == "alfworld":  # their client lists the admissible commands after each observation
        assert [t["available_actions"] for t in theirs] == [r.observation.available_actions for r in ours]
    translated = {"alfworld": "put ", "babyai": "move forward"}.get(env)
    if translated:  # the expert's path used the command their client words differently
        assert any(their_action(env, a).startswith(translated) for a in actions)


def test_per_env_shapes(served):
    maze = served("maze").url + "/agentgym"
    created = httpx.post(maze + "/create").json()
    reset = httpx.post(maze + "/reset", json={"id": created["id"], "game": 0}).json()
    assert set(reset) == {"id", "observation"}
    detail = httpx.get(maze + "/detail", params={"id": created["id"]}).json()
    assert detail["done"] is False and detail["observation"] == reset["observation"]

    wordle = served("wordle").url + "/agentgym"
    wid = httpx.post(wordle + "/create").json()["id"]
    vocab = httpx.get(wordle + "/filtered_vocab", params={"id": wid}).json()
    assert len(vocab) > 100 and all(len(w) == 5 for w in vocab)

    shop = served("webshop").url + "/agentgym"
    sid = httpx.post(shop + "/create").json()
    assert httpx.post(shop + "/reset", json={"env_idx": sid, "session_id": 0}).json()[1] is None
    actions = httpx.get(shop + "/available_actions", params={"env_idx": sid}).json()
    assert actions == {"has_search_bar": True, "clickables": ["search"]}
    assert httpx.post(shop + "/close", json={"env_idx": sid}).json() == {"closed": True}
    assert httpx.post(shop + "/close", json={"env_idx": sid}).json() == {"closed": False}


def test_alfworld_babyai_textcraft_shapes_and_refusals(served):
    alf = served("alfworld").url + "/agentgym"
    aid = httpx.post(alf + "/create").json()["id"]
    r = httpx.post(alf + "/reset", json={"id": aid, "game": 1, "world_type": "Embody"})
    assert r.status_code == 400 and "world_type 'Text'" in r.json()["message"]
    reset = httpx.post(alf + "/reset", json={"id": aid, "game": 1, "world_type": "Text"}).json()
    assert set(reset) == {"id", "observation", "available_actions", "task_type"} and reset["id"] == aid
    assert httpx.get(alf + "/available_actions", params={"id": aid}).json() == reset["available_actions"]
    assert "look" in reset["available_actions"]

    baby = served("babyai").url + "/agentgym"
    bid = httpx.post(baby + "/create").json()["id"]
    reset = httpx.post(baby + "/reset", json={"id": bid, "data_idx": 0}).json()
    assert reset == {"observation": reset["observation"], "reward": 0.0, "score": 0.0, "deleted": False, "done": False}
    observed = httpx.get(baby + "/observation", params={"id": bid}).json()
    assert observed["observation"] == reset["observation"] and observed["done"] is False
    assert httpx.post(baby + "/close", json={"id": bid}).json() is True
    assert httpx.post(baby + "/close", json={"id": bid}).json() is False

    craft = served("textcraft").url + "/agentgym"
    r = httpx.post(craft + "/create", json={"goal": "craft 1 diamond pickaxe"})
    assert r.status_code == 400 and "goal" in r.json()["message"]
    created = httpx.post(craft + "/create").json()  # an episode on the first held-in task, as theirs starts one
    assert set(created) == {"id", "observation", "done", "reward"}
    with EnvClient(served("textcraft").url) as client, client.session(index=0) as s:
        assert created["observation"] == s.observation.text


def test_errors_keep_our_statuses_except_where_their_client_reads_200(served):
    maze = served("maze").url + "/agentgym"
    # LMRL-Gym's client ends the episode on a 200 `{"error": ...}`: an unknown id, a finished episode
    r = httpx.post(maze + "/step", json={"id": 10_000, "action": "move up"})
    assert r.status_code == 200 and "unknown id 10000" in r.json()["error"]
    mid = httpx.post(maze + "/create").json()["id"]
    r = httpx.post(maze + "/reset", json={"id": mid, "game": 10_000})
    assert r.status_code == 404 and r.json()["code"] == "unknown_task"
    r = httpx.post(maze + "/reset", json={"id": mid, "game": "first"})
    assert r.status_code == 400 and "game" in r.json()["message"]
    r = httpx.post(maze + "/step", json={"id": mid})
    assert r.status_code == 400 and r.json()["code"] == "malformed_body"
    shop = served("webshop").url + "/agentgym"
    r = httpx.post(shop + "/step", json={"env_idx": 10_000, "action": "search[x]"})
    assert r.status_code == 404 and r.json()["code"] == "unknown_session"
    r = httpx.get(shop + "/goals", params={"env_idx": 0})
    assert r.status_code == 404 and "available_actions" in r.json()["message"]


def test_envs_without_an_agentgym_counterpart_say_so(served):
    r = httpx.post(served("echo").url + "/agentgym/create")
    assert r.status_code == 404 and "no AgentGym counterpart" in r.json()["message"]
