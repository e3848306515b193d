"""The trajectory record: every turn of one episode, with flags for training and timings.

It lives in the core because the runner writes it; `trajectories/` stores, filters and exports it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEMA_VERSION = 1

# How an episode ended. Agent failures are the model's doing; infrastructure failures are not and are
# retried by a resumed run.
AGENT_FAILURES = ("lost", "out_of_steps", "gave_up")
INFRA_FAILURES = ("env_error", "llm_error")
ENDINGS = ("won", *AGENT_FAILURES, *INFRA_FAILURES)


@dataclass
class Turn:
    """One message of the conversation the agent saw (or, for `erroneous` turns, produced)."""

    role: str  # "system" | "user" | "assistant"
    text: str
    kind: str = "observation"  # instruction | observation | action | feedback | teacher | reflection
    action: str | None = None  # the parsed action of an assistant turn
    valid: bool | None = None  # did the env (or the parser) accept it
    erroneous: bool = False  # an assistant turn whose action was unparsable, invalid or corrected
    feedback: bool = False  # a user turn that tells the agent what went wrong
    refinement: bool = False  # an assistant turn that recovers right after an error
    reward: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    tool_calls: list[dict[str, Any]] | None = None  # an assistant turn's native tool calls (arguments as objects)


@dataclass
class Trajectory:
    env: str
    task_id: str
    split: str
    model: str
    episode: int = 0  # index of this episode in its collection run (the resume key with task_id)
    attempt: int = 0  # reflection attempts at the same task: 0, 1, ...
    feedback: list[str] = field(default_factory=list)
    sampling: dict[str, Any] = field(default_factory=dict)
    action_format: str = "react"  # react | function_calling | tool_calls (agentgym.action_formats)
    tools: list[dict[str, Any]] = field(default_factory=list)  # the OpenAI tool schemas offered, outside ReAct
    history: int | None = None  # past exchanges the agent saw at each turn (RunnerConfig.history); None: all
    turns: list[Turn] = field(default_factory=list)
    reward: float = 0.0
    score: float = 0.0
    won: bool = False
    steps: int = 0
    invalid_actions: int = 0
    error: str | None = None  # what went wrong in an infrastructure failure (env or LLM), or why the agent gave up
    ended: str = ""  # one of ENDINGS; derived from `won` and `error` when not given
    aborted: bool = False  # ended by the machinery (a server unreachable, overloaded, too slow): not a result
    started_at: float = field(default_factory=time.time)
    duration_s: float = 0.0
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    version: int = SCHEMA_VERSION

    @property
    def key(self) -> tuple[str, int]:
        return (self.task_id, self.episode)

    @property
    def infra_failure(self) -> bool:
        """Ended by the environment or the LLM failing, not by anything the agent did."""
        return self.ended in INFRA_FAILURES

    @property
    def completion_tokens(self) -> int:
        return sum(t.completion_tokens for t in self.turns)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trajectory:
        if d.get("version", 1) > SCHEMA_VERSION:
            raise ValueError(f"trajectory schema version {d['version']} is newer than this toolkit's {SCHEMA_VERSION}")
        known = {f.name for f in fields(cls)}
        turn_fields = {f.name for f in fields(Turn)}
        data = {k: v for k, v in d.items() if k in known}
        data["turns"] = [Turn(**{k: v for k, v in t.items() if k in turn_fields}) for t in d.get("turns", [])]
        return cls(**data)

    def __post_init__(self) -> None:
        if not self.ended:  # records written before `ended` existed, and trajectories built by hand
            self.ended = ("won" if self.won else "lost" if self.error is None
                          else "gave_up" if self.error.startswith("gave up") else "env_error")
