"""What the BabyAI agent sees, in sentences (as GLAM's BabyAI-Text): objects and walls relative to it."""

from __future__ import annotations

from typing import Any

from minigrid.core.constants import IDX_TO_COLOR, IDX_TO_OBJECT

DOOR_STATES = {0: "open", 1: "closed", 2: "locked"}
HIDDEN = {"unseen", "empty", "floor", "wall", "agent"}


def _steps(n: int, word: str) -> str:
    return f"{n} step{'s' if n != 1 else ''} {word}"


def name_of(obj_type: str, color: str, state: int | None = None) -> str:
    """`red ball`, `closed blue door`."""
    if obj_type == "door" and state is not None:
        return f"{DOOR_STATES[state]} {color} door"
    return f"{color} {obj_type}"


def describe(image: Any, carrying: Any) -> list[str]:
    """Sentences about the egocentric 7x7 view `image` (x right, y forward from the agent at (3, 6)).

    Objects are placed by how many steps left/right and forward they are; walls only straight ahead,
    to the left and to the right (the nearest one each way), as GLAM's text wrapper does.
    """
    size = image.shape[0]
    ax, ay = size // 2, size - 1
    seen: list[tuple[int, str]] = []
    for x in range(size):
        for y in range(size):
            kind = IDX_TO_OBJECT[int(image[x, y, 0])]
            if kind in HIDDEN or (x, y) == (ax, ay):
                continue
            side = x - ax
            ahead = ay - y
            where = []
            if side:
                where.append(_steps(abs(side), "right" if side > 0 else "left"))
            if ahead:
                where.append(_steps(ahead, "forward"))
            thing = name_of(kind, IDX_TO_COLOR[int(image[x, y, 1])], int(image[x, y, 2]) if kind == "door" else None)
            seen.append((abs(side) + ahead, f"You see a {thing} {' and '.join(where)}."))
    lines = [text for _, text in sorted(seen)]
    for dx, dy, word in ((0, -1, "forward"), (-1, 0, "left"), (1, 0, "right")):
        for n in range(1, size):
            x, y = ax + dx * n, ay + dy * n
            if not (0 <= x < size and 0 <= y < size):
                break
            kind = IDX_TO_OBJECT[int(image[x, y, 0])]
            if kind == "wall":
                lines.append(f"You see a wall {_steps(n, word)}.")
                break
            if kind not in ("empty", "floor"):
                break  # an object or an unseen cell hides what is behind
    if carrying is not None:
        lines.append(f"You carry a {carrying.color} {carrying.type}.")
    return lines
