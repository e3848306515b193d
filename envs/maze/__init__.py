"""Maze: walk a seeded perfect maze to the goal, described in text (LMRL-Gym style)."""

from __future__ import annotations

from functools import lru_cache

from agentgym.compat import AgentEnvSpec
from agentgym.env import Env, Observation, StepResult
from agentgym.reworded import Rewording
from agentgym.tools import Tool
from envs.maze.grid import DIRECTIONS, OPPOSITE, Cell, Maze, distances, generate, render

HELD_IN_SIZES = (4, 5)
HELD_OUT_SIZES = (7, 8)
HELD_IN_SEEDS = range(0, 100)
HELD_OUT_SEEDS = range(1000, 1050)
STEPS_PER_CELL = 4  # an episode's step budget is 4 x the number of cells
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
        "Reach the goal of a grid maze (row 0 is north, column 0 west). Each turn you see the open directions "
        "from your cell, marked when they lead toward the goal, to a cell you explored, or back the way you "
        "came. Take an unexplored opening, toward the goal first; where none is left, go back. "
        "Act with `move north|south|east|west`."
    )
    action_format = "move north|south|east|west"
    splits = {"held_in": (HELD_IN_SIZES, HELD_IN_SEEDS), "held_out": (HELD_OUT_SIZES, HELD_OUT_SEEDS)}
    max_steps = STEPS_PER_CELL * max(HELD_OUT_SIZES) ** 2  # the largest maze's budget; each maze has its own
    inline_step = inline_reset = True
    tools = (Tool("move", "Move one cell in a compass direction (a wall wastes the turn).",
                  {"direction": {"type": "string", "enum": list(DIRECTIONS), "description": "where to move"}},
                  "move {direction}"),)
    agentenv = AgentEnvSpec("lmrlgym", index_field="game", translate=from_lmrlgym)
    rewording = Rewording(
        actions=(("move", "head"), ("north", "up"), ("south", "down"), ("east", "right"), ("west", "left")),
        text=(("moved", "headed"), ("goal", "exit"), ("Walls", "Blocked"), ("northern", "top"), ("western", "left"),
              # phrases before their direction word (longest first), so a wall is "above", not "to the up"
              ("to the north", "above"), ("to the south", "below"), ("to the east", "to the right"),
              ("to the west", "to the left")),
    )

    def __init__(self) -> None:
        self.maze: Maze | None = None
        self.pos: Cell = (0, 0)
        self.steps = 0
        self.budget = self.max_steps  # the turns the observations announce (the server enforces them)
        self.visited: set[Cell] = set()
        self.came_from: dict[Cell, str] = {}  # the way back out of a cell: reverse of the move that first entered it
        self.to_goal: dict[Cell, int] = {}
        self.done = False

    # -- tasks -------------------------------------------------------------------------------
    def tasks(self, split: str) -> list[str]:
        if split not in self.splits:
            raise KeyError(split)
        sizes, seeds = self.splits[split]
        return [task_id_of(n, s) for n in sizes for s in seeds]

    def split_of(self, task_id: str) -> str:
        rows, cols, seed = parse_task(task_id)
        if task_id == task_id_of(rows, seed) and rows == cols:
            for split, (sizes, seeds) in self.splits.items():
                if rows in sizes and seed in seeds:
                    return split
        raise KeyError(task_id)

    def max_steps_for(self, task_id: str) -> int:
        rows, cols, _ = parse_task(task_id)
        return STEPS_PER_CELL * rows * cols

    def _maze(self, task_id: str) -> Maze:
        """The maze of a listed task, or UnknownTask."""
        self.check_task(task_id)
        return generate(*parse_task(task_id))

    # -- episode -----------------------------------------------------------------------------
    def reset(self, task_id: str, seed: int | None = None) -> Observation:
        self.maze = self._maze(task_id)
        self.pos = self.maze.start
        self.steps, self.done = 0, False
        self.budget = self.max_steps_for(task_id)
        self.visited = {self.pos}
        self.came_from = {}
        self.to_goal = _goal_distances(*parse_task(task_id))
        m = self.maze
        intro = (
            f"You are in a {m.rows}x{m.cols} maze (rows 0-{m.rows - 1} from north to south, "
            f"columns 0-{m.cols - 1} from west to east). You have {self.budget} turns.\n"
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
        if self.pos not in self.visited:
            self.came_from[self.pos] = OPPOSITE[direction]
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
        obs = self._final(message) if won or terminated else self._observation(message + "\n")
        return self.result(
            obs, None if valid else message, won=won, terminated=terminated,
            position=list(self.pos), distance_to_goal=self.to_goal.get(self.pos, 0), steps=self.steps,
        )

    def _final(self, message: str) -> Observation:
        assert self.maze is not None
        return Observation(text=message, available_actions=[], extra={"map": render(self.maze, self.pos)})

    def _toward(self) -> set[str]:
        """The directions that bring the agent closer to the goal."""
        assert self.maze is not None
        (r, c), (gr, gc) = self.pos, self.maze.goal
        return {d for d, ok in (("north", gr < r), ("south", gr > r), ("east", gc > c), ("west", gc < c)) if ok}

    def _openings(self) -> list[tuple[str, str]]:
        """Each open direction with what the agent knows of it: `toward the goal`, `explored`, `way back`."""
        assert self.maze is not None
        toward, back, out = self._toward(), self.came_from.get(self.pos), []
        for d in self.maze.open_dirs(self.pos):
            notes = ["toward the goal"] if d in toward else []
            if self.maze.move(self.pos, d) in self.visited:
                notes.append("way back" if d == back else "explored")
            out.append((d, ", ".join(notes)))
        return out

    def _observation(self, prefix: str = "") -> Observation:
        m = self.maze
        assert m is not None
        (r, c), (gr, gc) = self.pos, m.goal
        shown = [d + (f" ({notes})" if notes else "") for d, notes in self._openings()]
        lines = [f"You are at row {r}, column {c}; the goal is at row {gr}, column {gc}.",
                 f"Open: {'; '.join(shown)}."]
        if self.steps:
            lines.append(f"Turns left: {self.budget - self.steps}.")
        return Observation(
            text=prefix + "\n".join(lines),
            available_actions=[f"move {d}" for d in m.open_dirs(self.pos)],
            extra={"map": render(m, self.pos)},
        )

    def _explorer_choice(self) -> tuple[str, str]:
        """The explorer's next move from what the agent sees, and its reason in one short sentence.

        Depth-first search that tries the unexplored openings toward the goal first: in a perfect maze it
        reaches the goal in at most 2 x (cells - 1) moves, within every task's budget.
        """
        openings = self._openings()
        new = [d for d, notes in openings if "explored" not in notes and "way back" not in notes]
        good = [d for d, notes in openings if d in new and "toward the goal" in notes]
        if good:
            return good[0], f"{good[0].capitalize()} leads toward the goal and is unexplored."
        if new:
            return new[0], f"No unexplored way leads toward the goal; {new[0]} is unexplored."
        back = self.came_from[self.pos]
        return back, f"Every way from here is explored, so I go back {back}."

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """The explorer's moves (see `expert_thoughts`): what an agent can do from its observations."""
        return [action for action, _ in self._explore(task_id)]

    def expert_thoughts(self, task_id: str, seed: int | None = None) -> list[str]:
        """The explorer's reason for each move, derived from the state it is taken in."""
        return [thought for _, thought in self._explore(task_id)]

    def _explore(self, task_id: str) -> list[tuple[str, str]]:
        sim = type(self)()
        sim.reset(task_id)
        plan = []
        while not sim.done:
            direction, thought = sim._explorer_choice()
            plan.append((f"move {direction}", thought))
            sim.step(f"move {direction}")
        return plan


ENV = MazeEnv
