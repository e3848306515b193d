"""What the pages draw from a record: turn marks, the training masks, the reward chart, Markdown reports."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt

from agentgym.trajectory import Trajectory
from trajectories.export import to_messages, tokenize_messages

_MD = MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown(text: str, base: str = "") -> str:
    """Markdown (tables included; raw HTML escaped) as HTML; relative image paths are put under `base`."""
    env: dict[str, Any] = {}
    tokens = _MD.parse(text, env)
    for child in (c for t in tokens for c in t.children or [] if c.type == "image"):
        src = str(child.attrGet("src") or "")
        if base and src and not urlsplit(src).scheme and not src.startswith("/"):
            child.attrSet("src", f"{base.rstrip('/')}/{src}")
    return _MD.renderer.render(tokens, _MD.options, env)


def marks(turn: dict[str, Any]) -> list[tuple[str, str]]:
    """(css class, label) of every mark a turn carries."""
    out = []
    if turn.get("erroneous"):
        out.append(("erroneous", "erroneous"))
    if turn.get("refinement"):
        out.append(("refinement", "refinement"))
    if turn.get("kind") == "teacher":
        out.append(("teacher", "teacher correction"))
    elif turn.get("feedback"):
        out.append(("feedback", "feedback"))
    if turn.get("kind") == "reflection":
        out.append(("reflection", "reflection"))
    return out


def train_flags(record: dict[str, Any]) -> tuple[list[bool] | None, str | None]:
    """Per turn, whether SFT learns it (the export's rule), or None and the reason it cannot be derived."""
    try:
        return [m["train"] for m in to_messages(to_trajectory(record))], None
    except ValueError as exc:
        return None, f"training masks unavailable: {exc}"


def to_trajectory(record: dict[str, Any]) -> Trajectory:
    """The record as a `Trajectory` (ValueError when it cannot be one)."""
    try:
        return Trajectory.from_dict(record)
    except (TypeError, KeyError) as exc:
        raise ValueError(f"not a trajectory record: {exc}") from None


# -- the reward chart --------------------------------------------------------------------------
def steps(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The executed actions, in order: step number, action, reward, cumulative reward, score (when the
    record has it per turn) and whether the action was erroneous (invalid in the env)."""
    out, total = [], 0.0
    for i, turn in enumerate(turns):
        if turn.get("role") != "assistant" or not turn.get("action"):
            continue
        nxt = turns[i + 1] if i + 1 < len(turns) else {}
        if nxt.get("kind") == "teacher":  # overruled by the teacher: never sent to the env
            continue
        reward = float(turn.get("reward") or 0.0)
        total += reward
        out.append({"step": len(out) + 1, "turn": i, "action": turn["action"], "reward": reward, "total": total,
                    "score": turn.get("score"), "erroneous": bool(turn.get("erroneous"))})
    return out


def chart(points: list[dict[str, Any]], final_score: float, width: int = 640, height: int = 180) -> dict[str, Any]:
    """SVG coordinates of cumulative reward (and score) over the steps."""
    pad = 28
    if not points:
        return {"width": width, "height": height, "empty": True}
    values = [p["total"] for p in points] + [p["score"] or 0.0 for p in points] + [final_score, 1.0]
    top, bottom = max(values), min(0.0, *values)
    span = (top - bottom) or 1.0
    n = max(1, len(points) - 1) if len(points) > 1 else 1

    def xy(k: int, v: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (k / n if len(points) > 1 else 0.5)
        return round(x, 1), round(height - pad - (height - 2 * pad) * (v - bottom) / span, 1)

    reward = [xy(k, p["total"]) for k, p in enumerate(points)]
    scored = [(k, p["score"]) for k, p in enumerate(points) if p["score"] is not None]
    score = [xy(k, float(s)) for k, s in scored] if scored else [xy(len(points) - 1, final_score)]
    return {
        "width": width, "height": height, "empty": False, "pad": pad, "top": top, "bottom": bottom,
        "zero_y": xy(0, 0.0)[1], "top_y": xy(0, top)[1],
        "reward": " ".join(f"{x},{y}" for x, y in reward),
        "dots": [{"x": x, "y": y, **p} for (x, y), p in zip(reward, points, strict=True)],
        "score": " ".join(f"{x},{y}" for x, y in score), "score_dots": score,
    }


# -- the tokens training learns -------------------------------------------------------------------
@lru_cache(maxsize=4)
def load_tokenizer(spec: str):
    """The tokenizer of a model (an embedded alias such as `smollm2`, or a local folder)."""
    from agentgym.models import resolve_model

    path = resolve_model(spec)  # before importing transformers: a bad name fails at once
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def token_spans(record: dict[str, Any], tokenizer) -> list[tuple[str, bool]]:
    """(token text, learned) over the chat-template rendering of the trajectory, as SFT sees it."""
    encoded = tokenize_messages(to_messages(to_trajectory(record)), tokenizer)
    return [(tokenizer.decode([i]), bool(m)) for i, m in zip(encoded["input_ids"], encoded["assistant_masks"],
                                                             strict=True)]
