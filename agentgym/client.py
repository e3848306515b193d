"""Clients of the environment protocol: `EnvClient` (sync) and `AsyncEnvClient` mirror each other.

A client may be given several server URLs for one environment: new sessions are spread over them
round-robin and each session sticks to its server. Connection errors are retried with backoff; a
request that may have reached the server (a step, a create) is never sent twice.

`EnvClient` rides on httpx. `AsyncEnvClient` rides on aiohttp: measured here, httpx's AsyncClient
spends about 1.4 ms of CPU per request and fell to 236 steps/s with 64 concurrent sessions, while
aiohttp did 3,000-7,000 (bench/bench_protocol.py), and a runner with many episodes in flight needs that.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import aiohttp
import httpx
import orjson

from agentgym.env import Observation, StepResult
from agentgym.errors import AgentGymError, error_from_payload

# Errors raised before a request left this machine: safe to retry whatever the method.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, aiohttp.ClientConnectorError)


def observation_from(d: dict[str, Any]) -> Observation:
    return Observation(text=d["text"], available_actions=d.get("available_actions"), extra=d.get("extra") or {})


def step_result_from(d: dict[str, Any]) -> StepResult:
    return StepResult(
        observation=observation_from(d["observation"]),
        reward=d["reward"],
        terminated=d["terminated"],
        truncated=d["truncated"],
        info=d["info"],
    )


class _ClientBase:
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

    @staticmethod
    def _create_body(**fields: Any) -> dict[str, Any]:
        return {k: v for k, v in fields.items() if v is not None}


class EnvSession:
    """One episode on one server; closes itself when used as a context manager."""

    def __init__(self, client: EnvClient, url: str, payload: dict[str, Any]):
        self.client, self.url = client, url
        self.id: str = payload["session_id"]
        self._update(payload)

    def _update(self, payload: dict[str, Any]) -> None:
        self.task_id, self.split = payload["task_id"], payload["split"]
        self.observation = observation_from(payload["observation"])

    def step(self, action: str) -> StepResult:
        payload = self.client._request("POST", self.url, f"/sessions/{self.id}/step", {"action": action})
        result = step_result_from(payload)
        self.observation = result.observation
        return result

    def reset(self, task_id: str | None = None, seed: int | None = None) -> Observation:
        body = _ClientBase._create_body(task_id=task_id, seed=seed)
        self._update(self.client._request("POST", self.url, f"/sessions/{self.id}/reset", body))
        return self.observation

    def state(self) -> dict[str, Any]:
        return self.client._request("GET", self.url, f"/sessions/{self.id}")

    def html(self) -> str:
        """The current page as HTML, for environments that render pages (webshop)."""
        return self.client._request("GET", self.url, f"/sessions/{self.id}/html", text=True)

    def close(self) -> None:
        self.client._request("DELETE", self.url, f"/sessions/{self.id}")

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
            limits=httpx.Limits(max_connections=self.max_connections, max_keepalive_connections=self.max_connections),
        )

    def _request(self, method: str, url: str, path: str, body: dict | None = None, params: dict | None = None,
                 text: bool = False) -> Any:
        for attempt in itertools.count():
            try:
                r = self._http.request(method, url + path, json=body, params=params)
                return self._decode(r.status_code, r.content, text)
            except httpx.TransportError as exc:
                if not self._retryable(method, exc, attempt):
                    raise
                time.sleep(self.backoff * 2**attempt)

    def health(self, url: str | None = None) -> dict[str, Any]:
        return self._request("GET", url or self.urls[0], "/health")

    def info(self) -> dict[str, Any]:
        return self._request("GET", self.urls[0], "/info")

    def tasks(self, split: str = "held_in") -> list[str]:
        return self._request("GET", self.urls[0], "/tasks", params={"split": split})["tasks"]

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        return self.expert_plan(task_id, seed)["actions"]

    def expert_plan(self, task_id: str, seed: int | None = None) -> dict[str, Any]:
        """The expert's `actions` and, where the env gives them, its `thoughts` (a reason per action)."""
        params = {"seed": seed} if seed is not None else None
        return self._request("GET", self.urls[0], f"/tasks/{task_id}/expert", params=params)

    def session(
        self,
        task_id: str | None = None,
        split: str | None = None,
        index: int | None = None,
        seed: int | None = None,
        max_steps: int | None = None,
    ) -> EnvSession:
        """Create a session on a task (by id, or the `index`-th task of `split`)."""
        url = next(self._next_url)
        body = self._create_body(task_id=task_id, split=split, index=index, seed=seed, max_steps=max_steps)
        return EnvSession(self, url, self._request("POST", url, "/sessions", body))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EnvClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncEnvSession:
    """The asyncio twin of `EnvSession`."""

    def __init__(self, client: AsyncEnvClient, url: str, payload: dict[str, Any]):
        self.client, self.url = client, url
        self.id: str = payload["session_id"]
        self._update(payload)

    _update = EnvSession._update

    async def step(self, action: str) -> StepResult:
        payload = await self.client._request("POST", self.url, f"/sessions/{self.id}/step", {"action": action})
        result = step_result_from(payload)
        self.observation = result.observation
        return result

    async def reset(self, task_id: str | None = None, seed: int | None = None) -> Observation:
        body = _ClientBase._create_body(task_id=task_id, seed=seed)
        self._update(await self.client._request("POST", self.url, f"/sessions/{self.id}/reset", body))
        return self.observation

    async def state(self) -> dict[str, Any]:
        return await self.client._request("GET", self.url, f"/sessions/{self.id}")

    async def html(self) -> str:
        """The current page as HTML, for environments that render pages (webshop)."""
        return await self.client._request("GET", self.url, f"/sessions/{self.id}/html", text=True)

    async def close(self) -> None:
        await self.client._request("DELETE", self.url, f"/sessions/{self.id}")

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
                connector=aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=self.max_connections),
                skip_auto_headers=("User-Agent",),
            )
        return self._http

    async def _request(
        self, method: str, url: str, path: str, body: dict | None = None, params: dict | None = None,
        text: bool = False,
    ) -> Any:
        data = orjson.dumps(body) if body is not None else None
        for attempt in itertools.count():
            try:
                async with self._session().request(method, url + path, data=data, params=params) as r:
                    return self._decode(r.status, await r.read(), text)
            except (TimeoutError, aiohttp.ClientError) as exc:
                if not self._retryable(method, exc, attempt):
                    raise
                await asyncio.sleep(self.backoff * 2**attempt)

    async def health(self, url: str | None = None) -> dict[str, Any]:
        return await self._request("GET", url or self.urls[0], "/health")

    async def info(self) -> dict[str, Any]:
        return await self._request("GET", self.urls[0], "/info")

    async def tasks(self, split: str = "held_in") -> list[str]:
        return (await self._request("GET", self.urls[0], "/tasks", params={"split": split}))["tasks"]

    async def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        return (await self.expert_plan(task_id, seed))["actions"]

    async def expert_plan(self, task_id: str, seed: int | None = None) -> dict[str, Any]:
        """The expert's `actions` and, where the env gives them, its `thoughts` (a reason per action)."""
        params = {"seed": seed} if seed is not None else None
        return await self._request("GET", self.urls[0], f"/tasks/{task_id}/expert", params=params)

    async def session(
        self,
        task_id: str | None = None,
        split: str | None = None,
        index: int | None = None,
        seed: int | None = None,
        max_steps: int | None = None,
    ) -> AsyncEnvSession:
        """Create a session on a task (by id, or the `index`-th task of `split`)."""
        url = next(self._next_url)
        body = self._create_body(task_id=task_id, split=split, index=index, seed=seed, max_steps=max_steps)
        return AsyncEnvSession(self, url, await self._request("POST", url, "/sessions", body))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> AsyncEnvClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
