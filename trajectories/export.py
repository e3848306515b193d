"""Trajectories as training data: chat messages with a per-message `train` flag, token-level masks,
and AgentGym's published conversation format (`conversations` of `{from, loss, value}`).

The AgentRefine recipe: only assistant turns are learned; assistant turns flagged `erroneous` are kept
in the context (with the feedback after them) but masked, so the model learns the recovery, not the error.
"""

from __future__ import annotations

import json
import os
from typing import Any

from agentgym.action_formats import chat_messages
from agentgym.runner import build_context
from agentgym.trajectory import Trajectory, Turn

AGENTGYM_ROLES = {"user": "human", "assistant": "gpt", "system": "system"}


def to_messages(traj: Trajectory) -> list[dict[str, Any]]:
    """Chat messages with `train` = learn this message (assistant and not erroneous). Native tool calls are
    written as TRL's SFT reads them: `tool_calls` (arguments as objects) on the assistant message, and the
    observation that answers them as a `tool` message."""
    messages = chat_messages(traj.turns, api=False)
    for m, t in zip(messages, traj.turns, strict=True):
        m["train"] = t.role == "assistant" and not t.erroneous
    return messages


def to_samples(traj: Trajectory) -> list[list[dict[str, Any]]]:
    """Training conversations of one trajectory, each exactly as the agent saw its context: the whole
    episode when the agent saw all of it (`history` None), else one sample per learned reply, its
    context cut by `build_context` the way the runner cut it (earlier replies there are not learned)."""
    messages = to_messages(traj)
    if traj.history is None:
        return [messages]
    samples = []
    for i, message in enumerate(messages):
        if message["train"]:
            context = build_context(traj.turns[:i], max_chars=0, history=traj.history)
            samples.append([{**m, "train": False} for m in context] + [message])
    return samples


def to_dataset(trajs: list[Trajectory]):
    """A Hugging Face `datasets.Dataset` with `messages` (role, content, train; tool_calls) and provenance
    columns: a row per training sample (`to_samples`), with `tools` (the function schemas offered) where a
    trajectory used function or tool calls."""
    with_tools = any(t.tools for t in trajs)
    return rows_to_dataset([{"messages": sample, "env": t.env, "task_id": t.task_id, "split": t.split,
                             "reward": t.reward, "won": t.won, "trajectory_id": t.id,
                             "action_format": t.action_format, **({"tools": t.tools} if with_tools else {})}
                            for t in trajs for sample in to_samples(t)])


def rows_to_dataset(rows: list[dict[str, Any]]):
    """A `datasets.Dataset` of JSON-able rows.

    Through a JSONL file rather than `Dataset.from_list`: fingerprinting an in-memory table pickles it
    with dill, which failed on Python 3.12.3 (the GPU device) with "Can't pickle <class 'MonthDayNano'>".
    """
    import tempfile

    import orjson
    from datasets import Dataset

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rows.jsonl")
        with open(path, "wb") as f:
            f.writelines(orjson.dumps(row) + b"\n" for row in rows)
        return Dataset.from_json(path, keep_in_memory=True)


def tokenize_messages(messages: list[dict[str, Any]], tokenizer, max_length: int | None = None,
                      tools: list[dict[str, Any]] | None = None) -> dict[str, list]:
    """`input_ids` and `assistant_masks` (1 = learn) for one conversation (and the `tools` it was offered).

    Each message's tokens come from the difference between the chat template rendered with and
    without it, so they are exactly the tokens of the full rendering; an assistant message's header
    (`<|im_start|>assistant\\n`) is never learned, its content and end-of-turn token are.
    """
    def render(msgs: list[dict[str, Any]], gen: bool = False) -> str:
        plain = [{k: m[k] for k in ("role", "content", "tool_calls", "tool_call_id") if m.get(k) is not None}
                 for m in msgs]
        return tokenizer.apply_chat_template(plain, tools=tools, tokenize=False, add_generation_prompt=gen) \
            if plain else ""

    ids: list[int] = []
    mask: list[int] = []
    prev = ""
    for i, message in enumerate(messages):
        pieces = []
        if message["role"] == "assistant":
            header = render(messages[:i], gen=True)
            pieces.append((header, 0))
        full = render(messages[: i + 1])
        pieces.append((full, int(bool(message.get("train")) and message["role"] == "assistant")))
        for text, learn in pieces:
            if not text.startswith(prev):
                raise ValueError("the chat template does not render conversations prefix by prefix; "
                                 "per-message masks cannot be derived from it")
            segment = tokenizer(text[len(prev):], add_special_tokens=False)["input_ids"]
            ids += segment
            mask += [learn] * len(segment)
            prev = text
    if max_length is not None:
        ids, mask = ids[:max_length], mask[:max_length]
    return {"input_ids": ids, "assistant_masks": mask}


def tokenize_dataset(dataset, tokenizer, max_length: int | None = None):
    """Add `input_ids`/`assistant_masks` to a messages dataset; rows with nothing left to learn are dropped."""
    tokenized = dataset.map(lambda row: tokenize_messages(row["messages"], tokenizer, max_length, row.get("tools")))
    return tokenized.filter(lambda row: 1 in row["assistant_masks"])


# -- AgentGym's conversation format -------------------------------------------------------------
def to_agentgym(traj: Trajectory) -> dict[str, Any]:
    """One item of AgentGym's format: `{"item_id", "conversations": [{"from", "loss", "value"}]}`."""
    conversations = [
        {"from": AGENTGYM_ROLES[t.role], "loss": t.role == "assistant" and not t.erroneous, "value": t.text}
        for t in traj.turns
        if t.role in AGENTGYM_ROLES
    ]
    return {"item_id": f"{traj.env}_{traj.task_id}", "conversations": conversations}


def from_agentgym(item: dict[str, Any], env: str = "agentgym", split: str = "held_in") -> Trajectory:
    """A trajectory from an AgentGym conversation item; `loss: false` gpt turns become erroneous turns
    (masked), a missing `loss` on a gpt turn means learn it (their convention)."""
    roles = {v: k for k, v in AGENTGYM_ROLES.items()}
    turns = []
    for c in item["conversations"]:
        role = roles.get(c["from"])
        if role is None:
            raise ValueError(f"unknown speaker '{c['from']}' in item {item.get('item_id')}: expected human/gpt/system")
        erroneous = role == "assistant" and c.get("loss") is False
        turns.append(Turn(role=role, text=c["value"], kind="action" if role == "assistant" else "observation",
                          erroneous=erroneous))
    task_id = str(item.get("item_id", ""))
    return Trajectory(env=env, task_id=task_id, split=split, model="agentgym-import", turns=turns, won=True)


def write_agentgym(trajs: list[Trajectory], path: str | os.PathLike) -> None:
    with open(path, "w") as f:
        json.dump([to_agentgym(t) for t in trajs], f, ensure_ascii=False, indent=1)


def read_agentgym(path: str | os.PathLike, env: str = "agentgym") -> list[Trajectory]:
    with open(path) as f:
        return [from_agentgym(item, env=env) for item in json.load(f)]
