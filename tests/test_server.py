"""The protocol through a real HTTP server: every error code, sessions, locks, TTL, cap, auth."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from pathlib import Path

import httpx
import pytest

from agentgym import AsyncEnvClient, EnvClient
from agentgym.env_server import check_exposure
from agentgym.errors import (
    AgentGymError,
    EnvFailure,
    EpisodeDone,
    PayloadTooLarge,
    TooManySessions,
    Unauthorized,
    UnknownSession,
    UnknownTask,
)
from agentgym.netutil import free_port
from agentgym.protocol import openapi_schema


@pytest.fixture(scope="module")
def crash_server(server_factory):
    return server_factory("tests.fake_envs:CrashEnv")


@pytest.fixture(scope="module")
def slow_server(server_factory):
    return server_factory("tests.fake_envs:SlowEnv")


def test_episode_round_trip(echo_server):
    with EnvClient(echo_server.url) as client:
        assert client.info()["name"] == "echo"
        assert client.tasks("held_out")[0] == "echo-100"
        with client.session(split="held_out", index=2) as s:
            assert (s.task_id, s.split) == ("echo-102", "held_out")
            assert s.step("hello").observation.text == "hello"
            result = s.step("finish")
            assert result.done and result.info["won"] and result.reward == 1.0
            state = s.state()
            assert state["steps"] == 2 and state["done"] and state["total_reward"] == 1.0
            with pytest.raises(EpisodeDone, match="reset it"):
                s.step("again")
            assert s.reset().text.startswith("echo task echo-102")
            assert not s.step("x").done


def test_malformed_json_is_400(echo_server):
    r = httpx.post(echo_server.url + "/sessions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "malformed_body"
    r = httpx.post(echo_server.url + "/sessions", json={"task": "echo-1"})  # unknown field
    assert r.status_code == 400 and "task" in r.json()["message"]
    with EnvClient(echo_server.url) as client, client.session() as s:
        r = httpx.post(f"{echo_server.url}/sessions/{s.id}/step", json={"act": "x"})
        assert r.status_code == 400 and r.json()["code"] == "malformed_body"
        assert not s.step("still alive").done  # the session lost nothing


def test_unknown_session_and_task(echo_server):
    with EnvClient(echo_server.url) as client:
        with pytest.raises(UnknownTask, match="echo-0"):
            client.session(task_id="echo-9999")
        with pytest.raises(UnknownTask, match="out of range"):
            client.session(split="held_out", index=500)
        with pytest.raises(UnknownTask):
            client.expert("nope-1")
    r = httpx.post(echo_server.url + "/sessions/deadbeef/step", json={"action": "x"})
    assert r.status_code == 404 and r.json()["code"] == "unknown_session"
    r = httpx.get(echo_server.url + "/no/such/route")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_oversized_body_is_413_and_session_survives(echo_server):
    with EnvClient(echo_server.url) as client, client.session() as s:
        with pytest.raises(PayloadTooLarge, match="limit"):
            s.step("x" * 200_000)
        r = httpx.post(f"{echo_server.url}/sessions/{s.id}/step", json={"action": "y" * 5000})
        assert r.status_code == 400  # under the body limit but over the action limit
        assert s.step("ok").observation.text == "ok"


def test_env_exception_ends_only_that_session(crash_server):
    with EnvClient(crash_server.url) as client:
        victim, bystander = client.session(), client.session()
        with pytest.raises(EnvFailure, match="simulated environment failure") as err:
            victim.step("crash")
        assert err.value.status == 500
        with pytest.raises(UnknownSession):
            victim.step("hello")
        assert bystander.step("hello").observation.text == "hello"
        assert client.health()["status"] == "healthy"
        bystander.close()


def test_session_cap_gives_503_then_recovers(server_factory):
    server = server_factory("echo", max_sessions=3)
    with EnvClient(server.url) as client:
        sessions = [client.session() for _ in range(3)]
        with pytest.raises(TooManySessions, match="--max-sessions") as err:
            client.session()
        assert err.value.status == 503
        sessions[0].close()
        client.session().close()
        for s in sessions[1:]:
            s.close()


def test_idle_session_expires(server_factory):
    server = server_factory("echo", ttl=0.3)
    with EnvClient(server.url) as client:
        s = client.session()
        for _ in range(100):  # the reaper runs every ttl/4; wait until it has
            if client.health()["sessions"] == 0:
                break
            asyncio.run(asyncio.sleep(0.05))
        with pytest.raises(UnknownSession, match="expired"):
            s.step("late")


def test_steps_on_one_session_never_interleave(slow_server):
    async def main():
        async with AsyncEnvClient(slow_server.url) as client:
            a = await client.session(task_id="echo-1")
            b = await client.session(task_id="echo-2")
            results = await asyncio.gather(*(s.step(f"x{i}") for i in range(6) for s in (a, b)))
            return results

    results = asyncio.run(main())
    assert max(r.info["inside_same"] for r in results) == 1  # serialised per session
    assert max(r.info["inside_all"] for r in results) >= 2  # but sessions run side by side


def test_hundred_sessions_step_concurrently(echo_server):
    async def episode(client: AsyncEnvClient, i: int) -> int:
        async with await client.session(index=i % 100) as s:
            for k in range(20):
                assert (await s.step(f"{i}-{k}")).observation.text == f"{i}-{k}"
            return (await s.step("finish")).info["won"]

    async def main():
        async with AsyncEnvClient(echo_server.url) as client:
            return await asyncio.gather(*(episode(client, i) for i in range(100)))

    assert all(asyncio.run(main()))


def test_bearer_token(server_factory):
    server = server_factory("echo", token="s3cret")
    with EnvClient(server.url) as anonymous:
        assert anonymous.health()["status"] == "healthy"  # health stays open for probes
        with pytest.raises(Unauthorized):
            anonymous.session()
    with EnvClient(server.url, token="s3cret") as client, client.session() as s:
        assert s.step("hi").observation.text == "hi"


def test_exposure_needs_a_token():
    with pytest.raises(AgentGymError, match="--token"):
        check_exposure("0.0.0.0", None)
    check_exposure("0.0.0.0", "t")
    check_exposure("127.0.0.1", None)


def test_client_spreads_sessions_over_servers(server_factory):
    servers = [server_factory("echo"), server_factory("echo")]
    with EnvClient([s.url for s in servers]) as client:
        sessions = [client.session() for _ in range(6)]
        counts = [client.health(s.url)["sessions"] for s in servers]
        assert counts == [3, 3]
        for i, s in enumerate(sessions):  # each session sticks to the server that holds it
            assert s.step(f"m{i}").observation.text == f"m{i}"
            s.close()


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers: (its URL, the connections it accepted)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:  # the listener was closed
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    listener.close()
    for conn in accepted:
        conn.close()


def connections(accepted: list, at_least: int) -> int:
    """How many connections were accepted, once at least `at_least` were (the accept thread may lag)."""
    for _ in range(200):
        if len(accepted) >= at_least:
            break
        threading.Event().wait(0.02)
    return len(accepted)


def test_refused_connections_are_retried_then_raised():
    with EnvClient(f"http://127.0.0.1:{free_port()}", retries=2, backoff=0.01) as client:
        attempts: list[httpx.Request] = []
        client._http.event_hooks["request"] = [attempts.append]
        with pytest.raises(httpx.ConnectError):
            client.session()  # nothing was sent, so even a create is retried
        assert len(attempts) == 3


def test_sync_client_resends_only_what_cannot_have_been_applied(silent_server):
    url, accepted = silent_server
    with EnvClient(url, timeout=0.3, retries=2, backoff=0.01) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.tasks()  # a GET is safe to send again
        assert connections(accepted, 3) == 3
        with pytest.raises(httpx.ReadTimeout):
            client.session()  # a create may have reached the server: sent once
        assert connections(accepted, 4) == 4


def test_async_client_resends_only_what_cannot_have_been_applied(silent_server):
    url, accepted = silent_server

    async def main() -> None:
        async with AsyncEnvClient(url, timeout=0.3, retries=2, backoff=0.01) as client:
            with pytest.raises(TimeoutError):
                await client.tasks()
            assert connections(accepted, 3) == 3
            with pytest.raises(TimeoutError):
                await client.session()
            assert connections(accepted, 4) == 4

    asyncio.run(main())


def test_openapi_is_served_and_kept_in_repo(echo_server):
    served = httpx.get(echo_server.url + "/openapi.json").json()
    kept = json.loads((Path(__file__).parent.parent / "docs" / "openapi.json").read_text())
    assert served["paths"] == kept["paths"] == openapi_schema()["paths"]
    assert "/sessions/{session_id}/step" in kept["paths"]


def test_step_budget_truncates_the_episode(echo_server):
    with EnvClient(echo_server.url) as client:
        with client.session(max_steps=2) as s:
            assert not s.step("one").done
            last = s.step("two")
            assert last.truncated and not last.terminated and last.done
            assert last.observation.text == "two\n\nThe step budget (2) is spent: the episode is over."
            state = s.state()
            assert state["max_steps"] == 2 and state["observation"]["text"] == last.observation.text
            with pytest.raises(EpisodeDone):
                s.step("three")
            s.reset()  # a reset gives the budget back
            assert not s.step("one").done and s.step("two").truncated
        with client.session() as s:
            assert s.state()["max_steps"] == client.info()["max_steps"] == 1000  # the env's own budget
