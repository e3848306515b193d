"""ReAct prompting (`Thought:` / `Action:`) and the strict action parser."""

from __future__ import annotations

import re
from dataclasses import dataclass

SYSTEM_PROMPT = (
    "You are an agent acting in an environment. At every turn, reply in exactly this format:\n"
    "Thought: <one short sentence of reasoning>\n"
    "Action: <one action>\n"
    "Write nothing after the action."
)

_ACTION = re.compile(r"^\s*Action\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass
class Parsed:
    action: str | None
    error: str | None = None


def parse_action(text: str) -> Parsed:
    """The action of a ReAct reply: the first `Action:` line, non-empty, single line.

    Strict on purpose: an unparsable reply becomes feedback for the agent, never a guess.
    """
    match = _ACTION.search(text or "")
    if match is None:
        return Parsed(None, "I could not find an action in your reply. Answer with a line 'Action: <action>'.")
    action = match.group(1).strip().strip("`").strip()
    if not action:
        return Parsed(None, "Your 'Action:' line is empty. Write the action after 'Action:'.")
    if len(action) > 300:
        return Parsed(None, "Your action is too long: write one short action on the 'Action:' line.")
    return Parsed(action)


def first_user_message(instruction: str, action_format: str, observation: str, reflection: str | None = None) -> str:
    """The first user turn: the environment's instruction, the action format, then the task's observation."""
    parts = [instruction.strip(), f"Actions: {action_format}."]
    if reflection:
        parts.append(f"Your notes from a previous failed attempt at this task: {reflection.strip()}")
    parts.append(f"Observation: {observation.strip()}")
    return "\n\n".join(parts)


def observation_message(text: str, available: list[str] | None, max_listed: int = 30) -> str:
    """A user turn carrying an observation (and the available actions when the env lists them)."""
    msg = f"Observation: {text.strip()}"
    if available:
        shown = ", ".join(available[:max_listed]) + (" ..." if len(available) > max_listed else "")
        msg += f"\nAvailable actions: {shown}"
    return msg
