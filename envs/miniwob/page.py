"""MiniWoB++ pages as text: the DOM elements an agent can act on, by ref, and the visible text."""

from __future__ import annotations

from typing import Any

INPUT_KINDS = {"input_text": "textbox", "input_password": "password box", "input_checkbox": "checkbox",
               "input_radio": "radio button", "textarea": "text area", "button": "button", "a": "link"}


def _texts(children: list[dict]) -> str:
    return " ".join(c["text"] for c in children if c["ref"] < 0 and c["text"]).strip()


def actionable(elements: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """(ref, kind, label) of each element one can click or type into, in page order.

    A checkbox or radio button takes its label's text; a button its own text or its text nodes'.
    """
    children: dict[int, list[dict]] = {}
    for e in elements:
        children.setdefault(e["parent"], []).append(e)
    out = []
    for e in elements:
        tag, ref = e["tag"], e["ref"]
        if ref <= 0:
            continue
        kind = INPUT_KINDS.get(tag) or ("link" if "alink" in e["classes"].split() else None)
        if kind is None:
            continue
        label = e["text"] or _texts(children.get(ref, []))
        if not label and tag in ("input_checkbox", "input_radio"):
            label = _texts(children.get(e["parent"], []))
        if not label and "close" in e["classes"]:
            label = "close"
        if not label and e["id"] and tag.startswith("input"):
            label = e["id"]
        if e["value"] and tag.startswith("input") and not isinstance(e["value"], bool):
            label = f"{label} (contains '{e['value']}')".strip()
        out.append((ref, kind, label))
    return out


def describe(utterance: str, elements: list[dict[str, Any]]) -> str:
    """The task, the page's plain text, then `[ref] kind "label"` per actionable element."""
    targets = actionable(elements)
    owned = {r for r, _, _ in targets}
    labels = {e["parent"] for e in elements if e["ref"] in owned and e["tag"] in ("input_checkbox", "input_radio")}
    text = [e["text"] for e in elements if e["text"] and e["ref"] not in owned and e["parent"] not in owned | labels]
    lines = [f"Task: {utterance}"]
    if text:
        lines.append("Page text: " + " ".join(text))
    lines += [f'[{ref}] {kind} "{label}"' for ref, kind, label in targets]
    return "\n".join(lines)
