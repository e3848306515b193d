"""Perfect mazes from a seed: generation (recursive backtracker), shortest paths and an ASCII map."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache

# Direction name -> (row delta, column delta). Row 0 is the northern edge, column 0 the western one.
DIRECTIONS: dict[str, tuple[int, int]] = {"north": (-1, 0), "south": (1, 0), "east": (0, 1), "west": (0, -1)}
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}
ORDER = ("north", "south", "east", "west")

Cell = tuple[int, int]


@dataclass(frozen=True)
class Maze:
    """A rows x cols grid whose `passages[cell]` holds the directions open from that cell."""

    rows: int
    cols: int
    passages: dict[Cell, frozenset[str]]
    start: Cell
    goal: Cell
    template: str = field(default="", compare=False, repr=False)  # the ASCII map without the agent

    def open_dirs(self, cell: Cell) -> list[str]:
        """Open directions from `cell`, in the fixed order north, south, east, west."""
        return [d for d in ORDER if d in self.passages[cell]]

    def move(self, cell: Cell, direction: str) -> Cell:
        """The neighbour of `cell` in `direction` (maybe outside the grid)."""
        dr, dc = DIRECTIONS[direction]
        return cell[0] + dr, cell[1] + dc

    def in_bounds(self, cell: Cell) -> bool:
        """Whether `cell` lies inside the grid."""
        return 0 <= cell[0] < self.rows and 0 <= cell[1] < self.cols


def _carve(rows: int, cols: int, rng: random.Random) -> dict[Cell, set[str]]:
    """Iterative recursive backtracker: a uniform-ish spanning tree of the grid (a perfect maze)."""
    passages: dict[Cell, set[str]] = {(r, c): set() for r in range(rows) for c in range(cols)}
    start = (rng.randrange(rows), rng.randrange(cols))
    stack, seen = [start], {start}
    while stack:
        r, c = stack[-1]
        options = [
            (d, (r + dr, c + dc))
            for d, (dr, dc) in DIRECTIONS.items()
            if 0 <= r + dr < rows and 0 <= c + dc < cols and (r + dr, c + dc) not in seen
        ]
        if not options:
            stack.pop()
            continue
        d, nxt = rng.choice(options)
        passages[(r, c)].add(d)
        passages[nxt].add(OPPOSITE[d])
        seen.add(nxt)
        stack.append(nxt)
    return passages


def distances(passages: dict[Cell, frozenset[str]] | dict[Cell, set[str]], source: Cell) -> dict[Cell, int]:
    """Breadth-first distances from `source` to every reachable cell."""
    dist = {source: 0}
    queue = deque([source])
    while queue:
        cell = queue.popleft()
        for d in ORDER:
            if d in passages[cell]:
                dr, dc = DIRECTIONS[d]
                nxt = (cell[0] + dr, cell[1] + dc)
                if nxt not in dist:
                    dist[nxt] = dist[cell] + 1
                    queue.append(nxt)
    return dist


@lru_cache(maxsize=4096)
def generate(rows: int, cols: int, seed: int) -> Maze:
    """The maze of (rows, cols, seed): same arguments, same maze, on every machine and Python run.

    The start is a random cell; the goal is the cell farthest from it (ties: the first in row-major order).
    """
    rng = random.Random(f"agentgym-maze:{rows}x{cols}:{seed}")
    passages = _carve(rows, cols, rng)
    start = (rng.randrange(rows), rng.randrange(cols))
    dist = distances(passages, start)
    goal = max(sorted(dist), key=lambda cell: dist[cell])
    maze = Maze(rows, cols, {k: frozenset(v) for k, v in passages.items()}, start, goal)
    return Maze(rows, cols, maze.passages, start, goal, _draw(maze))


def shortest_path(maze: Maze, source: Cell | None = None) -> list[str]:
    """Directions of a shortest walk from `source` (default: the start) to the goal."""
    source = source if source is not None else maze.start
    back: dict[Cell, tuple[Cell, str] | None] = {source: None}
    queue = deque([source])
    while queue:
        cell = queue.popleft()
        if cell == maze.goal:
            break
        for d in maze.open_dirs(cell):
            nxt = maze.move(cell, d)
            if nxt not in back:
                back[nxt] = (cell, d)
                queue.append(nxt)
    path: list[str] = []
    cell = maze.goal
    while back[cell] is not None:
        cell, d = back[cell]  # type: ignore[misc]
        path.append(d)
    return path[::-1]


def _draw(maze: Maze) -> str:
    """The ASCII map with the goal `G` and no agent; `+---+` and `|` are walls, north is up."""
    lines = ["+" + "---+" * maze.cols]
    for r in range(maze.rows):
        row, floor = ["|"], ["+"]
        for c in range(maze.cols):
            mark = "G" if (r, c) == maze.goal else " "
            row.append(f" {mark} " + (" " if "east" in maze.passages[(r, c)] else "|"))
            floor.append(("   " if "south" in maze.passages[(r, c)] else "---") + "+")
        lines += ["".join(row), "".join(floor)]
    return "\n".join(lines)


def render(maze: Maze, agent: Cell) -> str:
    """ASCII map: `A` the agent, `G` the goal, `+---+` and `|` walls; north is up."""
    base = maze.template or _draw(maze)
    at = (2 * agent[0] + 1) * (4 * maze.cols + 2) + 4 * agent[1] + 2  # lines are 4*cols+1 chars plus \n
    return base[:at] + "A" + base[at + 1 :]
