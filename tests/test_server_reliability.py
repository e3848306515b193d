"""Defects of issue 13 reproduced against real servers: each request here once got a 500, a race or a crash."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from agentgym.env_server import EnvServer, parse_env_options
from agentgym.errors import ERRORS_BY_CODE, EnvTimeout, NotFound, UnknownTask
from agentgym.protocol import ROUTES, ClosedResponse, openapi_schema
from agentgym.server import create_app
from agentgym.sessions import SessionManager
from envs.echo import EchoEnv
from envs.textworld import TextWorldEnv, games
from tests.fake_envs import SleepyInlineEnv, WatchCloseEnv


def raw_request(url: str, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes no HTTP client would send as they are; return status, headers and body."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header, _, body = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_unknown_split_is_a_400_that_names_the_splits(maze):
    r = httpx.post(maze.url + "/sessions", json={"split": "train"})
    assert r.status_code == 400 and r.json()["code"] == "malformed_body"
    assert "held_in" in r.json()["message"] and "held_out" in r.json()["message"]


def test_step_budget_is_bounded(maze):
    r = httpx.post(maze.url + "/sessions", json={"max_steps": 2**70})
    assert r.status_code == 400 and "max_steps" in r.json()["message"]
    r = httpx.post(maze.url + "/sessions", json={"seed": 2**70})
    assert r.status_code == 400 and "seed" in r.json()["message"]


def test_a_response_that_cannot_be_encoded_is_still_json(server_factory):
    server = server_factory("tests.fake_envs:UnencodableEnv")
    sid = httpx.post(server.url + "/sessions", json={}).json()["session_id"]
    r = httpx.post(f"{server.url}/sessions/{sid}/step", json={"action": "x"})
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json() == {"code": "internal", "message": "the response could not be encoded"}
    assert httpx.get(f"{server.url}/sessions/{sid}").json()["steps"] == 1  # the session lives on


@pytest.mark.parametrize("seed", ["--1", "²", "1" * 5000, "-1", "1.5", str(2**32)])
def test_bad_seeds_in_the_query_are_400(maze, seed):
    task = httpx.get(maze.url + "/tasks").json()["tasks"][0]
    r = httpx.get(f"{maze.url}/tasks/{task}/expert", params={"seed": seed})
    assert r.status_code == 400 and r.json()["code"] == "bad_request" and "seed" in r.json()["message"]


def test_a_query_string_of_many_fields_is_400(maze):
    """Found by schemathesis: 25 repeated `seed` parameters tripped parse_qs's field limit (a 500)."""
    task = httpx.get(maze.url + "/tasks").json()["tasks"][0]
    r = httpx.get(f"{maze.url}/tasks/{task}/expert", params=[("seed", str(i)) for i in range(25)])
    assert r.status_code == 400 and "more than 20 parameters" in r.json()["message"]


def test_a_query_string_that_is_not_utf8_is_400(maze):
    """httptools refuses a raw 0xFF in the URL itself; other HTTP servers (h11) hand it to the app."""
    status, _, _ = raw_request(maze.url, b"GET /tasks?split=\xff HTTP/1.1")
    assert status == 400
    app = create_app(EchoEnv)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/tasks", "query_string": b"split=\xff", "headers": [],
             "server": ("127.0.0.1", 8100)}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert orjson.loads(sent[1]["body"])["message"] == "the query string is not valid UTF-8"


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PUT", "/sessions", "POST"), ("TRACE", "/health", "GET"), ("HEAD", "/info", "GET"),
    ("PATCH", "/sessions/abc", "GET, DELETE"), ("GET", "/sessions/abc/step", "POST"),
])
def test_undeclared_methods_are_405_with_allow(maze, method, path, allow):
    r = httpx.request(method, maze.url + path)
    assert r.status_code == 405 and r.headers["allow"] == allow
    if method != "HEAD":
        assert r.json()["code"] == "method_not_allowed"


def test_unknown_paths_are_404_not_found(maze):
    r = httpx.get(maze.url + "/sessions/abc/frobnicate")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert ERRORS_BY_CODE["not_found"] is NotFound


def test_concurrent_creates_never_exceed_the_cap(server_factory):
    server = server_factory("tests.fake_envs:SlowStartEnv", max_sessions=2)

    async def create_many(n: int) -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:
            replies = await asyncio.gather(*(client.post(server.url + "/sessions", json={}) for _ in range(n)))
        return [r.status_code for r in replies]

    statuses = asyncio.run(create_many(20))
    assert sorted(statuses) == [200] * 2 + [503] * 18
    assert httpx.get(server.url + "/health").json()["sessions"] == 2


def test_delete_waits_for_the_step_in_flight(server_factory):
    server = server_factory("tests.fake_envs:WatchCloseEnv")
    sid = httpx.post(server.url + "/sessions", json={}).json()["session_id"]

    async def step_then_delete() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            step = asyncio.ensure_future(client.post(f"{server.url}/sessions/{sid}/step", json={"action": "a"}))
            await asyncio.sleep(0.2)  # the step is inside the env now
            delete = await client.delete(f"{server.url}/sessions/{sid}")
            after = await client.post(f"{server.url}/sessions/{sid}/step", json={"action": "b"})
            return await step, delete, after

    step, delete, after = asyncio.run(step_then_delete())
    assert step.status_code == 200 and step.json()["info"]["closed_during_step"] is False
    assert delete.status_code == 200 and delete.json()["code"] == "closed"
    assert after.status_code == 404 and after.json()["code"] == "unknown_session"


def test_the_reaper_spares_a_session_used_while_it_reaps():
    """The reaper closes idle sessions one by one; a session stepped meanwhile must not be closed under it."""

    class SlowClose(WatchCloseEnv):
        def close(self) -> None:
            time.sleep(0.3)
            super().close()

    async def scenario() -> tuple[dict, int]:
        manager = SessionManager(SlowClose, ttl=1.0)
        first = await manager.create("echo-1", "held_in", None, None)
        second = await manager.create("echo-2", "held_in", None, None)
        first.last_used = second.last_used = time.monotonic() - 10  # both idle past the TTL
        reaping = asyncio.ensure_future(manager.reap())
        await asyncio.sleep(0.1)  # the reaper is closing the first session
        result = await manager.step(manager.get(second.id), "still here")
        reaped = await reaping
        await manager.close_all()
        return result.info, reaped

    info, reaped = asyncio.run(scenario())
    assert info["closed_during_step"] is False and reaped == 1


def test_cross_site_requests_are_refused(maze):
    r = httpx.post(maze.url + "/sessions", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"
    r = httpx.post(maze.url + "/sessions", json={}, headers={"origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = httpx.get(maze.url + "/info", headers={"host": "rebound.example:8100"})  # DNS rebinding
    assert r.status_code == 403
    same_origin = "http://" + urlsplit(maze.url).netloc
    assert httpx.post(maze.url + "/sessions", json={}, headers={"origin": same_origin}).status_code == 200


def test_a_token_server_takes_other_origins(server_factory):
    server = server_factory("echo", token="s3cret")
    headers = {"authorization": "Bearer s3cret", "origin": "https://notebook.example"}
    assert httpx.post(server.url + "/sessions", json={}, headers=headers).status_code == 200


def test_dispatch_and_openapi_come_from_one_declaration(maze):
    spec = httpx.get(maze.url + "/openapi.json").json()
    declared = {(r.method.lower(), r.path) for r in ROUTES}
    assert {(m, p) for p, ops in spec["paths"].items() for m in ops} == declared
    sid = httpx.post(maze.url + "/sessions", json={}).json()["session_id"]
    task = httpx.get(maze.url + "/tasks").json()["tasks"][0]
    for route in ROUTES:
        path = route.path.replace("{session_id}", sid).replace("{task_id}", task)
        body = {"action": "north"} if route.handler == "step" else {} if route.method == "POST" else None
        r = httpx.request(route.method, maze.url + path, json=body)
        allowed = {200, *(e.status for e in route.all_errors())}
        assert r.status_code in allowed, (route.path, r.status_code, r.text)
        media = route.media_type if r.status_code == 200 else "application/json"
        assert r.headers["content-type"].startswith(media), route.path
    ops = openapi_schema()["paths"]
    assert ops["/sessions/{session_id}"]["delete"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ClosedResponse"}
    assert "text/html" in ops["/sessions/{session_id}/html"]["get"]["responses"]["200"]["content"]
    assert "404" in ops["/sessions/{session_id}/html"]["get"]["responses"]
    assert ClosedResponse.model_fields["code"].annotation is not str


def test_manager_reserves_the_slot_before_it_awaits():
    async def scenario() -> list[str]:
        manager = SessionManager(lambda: WatchCloseEnv(), max_sessions=1)
        results = await asyncio.gather(*(manager.create("echo-1", "held_in", None, None) for _ in range(5)),
                                       return_exceptions=True)
        await manager.close_all()
        return [type(r).__name__ for r in results]

    assert sorted(asyncio.run(scenario())) == ["Session"] + ["TooManySessions"] * 4


def test_llm_serve_refuses_public_bind_without_a_key():
    proc = subprocess.run([sys.executable, "-m", "agentgym.cli", "llm", "serve", "--host", "0.0.0.0"],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2 and "--api-key" in proc.stderr


@pytest.mark.parametrize("env, action", [
    ("tests.fake_envs:SleepyEnv", "sleep"),  # a step in the pool: left to finish, its session closed at once
    ("tests.fake_envs:SpinningEnv", "spin"),  # a step on the event loop: interrupted by the watchdog
])
def test_an_env_call_past_the_timeout_ends_only_its_session(server_factory, env, action):
    server = server_factory(env, call_timeout=1.0)
    stuck = httpx.post(server.url + "/sessions", json={}).json()["session_id"]
    other = httpx.post(server.url + "/sessions", json={}).json()["session_id"]
    r = httpx.post(f"{server.url}/sessions/{stuck}/step", json={"action": action}, timeout=30)
    assert r.status_code == 504 and r.json()["code"] == "env_timeout" and "1 s" in r.json()["message"]
    assert httpx.get(f"{server.url}/sessions/{stuck}").status_code == 404
    # Other sessions go on: the stuck call runs on in its thread, or was interrupted and freed the event loop.
    r = httpx.post(f"{server.url}/sessions/{other}/step", json={"action": "hi"}, timeout=5)
    assert r.status_code == 200 and r.json()["observation"]["text"] == "hi"


def test_inline_steps_off_the_main_thread_go_to_the_pool_and_still_time_out():
    """SIGALRM reaches only the main thread: a server running elsewhere must not run inline steps unguarded."""

    async def scenario() -> str:
        manager = SessionManager(SleepyInlineEnv, call_timeout=0.5)
        session = await manager.create("echo-1", "held_in", None, None)
        try:
            await manager.step(session, "sleep")  # 3 s: past the timeout
            return "returned"
        except EnvTimeout as exc:
            return str(exc)
        finally:
            await manager.close_all()

    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(asyncio.run(scenario())))
    thread.start()
    thread.join(timeout=60)
    assert outcome and "did not finish step within 0.5 s" in outcome[0]


def test_textworld_plays_unlisted_games_only_within_its_budget(server_factory, tmp_path, monkeypatch):
    unlisted = "tw-cooking-r1-g1-s12345"  # well formed, held out, never listed: generating it costs seconds
    cache = {"AGENTGYM_CACHE": str(tmp_path)}
    default = server_factory("textworld", extra_env=cache)
    r = httpx.post(default.url + "/sessions", json={"task_id": unlisted}, timeout=120)
    assert r.status_code == 404 and "not listed" in r.json()["message"]
    assert httpx.get(f"{default.url}/tasks/{unlisted}/expert", timeout=120).status_code == 404
    assert httpx.get(default.url + "/health").json()["sessions"] == 0  # the refused session is gone
    assert not any(tmp_path.rglob("meta.json"))  # nothing was generated
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))
    (games.games_root() / "tw-cooking-r1-g1-s99999").mkdir(parents=True)  # one unlisted game in the cache
    with pytest.raises(UnknownTask, match="at most 1 unlisted"):
        TextWorldEnv(unlisted_games=1).expert(unlisted)
    assert "--env-option" in EnvServer("textworld", env_options={"unlisted_games": 1}).command()
    assert parse_env_options(["unlisted_games=1", "name=x"]) == {"unlisted_games": 1, "name": "x"}


def test_an_idle_connection_outlives_the_clients_own_idle_close(maze):
    # With uvicorn's 5 s keep-alive, an agent thinking ~5 s between steps sent its step down a connection the
    # server was closing: "Connection reset by peer", an episode lost (7 of 256 sessions at 256 in flight).
    # The server now keeps an idle connection longer than any client of ours keeps one open.
    from agentgym.client import IDLE_CLOSE_S
    from agentgym.env_server import KEEP_ALIVE_S

    assert IDLE_CLOSE_S < KEEP_ALIVE_S
    parts = urlsplit(maze.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        sock.sendall(request)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(6.5)  # past uvicorn's default keep-alive
        sock.sendall(request)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")  # the same connection still serves
