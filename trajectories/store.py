"""An append-only JSONL store of trajectories: one line per episode, flushed and synced at once."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import orjson

from agentgym.trajectory import Trajectory

log = logging.getLogger(__name__)


class TrajectoryStore:
    """`store.append(traj)` survives a SIGKILL right after it returns; a torn last line is dropped."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __iter__(self) -> Iterator[Trajectory]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield Trajectory.from_dict(orjson.loads(line))
                except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
                    # Only a line cut by a kill mid-write can be torn; report anything else loudly.
                    level = logging.INFO if not line.endswith(b"\n") else logging.WARNING
                    log.log(level, "%s:%d: skipping unreadable trajectory (%s)", self.path, number, exc)

    def load(self) -> list[Trajectory]:
        return list(self)

    def keys(self) -> set[tuple[str, int]]:
        """(task id, episode) of every stored trajectory: what `--resume` skips."""
        return {t.key for t in self}

    def append(self, traj: Trajectory) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()
        with open(self.path, "ab") as f:
            f.write(orjson.dumps(traj.to_dict()) + b"\n")
            f.flush()
            os.fsync(f.fileno())

    def _drop_torn_tail(self) -> None:
        """A run killed mid-write leaves a last line without newline: cut it so the next line stays whole."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            data = f.seek(0) or f.read()
            keep = data.rfind(b"\n") + 1
            log.warning("%s: dropping a torn last line of %d bytes", self.path, len(data) - keep)
            f.truncate(keep)
