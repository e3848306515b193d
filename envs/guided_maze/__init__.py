"""Guided maze: the maze whose observations mark the one opening on the way to the goal.

The default main job's env: small mazes and short episodes, so that the embedded 135M model learns it from
a CPU-sized behaviour cloning budget and its evaluation fits minutes on 2 cores. What it learns is to read
the observation and act in the format; held-out mazes are larger than any seen in training. The plain
`maze` (a compass hint only, so the agent must explore and backtrack) is the harder env for GPU runs.
"""

from __future__ import annotations

from envs.maze import MazeEnv, _goal_distances, parse_task

SLACK = 6  # turns beyond the shortest path: room for a few mistakes, no room to wander


class GuidedMazeEnv(MazeEnv):
    """Held-in: 3x3 and 4x4 mazes, seeds 0-99. Held-out: 5x5 mazes, seeds 1000-1099 (larger, unseen layouts).

    Each observation marks the open direction that leads toward the goal along the maze's passages (in a
    perfect maze exactly one does); an episode's budget is its shortest path plus `SLACK` turns.
    """

    name = "guided_maze"
    instruction = (
        "Reach the goal of a grid maze (row 0 is north, column 0 west). Each turn you see the open directions "
        "from your cell; the one on the way to the goal is marked `toward the goal`. "
        "Act with `move north|south|east|west`."
    )
    splits = {"held_in": ((3, 4), range(0, 100)), "held_out": ((5,), range(1000, 1100))}
    max_steps = 5 * 5 - 1 + SLACK  # the longest path of the largest maze, plus the slack

    def max_steps_for(self, task_id: str) -> int:
        rows, cols, seed = parse_task(task_id)
        maze = self._maze(task_id)
        return _goal_distances(rows, cols, seed)[maze.start] + SLACK

    def _toward(self) -> set[str]:
        """The open direction whose cell is nearer the goal along the passages."""
        assert self.maze is not None
        here = self.to_goal[self.pos]
        return {d for d in self.maze.open_dirs(self.pos) if self.to_goal[self.maze.move(self.pos, d)] < here}


ENV = GuidedMazeEnv
