"""OpenEnv's own client (PyPI `openenv`) drives every registered env over `/ws`; the HTTP shapes validate
against OpenEnv's own response models."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.sync.client import connect

from agentgym import EnvClient
from agentgym.registry import available
from tests.test_agentenv import quick_task

openenv = pytest.importorskip("openenv.core")
from openenv.cli._validation import validate_running_environment  # noqa: E402
from openenv.core import GenericEnvClient  # noqa: E402
from openenv.core.env_server.types import (  # noqa: E402
    EnvironmentMetadata,
    HealthResponse,
    HealthStatus,
    ResetResponse,
    SchemaResponse,
    State,
    StepResponse,
)


def our_episode(url: str, env: str, split: str) -> tuple[str, list[str], list[float], dict]:
    """(task id, expert actions, rewards, last info) of a task with a short expert, played through our client."""
    with EnvClient(url) as client:
        task_id = client.tasks(split)[quick_task(env, split)]
        actions = client.expert(task_id)
        with client.session(task_id=task_id) as s:
            results = []
            for a in actions:  # a gold path may run past the win: stop where the episode does
                results.append(s.step(a))
                if results[-1].done:
                    break
    return task_id, actions[:len(results)], [r.reward for r in results], results[-1].info


@pytest.mark.parametrize("env", available())
def test_openenv_client_plays_the_expert_with_our_rewards(served, env):
    url = served(env).url
    task_id, actions, rewards, info = our_episode(url, env, "held_in")  # the tasks test_agentenv plays: experts cached
    with GenericEnvClient(base_url=url).sync() as client:
        first = client.reset(task_id=task_id)
        assert first.observation["task_id"] == task_id and not first.done and first.reward is None
        assert first.observation["text"]
        results = [client.step({"action": a}) for a in actions]
        state = client.state()
    assert [r.reward for r in results] == pytest.approx(rewards)
    assert results[-1].done and all(not r.done for r in results[:-1])
    assert results[-1].observation["info"]["won"] == info["won"] and info["won"]
    assert state["step_count"] == len(actions) and state["task_id"] == task_id and state["done"]
    assert state["episode_id"] == results[-1].observation["metadata"]["episode_id"]


def test_socket_session_is_one_env_closed_with_the_socket(served):
    url = served("maze").url
    with EnvClient(url) as ours:
        before = ours.health()["sessions"]
        client = GenericEnvClient(base_url=url).sync()
        with client:
            assert client.state()["episode_id"] is None  # nothing opened before the first reset
            a = client.reset(split="held_out", index=3)
            b = client.reset()  # the same session, restarted on the same task
            assert a.observation["metadata"]["episode_id"] == b.observation["metadata"]["episode_id"]
            assert b.observation["task_id"] == ours.tasks("held_out")[3]
            assert ours.health()["sessions"] == before + 1
            c = client.reset(index=0)  # another task, still the same session
            assert c.observation["metadata"]["episode_id"] == a.observation["metadata"]["episode_id"]
            assert c.observation["split"] == "held_in"
        assert ours.health()["sessions"] == before


def test_bad_messages_are_error_frames_and_the_socket_lives_on(served):
    url = served("maze").url
    with GenericEnvClient(base_url=url).sync() as client:
        with pytest.raises(RuntimeError, match="reset message before the first step"):
            client.step({"action": "move north"})
        with pytest.raises(RuntimeError, match="VALIDATION_ERROR"):
            client.reset(task_id="maze-999x999-s1")
        with pytest.raises(RuntimeError, match="unknown_field|Extra inputs"):
            client.reset(colour="red")
        client.reset(index=0)
        with pytest.raises(RuntimeError, match="OpenEnvAction"):
            client.step({"act": "move north"})
        result = client.step({"action": "fly"})  # understood by the protocol, refused by the env
        assert result.observation["info"]["valid"] is False and "Unknown action" in result.observation["text"]


def test_http_shapes_are_openenvs(served):
    url = served("wordle").url
    schema = SchemaResponse.model_validate(httpx.get(url + "/schema").json())
    assert schema.action["required"] == ["action"]
    meta = EnvironmentMetadata.model_validate(httpx.get(url + "/metadata").json())
    assert meta.name == "wordle" and "Wordle" in meta.description
    reset = httpx.post(url + "/reset", json={"split": "held_in", "index": 2})
    assert reset.status_code == 200
    first = ResetResponse.model_validate(reset.json())
    episode = first.observation["metadata"]["episode_id"]
    step = httpx.post(url + "/step", json={"action": {"action": "guess crane"}, "episode_id": episode})
    parsed = StepResponse.model_validate(step.json())
    assert parsed.observation["task_id"] == first.observation["task_id"] and parsed.reward is not None
    state = State.model_validate(httpx.get(url + "/state", params={"episode_id": episode}).json())
    assert state.episode_id == episode and state.step_count == 1
    # an explicit session is needed over HTTP: a clear 4xx, never a fresh env per request
    r = httpx.post(url + "/step", json={"action": {"action": "guess crane"}})
    assert r.status_code == 400 and "episode_id" in r.json()["message"]
    r = httpx.post(url + "/step", json={"action": {"action": "guess crane"}, "episode_id": "nope"})
    assert r.status_code == 404 and r.json()["code"] == "unknown_session"
    again = httpx.post(url + "/reset", json={"episode_id": episode}).json()  # restarts that session
    assert again["observation"]["metadata"] == {"episode_id": episode, "step_count": 0}


def test_health_is_openenvs(served):
    url = served("wordle").url
    body = httpx.get(url + "/health").json()
    assert body["status"] == HealthStatus.HEALTHY.value
    # OpenEnv's own model forbids extra fields: ours (sessions, max_sessions) are the only difference
    extra = {"sessions", "max_sessions"}
    assert HealthResponse.model_validate({k: v for k, v in body.items() if k not in extra}).status == "healthy"
    assert set(body) - {"status"} == extra
    # `openenv validate <url>`: health, metadata and schema pass; no /mcp here (OpenEnv's MCP tools are not served)
    report = {c["id"]: c["passed"] for c in validate_running_environment(url)["criteria"]}
    assert report["health_endpoint"] and report["metadata_endpoint"] and report["schema_endpoint"]
    assert not report["mcp_endpoint"]


def test_websocket_needs_the_token_when_the_server_has_one(server_factory):
    server = server_factory("echo", token="s3cret")
    with pytest.raises(ConnectionError):
        GenericEnvClient(base_url=server.url).sync().connect()
    # openenv 0.10's client passes `headers=`; openenv-core 0.3's has none, so speak its messages directly
    ws_url = server.url.replace("http://", "ws://") + "/ws"
    with connect(ws_url, additional_headers={"Authorization": "Bearer s3cret"}) as ws:
        ws.send(json.dumps({"type": "reset", "data": {"index": 0}}))
        reply = json.loads(ws.recv())
        assert reply["type"] == "observation" and reply["data"]["observation"]["task_id"] == "echo-0"
