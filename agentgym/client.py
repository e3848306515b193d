"""Clients of the environment protocol: `EnvClient` (sync) and `AsyncEnvClient` mirror each other.

A client may be given several server URLs for one environment: new sessions are spread over them
round-robin and each session sticks to its server. Connection errors are retried with backoff; a
request that may have reached the server (a step, a create) is never sent twice.

`EnvClient` rides on httpx. `AsyncEnvClient` rides on aiohttp: measured here, httpx's AsyncClient
spends about 1.4 ms of CPU per request and fell to 236 steps/s with 64 concurrent sessions, while
aiohttp did 3,000-7,000 (bench/bench_protocol.py), and a runner with many episodes in flight needs that.
Both build their requests alike (`Call`, in `_ClientBase` and `_SessionBase`); only sending differs.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import orjson

from agentgym.env import Observation, StepResult
from agentgym.errors import AgentGymError, error_from_payload

# Idle connections are closed by the client after this long, well before the server would
# (agentgym.env_server.KEEP_ALIVE_S): a request never goes down a connection the server is closing.
IDLE_CLOSE_S = 30.0

# Errors raised before a request left this machine: safe to retry whatever the method.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, aiohttp.ClientConnectorError)


def observation_from(d: dict[str, Any]) -> Observation:
    """An `Observation` from its JSON form."""
    return Observation(text=d["text"], available_actions=d.get("available_actions"), extra=d.get("extra") or {})


def step_result_from(d: dict[str, Any]) -> StepResult:
    """A `StepResult` from its JSON form."""
    return StepResult(
        observation=observation_from(d["observation"]),
        reward=d["reward"],
        terminated=d["terminated"],
        truncated=d["truncated"],
        info=d["info"],
    )


def _as_is(payload: Any) -> Any:
    return payload


@dataclass(frozen=True)
class Call:
    """One request of the protocol: where it goes, what it sends, and how its JSON reply is read."""

    method: str
    url: str
    path: str
    body: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    read: Callable[[Any], Any] = _as_is
    text: bool = False  # the reply is a page (text/html), not JSON


def _fields(**fields: Any) -> dict[str, Any]:
    """The fields that are set (a request body or query without its defaults)."""
    return {k: v for k, v in fields.items() if v is not None}


class _ClientBase:
    """What both clients share: server URLs, retry rules, decoding, and the requests they send."""

    def __init__(
        self,
        urls: str | list[str],
        token: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.25,
        max_connections: int = 256,
    ):
        self.urls = [u.rstrip("/") for u in ([urls] if isinstance(urls, str) else urls)]
        if not self.urls:
            raise ValueError("EnvClient needs at least one server URL")
        self._next_url = itertools.cycle(self.urls)
        self.retries = retries
        self.backoff = backoff
        self.headers = {"authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout
        self.max_connections = max_connections

    def _retryable(self, method: str, exc: Exception, attempt: int) -> bool:
        if attempt >= self.retries:
            return False
        return isinstance(exc, NOT_SENT) or method in ("GET", "DELETE")

    @staticmethod
    def _decode(status: int, content: bytes, text: bool = False) -> Any:
        if text and status < 400:
            return content.decode("utf-8", errors="replace")
        try:
            payload = orjson.loads(content)
        except orjson.JSONDecodeError:
            payload = {"code": "error", "message": content[:500].decode(errors="replace")}
        if status >= 400:
            raise error_from_payload(payload if isinstance(payload, dict) else {}, status)
        return payload

    # -- the requests ------------------------------------------------------------------------
    def _health(self, url: str | None) -> Call:
        return Call("GET", url or self.urls[0], "/health")

    def _info(self) -> Call:
        return Call("GET", self.urls[0], "/info")

    def _tasks(self, split: str) -> Call:
        return Call("GET", self.urls[0], "/tasks", params={"split": split}, read=lambda r: r["tasks"])

    def _expert(self, task_id: str, seed: int | None, plan: bool = False) -> Call:
        params = _fields(seed=seed) or None
        return Call("GET", self.urls[0], f"/tasks/{task_id}/expert", params=params,
                    read=_as_is if plan else lambda r: r["actions"])

    def _create(self, session_cls: type, **fields: Any) -> Call:
        """Open a session on the next server; the reply is read into a `session_cls` bound to that server."""
        url = next(self._next_url)
        return Call("POST", url, "/sessions", _fields(**fields), read=lambda r: session_cls(self, url, r))


class _SessionBase:
    """What both session kinds share: their state and the requests they send."""

    def __init__(self, client: Any, url: str, payload: dict[str, Any]):
        self.client, self.url = client, url
        self.id: str = payload["session_id"]
        self._update(payload)

    def _update(self, payload: dict[str, Any]) -> Observation:
        self.task_id, self.split = payload["task_id"], payload["split"]
        self.observation = observation_from(payload["observation"])
        return self.observation

    def _stepped(self, payload: dict[str, Any]) -> StepResult:
        result = step_result_from(payload)
        self.observation = result.observation
        return result

    def _step(self, action: str) -> Call:
        return Call("POST", self.url, f"/sessions/{self.id}/step", {"action": action}, read=self._stepped)

    def _reset(self, task_id: str | None, seed: int | None) -> Call:
        body = _fields(task_id=task_id, seed=seed)
        return Call("POST", self.url, f"/sessions/{self.id}/reset", body, read=self._update)

    def _state(self) -> Call:
        return Call("GET", self.url, f"/sessions/{self.id}")

    def _html(self) -> Call:
        return Call("GET", self.url, f"/sessions/{self.id}/html", text=True)

    def _close(self) -> Call:
        return Call("DELETE", self.url, f"/sessions/{self.id}")


class EnvSession(_SessionBase):
    """One episode on one server; closes itself when used as a context manager."""

    client: EnvClient

    def step(self, action: str) -> StepResult:
        """Take one action."""
        return self.client._send(self._step(action))

    def reset(self, task_id: str | None = None, seed: int | None = None) -> Observation:
        """Start a new episode in this session (the same task unless `task_id` is given)."""
        return self.client._send(self._reset(task_id, seed))

    def state(self) -> dict[str, Any]:
        """The server's record of this session: task, steps, budget, done, total reward."""
        return self.client._send(self._state())

    def html(self) -> str:
        """The current page as HTML, for environments that render pages (webshop)."""
        return self.client._send(self._html())

    def close(self) -> None:
        """End the session on its server."""
        self.client._send(self._close())

    def __enter__(self) -> EnvSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.close()
        except AgentGymError:
            pass  # already closed or expired: nothing left to free


class EnvClient(_ClientBase):
    """Synchronous client for one environment served by one or more servers."""

    def __init__(self, urls: str | list[str], **kwargs: Any):
        super().__init__(urls, **kwargs)
        self._http = httpx.Client(
            headers=self.headers,
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            limits=httpx.Limits(max_connections=self.max_connections, max_keepalive_connections=self.max_connections,
                                keepalive_expiry=IDLE_CLOSE_S),
        )

    def _send(self, call: Call) -> Any:
        for attempt in itertools.count():
            try:
                r = self._http.request(call.method, call.url + call.path, json=call.body, params=call.params)
                return call.read(self._decode(r.status_code, r.content, call.text))
            except httpx.TransportError as exc:
                if not self._retryable(call.method, exc, attempt):
                    raise
                time.sleep(self.backoff * 2**attempt)

    def health(self, url: str | None = None) -> dict[str, Any]:
        """The health of a server (the first one unless `url` is given)."""
        return self._send(self._health(url))

    def info(self) -> dict[str, Any]:
        """The environment's metadata: name, instruction, action format, step budget."""
        return self._send(self._info())

    def tasks(self, split: str = "held_in") -> list[str]:
        """The task ids of a split."""
        return self._send(self._tasks(split))

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """The expert's actions that solve a task."""
        return self._send(self._expert(task_id, seed))

    def expert_plan(self, task_id: str, seed: int | None = None) -> dict[str, Any]:
        """The expert's `actions` and, where the env gives them, its `thoughts` (a reason per action)."""
        return self._send(self._expert(task_id, seed, plan=True))

    def session(
        self,
        task_id: str | None = None,
        split: str | None = None,
        index: int | None = None,
        seed: int | None = None,
        max_steps: int | None = None,
    ) -> EnvSession:
        """Create a session on a task (by id, or the `index`-th task of `split`)."""
        return self._send(
            self._create(EnvSession, task_id=task_id, split=split, index=index, seed=seed, max_steps=max_steps)
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> EnvClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncEnvSession(_SessionBase):
    """The asyncio twin of `EnvSession`."""

    client: AsyncEnvClient

    async def step(self, action: str) -> StepResult:
        """Take one action."""
        return await self.client._send(self._step(action))

    async def reset(self, task_id: str | None = None, seed: int | None = None) -> Observation:
        """Start a new episode in this session (the same task unless `task_id` is given)."""
        return await self.client._send(self._reset(task_id, seed))

    async def state(self) -> dict[str, Any]:
        """The server's record of this session: task, steps, budget, done, total reward."""
        return await self.client._send(self._state())

    async def html(self) -> str:
        """The current page as HTML, for environments that render pages (webshop)."""
        return await self.client._send(self._html())

    async def close(self) -> None:
        """End the session on its server."""
        await self.client._send(self._close())

    async def __aenter__(self) -> AsyncEnvSession:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.close()
        except AgentGymError:
            pass


class AsyncEnvClient(_ClientBase):
    """Asynchronous client for one environment served by one or more servers."""

    def __init__(self, urls: str | list[str], **kwargs: Any):
        super().__init__(urls, **kwargs)
        self._http: aiohttp.ClientSession | None = None  # made lazily: it must belong to the running loop

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                headers={"content-type": "application/json", **self.headers},
                timeout=aiohttp.ClientTimeout(total=self.timeout, connect=min(self.timeout, 10.0)),
                connector=aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=self.max_connections,
                                               keepalive_timeout=IDLE_CLOSE_S),
                skip_auto_headers=("User-Agent",),
            )
        return self._http

    async def _send(self, call: Call) -> Any:
        data = orjson.dumps(call.body) if call.body is not None else None
        for attempt in itertools.count():
            try:
                async with self._session().request(call.method, call.url + call.path, data=data,
                                                   params=call.params) as r:
                    return call.read(self._decode(r.status, await r.read(), call.text))
            except (TimeoutError, aiohttp.ClientError) as exc:
                if not self._retryable(call.method, exc, attempt):
                    raise
                await asyncio.sleep(self.backoff * 2**attempt)

    async def health(self, url: str | None = None) -> dict[str, Any]:
        """The health of a server (the first one unless `url` is given)."""
        return await self._send(self._health(url))

    async def info(self) -> dict[str, Any]:
        """The environment's metadata: name, instruction, action format, step budget."""
        return await self._send(self._info())

    async def tasks(self, split: str = "held_in") -> list[str]:
        """The task ids of a split."""
        return await self._send(self._tasks(split))

    async def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """The expert's actions that solve a task."""
        return await self._send(self._expert(task_id, seed))

    async def expert_plan(self, task_id: str, seed: int | None = None) -> dict[str, Any]:
        """The expert's `actions` and, where the env gives them, its `thoughts` (a reason per action)."""
        return await self._send(self._expert(task_id, seed, plan=True))

    async def session(
        self,
        task_id: str | None = None,
        split: str | None = None,
        index: int | None = None,
        seed: int | None = None,
        max_steps: int | None = None,
    ) -> AsyncEnvSession:
        """Create a session on a task (by id, or the `index`-th task of `split`)."""
        return await self._send(
            self._create(AsyncEnvSession, task_id=task_id, split=split, index=index, seed=seed, max_steps=max_steps)
        )

    async def close(self) -> None:
        """Close the connection pool."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> AsyncEnvClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
