"""AgentGym's wire format under `/agentgym`: their clients' paths and fields, spoken with httpx (PyPI
`agentenv` is an empty placeholder), for every env both projects host."""

from __future__ import annotations

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
    return action


def quick_task(env: str, split: str) -> int:
    """Index of a task whose expert is short (ScienceWorld's gold paths run to 100+ steps at ~2 steps/s)."""
    if env != "sciworld":
        return 1
    from envs.sciworld import tasks

    ids = tasks.tasks(split)
    return min(range(len(ids)), key=lambda i: tasks.GOLD_LENGTHS.get(ids[i], 10**6))


# env -> (id field, reset index field)
FIELDS = {"maze": ("id", "game"), "wordle": ("id", "seed"), "sciworld": ("id", "data_idx"),
          "webshop": ("env_idx", "session_id")}


def play_their_loop(base: str, env: str, index: int, actions: list[str]) -> tuple[str, list[dict]]:
    """AgentGym's evaluation loop for one task: create, reset(index), observe, step until done."""
    id_field, index_field = FIELDS[env]
    with httpx.Client(base_url=base, timeout=120) as http:
        created = http.post("/create")
        assert created.status_code == 200
        env_id = created.json() if env == "webshop" else created.json()["id"]
        assert isinstance(env_id, int)
        reset = http.post("/reset", json={id_field: env_id, index_field: index})
        assert reset.status_code == 200
        observation = http.get("/observation", params={id_field: env_id})
        assert observation.status_code == 200 and isinstance(observation.json(), str)
        steps = []
        for action in actions:
            r = http.post("/step", json={id_field: env_id, "action": their_action(env, action)})
            assert r.status_code == 200
            steps.append(r.json())
        if env == "webshop":
            assert http.post("/close", json={"env_idx": env_id}).json() == {"closed": True}
        return observation.json(), steps


@pytest.mark.parametrize(("env", "split"), [(env, "held_in") for env in sorted(FIELDS)] + [("maze", "held_out")])
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
    assert observation == first
    assert [t["reward"] for t in theirs] == pytest.approx([r.reward for r in ours])
    assert [t["done"] for t in theirs] == [r.done for r in ours] and theirs[-1]["done"]
    text = "state" if env == "webshop" else "observation"
    assert [t[text] for t in theirs] == [r.observation.text for r in ours]
    if env == "sciworld":  # their client reads the score (0-100) as the reward
        assert theirs[-1]["score"] == ours[-1].info["score"] == 100


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
