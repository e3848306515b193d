"""One ScienceWorld simulator (a JVM reached through py4j), driven through its raw Python interface.

The `scienceworld` package's `ScienceWorldEnv.step` rebuilds the list of valid actions after every
step (tens of ms); this wrapper calls the simulator's own `step` and cheap getters instead and asks
for valid actions only on request. It also silences the simulator's per-step debug printing (several
KB a step that a Python thread would otherwise copy to /dev/null), bounds the JVM's heap, and always
reaps the JVM: on `close()`, when the wrapper is garbage-collected, and (through py4j's
`--die-on-broken-pipe`) when this process dies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import weakref
from pathlib import Path
from typing import Any

from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway
from scienceworld.constants import BASEPATH, JAR_PATH

from agentgym.models import cache_dir

# A small serial-GC heap: ~300 MB resident per JVM instead of ~900 MB, at the same step speed.
JAVA_OPTS = ["-Xms64m", "-Xmx768m", "-XX:+UseSerialGC", "-Xss4m"]
# The simulator keeps objects in hash sets keyed by identity hash codes, and the order it ticks them in
# decides what random events (bees, pollination, growth) do. Identity hashes depend on everything the JVM
# did before, so living things behave differently in two JVMs (or after other episodes in one JVM).
# A constant identity hash makes every episode a function of (task, variation, actions), at ~1.8x the
# cost per step.
DETERMINISTIC_OPTS = ["-XX:+UnlockExperimentalVMOptions", "-XX:hashCode=2"]


def _archive_options() -> tuple[list[str], Path | None, Path | None]:
    """JVM options for a class-data-sharing archive of the simulator's classes (cuts JVM start from
    ~2.4 s to ~1.5 s here), with (temporary path, final path) when this JVM is to write it at exit.
    The archive lives in the AgentGym cache, keyed by the jar and the java binary."""
    global _archive_writer
    try:
        java = Path(shutil.which("java") or "java").resolve()
        key = f"{Path(JAR_PATH).stat().st_size}-{int(Path(JAR_PATH).stat().st_mtime)}-{int(java.stat().st_mtime)}"
        archive = cache_dir() / "sciworld" / f"classes-{key}.jsa"
        if archive.exists():
            return [f"-XX:SharedArchiveFile={archive}"], None, None
        if _archive_writer:  # one writer per process is enough
            return [], None, None
        archive.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return [], None, None
    _archive_writer = True
    tmp = archive.with_name(f"{archive.name}.{os.getpid()}.tmp")
    return [f"-XX:ArchiveClassesAtExit={tmp}"], tmp, archive


_archive_writer = False


def _shutdown(gateway: JavaGateway, proc: subprocess.Popen, archive: tuple[Path, Path] | None) -> None:
    """Stop one JVM and reap it (never leaves a zombie or a live JVM behind)."""
    global _archive_writer
    try:
        gateway.shutdown()
    except Exception:  # the JVM may already be gone
        pass
    try:
        if proc.poll() is None and proc.stdin is not None:
            proc.stdin.write(b"\n")  # --die-on-broken-pipe: any input (or EOF) makes the JVM exit
            proc.stdin.close()
        proc.wait(timeout=30 if archive else 5)  # writing the class archive takes a second or two
    except Exception:
        proc.kill()
        proc.wait(timeout=5)
    if archive:
        tmp, final = archive
        try:
            if proc.returncode == 0 and tmp.exists():
                os.replace(tmp, final)
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        _archive_writer = False


class Simulator:
    """A live ScienceWorld JVM: load a task variation, step it, read score and gold path."""

    def __init__(self, java_opts: list[str] | None = None) -> None:
        self.java_opts = list(JAVA_OPTS if java_opts is None else java_opts)
        archive_opts, tmp, final = _archive_options()
        port, proc = launch_gateway(
            classpath=JAR_PATH, die_on_exit=True, cwd=BASEPATH, return_proc=True,
            javaopts=self.java_opts + archive_opts,
        )
        self.proc: subprocess.Popen = proc
        self.gateway = JavaGateway(gateway_parameters=GatewayParameters(port=port), java_process=proc)
        archive = (tmp, final) if tmp and final else None
        self._finalizer = weakref.finalize(self, _shutdown, self.gateway, proc, archive)
        try:
            jvm = self.gateway.jvm
            # Before any simulator class is touched, so that Scala's Console captures the silent stream.
            jvm.java.lang.System.setOut(jvm.java.io.PrintStream(jvm.java.io.OutputStream.nullOutputStream()))
            self.server: Any = jvm.scienceworld.runtime.pythonapi.PythonInterface()
            s = self.server
            # Bound py4j members, resolved once.
            self._step, self._score, self._completed = s.step, s.getScore, s.getCompleted
            self._moves, self._look, self._inventory = s.getNumMoves, s.freeActionLook, s.freeActionInventory
            self._join = jvm.java.lang.String.join
        except Exception:
            self.close()
            raise

    def _list(self, java_list: Any) -> list[str]:
        """A Java list of strings in one round trip (py4j would fetch the elements one by one)."""
        joined = self._join("\n", java_list)
        return joined.split("\n") if joined else []

    @property
    def pid(self) -> int:
        return self.proc.pid

    def load(self, task: str, variation: int, gold: bool = False) -> None:
        """Load (and reset) a task variation; `gold` also computes the gold path (slow on some tasks)."""
        error = self.server.load(task, variation, "", gold)
        if error:
            raise RuntimeError(f"ScienceWorld could not load {task} variation {variation}: {error}")

    def step(self, action: str) -> str:
        return self._step(action)

    def score(self) -> float:
        """The simulator's score after the last step, 0..1 (-1 once the task has failed)."""
        return float(self._score())

    def completed(self) -> bool:
        return bool(self._completed())

    def moves(self) -> int:
        """Simulated time steps taken (a `wait` takes several)."""
        return int(self._moves())

    def look(self) -> str:
        """What `look around` shows, without taking time."""
        return self._look()

    def inventory(self) -> str:
        return self._inventory()

    def task_description(self) -> str:
        return self.server.getTaskDescription()

    def gold_path(self) -> list[str]:
        """The gold action sequence of the task last loaded with `gold=True`."""
        return self._list(self.server.getGoldActionSequence())

    def valid_actions(self) -> list[str]:
        """Every valid action-object combination in the current state.

        Costly (30-200 ms, growing with the objects in view), and it draws from the simulator's random
        generator (object names are picked at random), so it changes what happens next.
        """
        return self._list(self.server.getValidActionObjectCombinations())

    def objects(self) -> list[str]:
        """Names the agent can use for the objects it can see (cheap: a few ms)."""
        return self._list(self.server.getPossibleObjects())

    def task_names(self) -> list[str]:
        return self._list(self.server.getTaskNames())

    def variation_sets(self) -> tuple[list[int], list[int], list[int]]:
        """The package's own (train, dev, test) variations of the task last loaded."""
        s = self.server
        return list(s.getVariationsTrain()), list(s.getVariationsDev()), list(s.getVariationsTest())

    def close(self) -> None:
        """Stop the JVM and wait for it to exit; safe to call twice."""
        self._finalizer()

    @property
    def alive(self) -> bool:
        return self._finalizer.alive and self.proc.poll() is None
