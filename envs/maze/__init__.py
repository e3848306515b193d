"""Maze: walk a seeded perfect maze to the goal, described in text (LMRL-Gym style)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from agentgym.compat import AgentEnvSpec
from agentgym.env import Env, Observation, StepResult
from agentgym.errors import UnknownTask
from agentgym.tools import Tool
from envs.maze.grid import DIRECTIONS, Cell, Maze, distances, generate, render, shortest_path

HELD_IN_SIZES = (4, 5)
HELD_OUT_SIZES = (7, 8)
HELD_IN_SEEDS = range(0, 100)
HELD_OUT_SEEDS = range(1000, 1050)
STEPS_PER_CELL = 4  # an episode's step budget is 4 x the number of cells
HISTORY = 5  # recent moves shown in the observation
ALIASES = {"n": "north", "s": "south", "e": "east", "w": "west"}

ACTION_HELP = (
    "Write `move <direction>` where <direction> is north, south, east or west (e.g. `move north`); "
    "the bare direction (`north`) also works."
)


LMRL_MOVES = {"up": "north", "down": "south", "left": "west", "right": "east"}  # row 0 is north in both


def from_lmrlgym(action: str) -> str:
    """LMRL-Gym's maze moves (`move up|down|left|right`, as AgentGym's client sends them) in compass words."""
    return " ".join(LMRL_MOVES.get(w, w) for w in action.strip().lower().split())


def parse_task(task_id: str) -> tuple[int, int, int]:
    """(rows, cols, seed) of an id such as `maze-5x5-s12`; ValueError when it is malformed."""
    prefix, _, rest = task_id.partition("-")
    size, _, seed = rest.partition("-s")
    rows, _, cols = size.partition("x")
    if prefix != "maze" or not (rows.isdigit() and cols.isdigit() and seed.isdigit()):
        raise ValueError(f"malformed maze task id '{task_id}': expected maze-<rows>x<cols>-s<seed>")
    return int(rows), int(cols), int(seed)


def task_id_of(size: int, seed: int) -> str:
    """The id of the size x size maze of `seed`."""
    return f"maze-{size}x{size}-s{seed}"


@lru_cache(maxsize=4096)
def _goal_distances(rows: int, cols: int, seed: int) -> dict[Cell, int]:
    maze = generate(rows, cols, seed)
    return distances(maze.passages, maze.goal)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class MazeEnv(Env):
    """Find the goal of a grid maze from text: position, goal, open directions and recent moves.

    Held-in: 4x4 and 5x5 mazes, seeds 0-99. Held-out: 7x7 and 8x8 mazes, seeds 1000-1049 (larger
    layouts and unseen seeds). The maze is fixed by the task id; `seed` of `reset` is accepted and ignored.
    """

    name = "maze"
    instruction = (
        "You are in a maze laid out on a grid of cells. Row 0 is the northern edge and column 0 the "
        "western edge: moving north decreases the row, south increases it, east increases the column, "
        "west decreases it. Each turn you learn your position, the goal's position, and which directions "
        "are open or blocked by walls from your cell. Unless you are given a map, you only see the walls of "
        "your current cell, so remember where you have been; dead ends mean you must backtrack. Reach the "
        "goal cell to win. "
        + ACTION_HELP
        + " One move per turn. Moving into a wall wastes the turn and leaves you where you are."
    )
    action_format = "move north|south|east|west"
    max_steps = STEPS_PER_CELL * max(HELD_OUT_SIZES) ** 2  # the largest maze's budget; each maze has its own
    inline_step = True
    tools = (Tool("move", "Move one cell in a compass direction (a wall wastes the turn).",
                  {"direction": {"type": "string", "enum": list(DIRECTIONS), "description": "where to move"}},
                  "move {direction}"),)
    agentenv = AgentEnvSpec("lmrlgym", index_field="game", translate=from_lmrlgym)

    def __init__(self) -> None:
        self.maze: Maze | None = None
        self.pos: Cell = (0, 0)
        self.steps = 0
        self.limit = self.max_steps
        self.history: list[str] = []
        self.visited: set[Cell] = set()
        self.to_goal: dict[Cell, int] = {}
        self.done = False

    # -- tasks -------------------------------------------------------------------------------
    def tasks(self, split: str) -> list[str]:
        if split == "held_in":
            return [task_id_of(n, s) for n in HELD_IN_SIZES for s in HELD_IN_SEEDS]
        if split == "held_out":
            return [task_id_of(n, s) for n in HELD_OUT_SIZES for s in HELD_OUT_SEEDS]
        raise KeyError(split)

    def split_of(self, task_id: str) -> str:
        rows, cols, seed = parse_task(task_id)
        if task_id == task_id_of(rows, seed) and rows == cols:
            if rows in HELD_IN_SIZES and seed in HELD_IN_SEEDS:
                return "held_in"
            if rows in HELD_OUT_SIZES and seed in HELD_OUT_SEEDS:
                return "held_out"
        raise KeyError(task_id)

    def _maze(self, task_id: str) -> Maze:
        """The maze of a listed task, or UnknownTask."""
        try:
            self.split_of(task_id)
        except (KeyError, ValueError):
            raise UnknownTask(f"unknown maze task '{task_id}' (e.g. {task_id_of(4, 0)})") from None
        rows, cols, seed = parse_task(task_id)
        return generate(rows, cols, seed)

    # -- episode -----------------------------------------------------------------------------
    def reset(self, task_id: str, seed: int | None = None) -> Observation:
        self.maze = self._maze(task_id)
        self.pos = self.maze.start
        self.steps, self.done = 0, False
        self.limit = STEPS_PER_CELL * self.maze.rows * self.maze.cols
        self.history = []
        self.visited = {self.pos}
        self.to_goal = _goal_distances(*parse_task(task_id))
        m = self.maze
        intro = (
            f"You are in a {m.rows}x{m.cols} maze (rows 0-{m.rows - 1} from north to south, "
            f"columns 0-{m.cols - 1} from west to east). You have {self.limit} turns.\n"
        )
        return self._observation(intro)

    def step(self, action: str) -> StepResult:
        if self.maze is None or self.done:
            return self._result("The episode is over; reset to play again.", valid=False, terminated=True)
        self.steps += 1
        words = action.strip().lower().rstrip(".!").split()
        if len(words) == 2 and words[0] in ("move", "go"):
            words = words[1:]
        direction = ALIASES.get(words[0], words[0]) if len(words) == 1 else None
        if direction not in DIRECTIONS:
            shown = action.strip()[:60]
            return self._result(f"Unknown action '{shown}'. {ACTION_HELP}", valid=False)
        open_dirs = self.maze.open_dirs(self.pos)
        if direction not in open_dirs:
            outside = not self.maze.in_bounds(self.maze.move(self.pos, direction))
            edge = " (the outer edge of the maze)" if outside else ""
            error = f"There is a wall to the {direction}{edge}; open directions: {', '.join(open_dirs)}."
            return self._result(error, valid=False)
        self.pos = self.maze.move(self.pos, direction)
        self.history.append(direction)
        if self.pos == self.maze.goal:
            self.done = True
            text = f"You moved {direction} and reached the goal in {_plural(self.steps, 'turn')}. You win!"
            return self._result(text, won=True)
        revisit = self.pos in self.visited
        self.visited.add(self.pos)
        return self._result(f"You moved {direction}." + (" You have been here before." if revisit else ""))

    def _result(
        self, message: str, valid: bool = True, won: bool = False, terminated: bool = False
    ) -> StepResult:
        truncated = not won and not terminated and self.steps >= self.limit
        if truncated:
            self.done = True
            message += f" You are out of turns ({self.limit}); the goal was not reached."
        info: dict[str, Any] = {
            "valid": valid,
            "error": None if valid else message,
            "won": won,
            "score": 1.0 if won else 0.0,
            "position": list(self.pos),
            "distance_to_goal": self.to_goal.get(self.pos, 0),
            "steps": self.steps,
        }
        over = won or terminated or truncated
        obs = self._final(message) if over else self._observation(message + "\n")
        return StepResult(obs, float(won), terminated=won or terminated, truncated=truncated, info=info)

    def _final(self, message: str) -> Observation:
        assert self.maze is not None
        return Observation(text=message, available_actions=[], extra={"map": render(self.maze, self.pos)})

    def _observation(self, prefix: str = "") -> Observation:
        m = self.maze
        assert m is not None
        (r, c), (gr, gc) = self.pos, m.goal
        open_dirs = m.open_dirs(self.pos)
        walls = [d for d in DIRECTIONS if d not in open_dirs]
        offset = [
            _plural(abs(gr - r), "row") + (" south" if gr > r else " north") if gr != r else "",
            _plural(abs(gc - c), "column") + (" east" if gc > c else " west") if gc != c else "",
        ]
        lines = [
            f"You are at row {r}, column {c}. The goal is at row {gr}, column {gc} "
            f"({' and '.join(x for x in offset if x)} of you).",
            f"Open directions: {', '.join(open_dirs)}. Walls: {', '.join(walls) or 'none'}.",
        ]
        if self.steps:
            recent = f"Your last moves: {', '.join(self.history[-HISTORY:])}. " if self.history else ""
            lines.append(f"{recent}Turns used: {self.steps} of {self.limit}.")
        return Observation(
            text=prefix + "\n".join(lines),
            available_actions=[f"move {d}" for d in open_dirs],
            extra={"map": render(m, self.pos)},
        )

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """A shortest path, by breadth-first search."""
        return [f"move {d}" for d in shortest_path(self._maze(task_id))]


ENV = MazeEnv
