"""An append-only JSONL store of trajectories: one line per episode, flushed and synced at once.

One process appends to a file at a time (an exclusive `flock`, held for a whole run by `open()`).
A run killed mid-write leaves a last line without its newline: the next writer completes it when it
is a whole record and cuts it when it is not, and readers count it by the same rule.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import orjson

from agentgym.errors import AgentGymError
from agentgym.trajectory import Trajectory

log = logging.getLogger(__name__)


class StoreLocked(AgentGymError):
    """Another process is appending to the same trajectory file."""

    code = "store_locked"


def parse(line: bytes) -> Trajectory | None:
    """The trajectory of one stored line, or None when the line is not one (torn, or of another shape)."""
    try:
        data = orjson.loads(line)
        return Trajectory.from_dict(data) if isinstance(data, dict) else None
    except Exception:  # noqa: BLE001 - any line that is not a trajectory is skipped, never fatal
        return None


class TrajectoryStore:
    """`store.append(traj)` survives a SIGKILL right after it returns; a torn last line is dropped."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._file: IO[bytes] | None = None

    def __iter__(self) -> Iterator[Trajectory]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                traj = parse(line)
                if traj is not None:
                    yield traj
                elif line.endswith(b"\n"):
                    log.warning("%s:%d: skipping a line that is not a trajectory: %.80r", self.path, number, line)
                else:  # a line cut by a kill mid-write: the next append removes it
                    log.info("%s:%d: skipping a torn last line", self.path, number)

    def load(self) -> list[Trajectory]:
        return list(self)

    def keys(self) -> set[tuple[str, int]]:
        """(task id, episode) of every stored trajectory."""
        return {t.key for t in self}

    @contextlib.contextmanager
    def open(self) -> Iterator[TrajectoryStore]:
        """Hold the file for appending (a run's worth of `append`s); another process gets `StoreLocked`."""
        if self._file is not None:
            yield self
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+b")  # noqa: SIM115 - closed below
        try:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreLocked(
                    f"{self.path} is being written by another process: wait for it to finish, or choose another --out"
                ) from None
            self._repair_tail(f)
            self._file = f
            yield self
        finally:
            self._file = None
            f.close()  # releases the lock

    def append(self, traj: Trajectory) -> None:
        """Write one trajectory as a line and sync it to disk."""
        if self._file is None:
            with self.open():
                self.append(traj)
            return
        self._file.write(orjson.dumps(traj.to_dict()) + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def _repair_tail(self, f: IO[bytes]) -> None:
        """End a last line that lacks its newline: complete a whole record, cut a torn one."""
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if parse(data[keep:]) is not None:
            log.warning("%s: completing a last record that was written without its newline", self.path)
            f.write(b"\n")
        else:
            log.warning("%s: dropping a torn last line of %d bytes", self.path, len(data) - keep)
            f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
