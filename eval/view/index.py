"""What the viewer shows: the trajectories of run folders and JSONL files, followed as they grow, and the
reports beside them.

Records are kept as the dicts they were stored as and read defensively (`Entry.get`), so a field added to
the trajectory record later shows up without a change here, and an old file still opens.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from agentgym.trajectory import Trajectory

log = logging.getLogger(__name__)

REPORT_SUFFIXES = (".md", ".png")
RESULTS = "results.json"
SKIP_DIRS = {"adapter", "merged", ".git", "__pycache__"}  # model folders (and checkpoint-N) hold no trajectories


@dataclass
class StoredFile:
    """A JSONL store being followed: how far it has been read, and where it sits."""

    number: int
    path: Path
    label: str  # the path shown to people (relative to its root where it has one)
    run: str  # the run the file belongs to: its folder, without a trailing `trajectories`
    offset: int = 0
    inode: int | None = None
    lines: int = 0
    unreadable: int = 0
    pending: bytes = b""  # the start of a line still being written


@dataclass
class Entry:
    """One stored trajectory: the file and line it came from and its record."""

    file: StoredFile
    line: int
    record: dict[str, Any]
    seq: int  # arrival order in this viewer, for following

    @property
    def key(self) -> str:
        return f"{self.file.number}-{self.line}"

    def get(self, name: str, default: Any = None) -> Any:
        value = self.record.get(name, default)
        return default if value is None else value

    @property
    def feedback(self) -> list[str]:
        value = self.record.get("feedback") or []
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    @property
    def turns(self) -> list[dict[str, Any]]:
        return [t for t in self.record.get("turns") or [] if isinstance(t, dict)]

    @property
    def won(self) -> bool:
        return bool(self.record.get("won"))

    @cached_property
    def ended(self) -> str:
        """How the episode ended (won, lost, out_of_steps, gave_up, env_error, ...); for older records,
        which lack the field, as the trajectory record derives it."""
        try:
            return str(self.record.get("ended") or Trajectory.from_dict(self.record).ended)
        except (ValueError, TypeError, KeyError):
            return "won" if self.won else ""

    def matches(self, filters: dict[str, str]) -> bool:
        """Whether the entry passes every non-empty filter (env, split, won, feedback, model, run)."""
        for name, wanted in filters.items():
            if not wanted:
                continue
            if name == "won":
                if self.won != (wanted in ("yes", "true", "1")):
                    return False
            elif name == "feedback":
                if wanted not in (self.feedback or ["none"]):
                    return False
            elif name == "run":
                if self.file.run != wanted:
                    return False
            elif name == "ended":
                if self.ended != wanted:
                    return False
            elif str(self.get(name, "")) != wanted:
                return False
        return True


FILTERS = ("env", "split", "won", "ended", "feedback", "model", "run")


class RunIndex:
    """Trajectories and reports under some roots (run folders or JSONL files), refreshed on demand.

    `refresh()` reads only what was appended since the last call, so following a growing store costs
    the new bytes; a file that shrank or was replaced is read again from its start.
    """

    def __init__(self, paths: list[str | os.PathLike]):
        self.roots = [Path(p).resolve() for p in paths]
        self.files: dict[Path, StoredFile] = {}
        self.entries: list[Entry] = []
        self.by_key: dict[str, Entry] = {}
        self.seq = 0

    # -- discovery ---------------------------------------------------------------------------
    def _walk(self, root: Path, suffixes: tuple[str, ...]) -> list[Path]:
        found = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("checkpoint-"))
            found += [Path(folder) / n for n in sorted(names) if n.endswith(suffixes)]
        return found

    def root_of(self, path: Path) -> Path | None:
        """The root folder that holds `path`, if any."""
        return next((r for r in self.roots if r.is_dir() and path.is_relative_to(r)), None)

    def _add_file(self, path: Path) -> None:
        root = self.root_of(path)
        label = str(path.relative_to(root.parent)) if root else str(path)
        folder = path.parent
        if folder.name == "trajectories":
            folder = folder.parent
        run = str(folder.relative_to(root.parent)) if root else str(folder)
        self.files[path] = StoredFile(len(self.files), path, label, run)

    def scan(self) -> None:
        """Find JSONL files (new ones too) under the roots."""
        for root in self.roots:
            # a folder that does not exist yet is watched for the run that will write it
            candidates = self._walk(root, (".jsonl",)) if root.is_dir() else [root] if root.suffix == ".jsonl" else []
            for path in candidates:
                if path not in self.files:
                    self._add_file(path)

    # -- following ---------------------------------------------------------------------------
    def refresh(self) -> list[Entry]:
        """Find new files and read what was appended to every file since the last call; returns the new entries."""
        self.scan()
        new: list[Entry] = []
        for f in list(self.files.values()):
            new += self._follow(f)
        return new

    def _forget(self, f: StoredFile) -> None:
        self.entries = [e for e in self.entries if e.file is not f]
        self.by_key = {e.key: e for e in self.entries}
        f.offset, f.lines, f.unreadable, f.pending = 0, 0, 0, b""

    def _follow(self, f: StoredFile) -> list[Entry]:
        try:
            st = f.path.stat()
        except FileNotFoundError:
            if f.offset:
                self._forget(f)
            return []
        if st.st_size < f.offset or (f.inode is not None and st.st_ino != f.inode):
            log.info("%s was rewritten: reading it again", f.path)
            self._forget(f)
        f.inode = st.st_ino
        if st.st_size == f.offset:
            return []
        with open(f.path, "rb") as fh:
            fh.seek(f.offset)
            data = fh.read(st.st_size - f.offset)
        f.offset += len(data)
        *lines, f.pending = (f.pending + data).split(b"\n")
        new = []
        for raw in lines:
            f.lines += 1
            if not raw.strip():
                continue
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                record = None
                log.warning("%s:%d: not JSON (%s)", f.path, f.lines, exc)
            if not isinstance(record, dict):
                f.unreadable += 1
                continue
            self.seq += 1
            entry = Entry(f, f.lines, record, self.seq)
            new.append(entry)
            self.entries.append(entry)
            self.by_key[entry.key] = entry
        return new

    # -- queries -----------------------------------------------------------------------------
    def since(self, seq: int) -> list[Entry]:
        """Entries that arrived after `seq`, oldest first."""
        return [e for e in self.entries if e.seq > seq]

    def select(self, filters: dict[str, str]) -> list[Entry]:
        return [e for e in self.entries if e.matches(filters)]

    def choices(self) -> dict[str, list[str]]:
        """The values each filter can take, from what is stored."""
        out: dict[str, set[str]] = {name: set() for name in FILTERS}
        for e in self.entries:
            for name in ("env", "split", "model"):
                out[name].add(str(e.get(name, "")))
            out["feedback"].update(e.feedback or ["none"])
            out["run"].add(e.file.run)
            out["ended"].add(e.ended)
        out["won"] = {"yes", "no"}
        return {k: sorted(v - {""}) for k, v in out.items()}

    def reports(self) -> list[tuple[Path, Path]]:
        """(root, file) of every Markdown report, plot and `results.json` under the root folders."""
        found = []
        for root in self.roots:
            if root.is_dir():
                found += [(root, p) for p in self._walk(root, (*REPORT_SUFFIXES, RESULTS))]
        return found

    def resolve(self, root_no: int, rel: str) -> Path:
        """The file `rel` under root number `root_no`; KeyError when it is outside the roots or absent."""
        if not 0 <= root_no < len(self.roots) or not self.roots[root_no].is_dir():
            raise KeyError(f"no root folder number {root_no}")
        root = self.roots[root_no]
        path = (root / rel).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise KeyError(f"no file '{rel}' in {root}")
        return path
