"""LLM backends behind one small interface: chat messages in, completions with token counts out.

- `OpenAIChatLLM`: any OpenAI-compatible endpoint (vLLM's server first of all);
- `VLLMEngineLLM`: vLLM's engine in this process, for offline batch use;
- `BatchedLLM`: a synchronous batch generator (HF `generate`, vLLM's offline `LLM`) behind the same interface;
- `ScriptedLLM`: a test double that answers from a script; never a real model.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import orjson

from agentgym.action_formats import tool_calls_from_api

Messages = list[dict[str, str]]
# OpenAI-compatible servers (vLLM's uvicorn among them) close idle connections after 5 s: closing ours after
# 3 s means no completion request goes down a connection the server is closing.
LLM_IDLE_CLOSE_S = 3.0


@dataclass
class Sampling:
    """Sampling parameters, named as in the OpenAI API."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 128
    stop: list[str] | None = None
    seed: int | None = None
    extra: dict[str, Any] | None = None  # backend-specific fields sent as is (vLLM: ignore_eos, min_tokens)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def request_fields(self) -> dict[str, Any]:
        """The fields of an OpenAI-style request: those set, `extra` merged in (cheaper than `asdict` per call)."""
        fields = {k: v for k, v in self.__dict__.items() if v is not None and k != "extra"}
        return {**fields, **(self.extra or {})}


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] | None = None  # native tool calls (arguments decoded), when the API gave any


class LLMError(RuntimeError):
    """The LLM endpoint failed or refused a request."""


class LLM(ABC):
    """What the runner needs of a model."""

    model: str = ""

    @abstractmethod
    async def chat(self, messages: Messages, sampling: Sampling, n: int = 1) -> list[Completion]:
        """`n` sampled replies to a conversation."""

    async def resolve_model(self) -> str:
        """The model's name, asking the backend when it was not given."""
        return self.model

    async def aclose(self) -> None:  # noqa: B027 (optional hook: most backends hold nothing)
        """Release connections or engines."""


class OpenAIChatLLM(LLM):
    """An OpenAI-compatible `/v1/chat/completions` endpoint (vLLM, or any other server).

    `max_connections` 0 puts no cap on calls in flight: the caller bounds them (the runner by its concurrency),
    and a cap below it would shrink the batches the server can form (at 1,024 episodes, 512 before)."""

    def __init__(self, url: str, model: str | None = None, api_key: str | None = None,
                 timeout: float = 600.0, max_connections: int = 0, retries: int = 3):
        self.base = url.rstrip("/").removesuffix("/v1")
        self.model = model or ""
        self.retries = retries
        self._headers = {"content-type": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._timeout, self._max_connections = timeout, max_connections
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=LLM_IDLE_CLOSE_S),
            )
        return self._http

    async def resolve_model(self) -> str:
        """The given model, or else the first one the endpoint serves."""
        if not self.model:
            async with self._session().get(self.base + "/v1/models") as r:
                self.model = (await r.json())["data"][0]["id"]
        return self.model

    async def chat(self, messages: Messages, sampling: Sampling, n: int = 1) -> list[Completion]:
        await self.resolve_model()
        body = {"model": self.model, "messages": messages, "n": n, **sampling.request_fields()}
        data = orjson.dumps(body)
        for attempt in itertools.count():
            try:
                async with self._session().post(self.base + "/v1/chat/completions", data=data) as r:
                    payload = orjson.loads(await r.read())
                    if r.status != 200:
                        raise LLMError(f"{self.base} answered HTTP {r.status}: {str(payload)[:500]}")
                    break
            except aiohttp.ClientConnectorError:
                if attempt >= self.retries:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
        usage = payload.get("usage") or {}
        choices = payload["choices"]
        # vLLM reports the total completion tokens of all n choices; split them evenly for accounting.
        per_choice = (usage.get("completion_tokens") or 0) // max(1, len(choices))
        return [
            Completion(
                text=c["message"].get("content") or "",
                prompt_tokens=usage.get("prompt_tokens") or 0,
                completion_tokens=per_choice,
                finish_reason=c.get("finish_reason"),
                tool_calls=tool_calls_from_api(c["message"].get("tool_calls")),
            )
            for c in choices
        ]

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


def vllm_sampling_params(sampling: Sampling, n: int = 1):
    """`Sampling` as vLLM's `SamplingParams` (for vLLM inside this process)."""
    from vllm import SamplingParams

    return SamplingParams(n=n, temperature=sampling.temperature, top_p=sampling.top_p, max_tokens=sampling.max_tokens,
                          stop=sampling.stop, seed=sampling.seed, **(sampling.extra or {}))


class VLLMEngineLLM(LLM):
    """vLLM's asynchronous engine inside this process (continuous batching, no HTTP)."""

    def __init__(self, model: str = "smollm2", max_model_len: int = 4096, **engine_kwargs: Any):
        from agentgym.models import resolve_model
        from agentgym.vllm_server import is_cpu_build, serving_dtype

        if is_cpu_build():
            import os

            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        from transformers import AutoTokenizer
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        path = resolve_model(model)
        self.model = str(model)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        args = AsyncEngineArgs(model=path, max_model_len=max_model_len, dtype=serving_dtype(), **engine_kwargs)
        self.engine = AsyncLLM.from_engine_args(args)

    async def chat(self, messages: Messages, sampling: Sampling, n: int = 1) -> list[Completion]:
        prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        final = None
        async for out in self.engine.generate(prompt, vllm_sampling_params(sampling, n), request_id=uuid.uuid4().hex):
            final = out
        prompt_tokens = len(final.prompt_token_ids or [])
        return [Completion(o.text, prompt_tokens, len(o.token_ids), o.finish_reason) for o in final.outputs]

    async def aclose(self) -> None:
        self.engine.shutdown()


BatchGenerate = Callable[[list[Messages], Sampling], list[Completion]]


class BatchedLLM(LLM):
    """A synchronous batch generator behind the async interface: concurrent `chat` calls become one batch.

    The runner plays each episode in its own task and awaits one reply per turn; a model that generates in
    batches (HF `generate`, vLLM's offline `LLM` as TRL colocates it) would otherwise see one prompt at a time.
    A batch leaves when `max_wait` seconds pass without a new request, or when it holds `max_batch` prompts;
    while it generates (in a worker thread) the next one fills up. `max_batch=1` is the sequential loop.
    Requests with different sampling go in different batches. `generate` gets one prompt per sample
    (a request for `n` samples appears `n` times) and returns one completion per prompt, in order.
    """

    def __init__(self, generate: BatchGenerate, name: str = "policy", max_batch: int = 256, max_wait: float = 0.02):
        self.generate, self.model = generate, name
        self.max_batch, self.max_wait = max(1, max_batch), max_wait
        self.batch_sizes: list[int] = []  # prompts per generate call, for benchmarks and tests
        self.generate_s = 0.0  # seconds spent inside `generate`
        self._loop: asyncio.AbstractEventLoop | None = None

    def _bind(self) -> None:
        # asyncio primitives belong to one loop; GRPO runs one `asyncio.run` per training step.
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._pending, self._arrived, self._worker = loop, [], asyncio.Event(), None

    async def chat(self, messages: Messages, sampling: Sampling, n: int = 1) -> list[Completion]:
        self._bind()
        reply = self._loop.create_future()
        self._pending.append((messages, sampling, n, reply))
        self._arrived.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())
        return await reply

    async def _work(self) -> None:
        while self._pending:
            while sum(r[2] for r in self._pending) < self.max_batch:  # wait for the other episodes' turns
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), self.max_wait)
                except TimeoutError:
                    break
            batch, size = [], 0
            while self._pending and (not batch or size + self._pending[0][2] <= self.max_batch):
                batch.append(self._pending.pop(0))
                size += batch[-1][2]
            groups: dict[bytes, list] = {}
            for request in batch:
                groups.setdefault(orjson.dumps(request[1].to_dict(), option=orjson.OPT_SORT_KEYS), []).append(request)
            for group in groups.values():
                await self._generate(group)

    async def _generate(self, group: list) -> None:
        prompts = [messages for messages, _, n, _ in group for _ in range(n)]
        self.batch_sizes.append(len(prompts))
        t0 = time.perf_counter()
        try:
            outputs = await asyncio.to_thread(self.generate, prompts, group[0][1])
            self.generate_s += time.perf_counter() - t0
            if len(outputs) != len(prompts):
                raise LLMError(f"batch generate returned {len(outputs)} completions for {len(prompts)} prompts")
        except Exception as e:  # every caller of this batch gets the error; later batches still run
            for *_, reply in group:
                if not reply.done():
                    reply.set_exception(e)
            return
        start = 0
        for _, _, n, reply in group:
            if not reply.done():
                reply.set_result(outputs[start:start + n])
            start += n


class ScriptedLLM(LLM):
    """TEST DOUBLE: answers from a list of replies (cycled) or a function of the messages.

    Token counts are whitespace word counts. Use it in unit tests only.
    """

    def __init__(self, replies: list[str] | Callable[[Messages], str], model: str = "scripted"):
        self.model = model
        if callable(replies):
            self._reply = replies
        else:
            script = itertools.cycle(replies)
            self._reply = lambda _messages: next(script)
        self.calls: list[Messages] = []

    async def chat(self, messages: Messages, sampling: Sampling, n: int = 1) -> list[Completion]:
        self.calls.append([dict(m) for m in messages])
        out = []
        for _ in range(n):
            text = self._reply(messages)
            out.append(Completion(text, sum(len(m["content"].split()) for m in messages), len(text.split()), "stop"))
        await asyncio.sleep(0)
        return out
