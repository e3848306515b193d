"""`SciWorldEnv`: ScienceWorld (elementary-science tasks in a text world) behind the AgentGym `Env`."""

from __future__ import annotations

import os
import threading
from typing import Any

from agentgym.compat import AgentEnvSpec
from agentgym.env import Env, Observation, StepResult
from agentgym.reworded import Rewording
from envs.sciworld import pool, tasks
from envs.sciworld.simulator import DETERMINISTIC_OPTS, JAVA_OPTS, Simulator

NO_MATCH = "No known action matches that input."
AMBIGUOUS = "Ambiguous request:"
EMPTY = "Unknown action."  # what the simulator says when an action produced no text at all
REFUSED_PREFIXES = (NO_MATCH, AMBIGUOUS, EMPTY, "ERROR:")
DETERMINISTIC_ENV = "AGENTGYM_SCIWORLD_DETERMINISTIC"
CANCEL = "cancel"  # any non-number answer cancels a pending ambiguity question
HINT = (
    "'look around' describes the room, 'inventory' lists what you carry and 'task' repeats the task. "
    "When an action is not understood, the reply lists the actions valid at that moment."
)


def _rank(action: str) -> tuple[bool, bool]:
    """Sort key that moves rarely-useful combinations (the agent itself, air, wiring) to the end."""
    words = action.split()
    return "agent" in words or "air" in words, words[0] in ("connect", "disconnect")


class SciWorldEnv(Env):
    """ScienceWorld's 30 task types (boil water, grow a plant, build a circuit, ...), one JVM per instance.

    Task ids are `sciworld-<task-type>-v<variation>`; the variation fixes the world, so `seed` is
    ignored. Held-out task types (never in held-in): freeze, measure-melting-point-unknown-substance,
    test-conductivity-of-unknown-substances, find-animal, chemistry-mix-paint-tertiary-color and
    inclined-plane-friction-unnamed-surfaces; held-out also has unseen (test) variations of the held-in
    types (see `envs.sciworld.tasks`). The score runs 0-100 (a failed task scores 0 and sets `lost`);
    the reward of a step is the score gained / 100.

    Steps call the simulator directly (2-5 ms). The valid actions (30-200 ms to list) are given only
    after `reset` and after a refused action: unknown input, or an ambiguous one, which the simulator
    answers with numbered choices (`extra["awaiting_choice"]`): a number answers it; anything else
    first cancels the question (which costs the simulator one time step), then runs as an action.
    Episodes are deterministic by default: a function of (task, variation, actions), whatever the JVM
    did before (see `simulator.DETERMINISTIC_OPTS`). Without that, living things (bees, pollination,
    growth, genetics) behave differently from one JVM to the next: the expert's gold path (computed in
    the server's catalog JVM, replayed in the session's) lost grow-fruit v0 and v6 and
    mendelian-genetics-known-plant v30, and one agent's actions on a living-thing task scored 40, then
    100. `deterministic=False` trades that for faster steps. Closed sessions' JVMs wait warm for the next
    session in `envs.sciworld.pool` (at most 8, each at most 120 s, by default).
    """

    name = "sciworld"
    version = "0.1"
    instruction = (
        "You are an agent in ScienceWorld, a simulated house with a kitchen, bathroom, workshop, "
        "greenhouse, art studio, foundry and an outside area, full of objects that behave by "
        "elementary-science rules (heat, electricity, living things, chemistry, forces). The first "
        "observation states your task: complete it. Each turn, type one action; the main forms are: "
        "'look around', 'look at OBJ', 'look in OBJ', 'read OBJ', 'inventory', 'task' (repeat the task), "
        "'open OBJ' / 'close OBJ' (e.g. 'open door to kitchen'), 'go to LOCATION' (through an open door, "
        "e.g. 'go to kitchen'), 'pick up OBJ', 'put down OBJ', 'move OBJ to OBJ', 'pour OBJ in OBJ', "
        "'dunk OBJ in OBJ', 'mix OBJ', 'activate OBJ' / 'deactivate OBJ' (e.g. a stove or sink), "
        "'use OBJ on OBJ' (e.g. 'use thermometer on water'), 'connect OBJ to OBJ' / 'disconnect OBJ' "
        "(wires and electrical terminals, e.g. 'connect battery anode to orange wire terminal 1'), "
        "'eat OBJ', 'flush OBJ', 'wait' (10 time steps), 'wait1' (one time step), and 'focus on OBJ', "
        "which marks the object your task is about: focus only on the object the task names, since "
        "focusing on a wrong one fails the task. Refer to objects by the names the observations use. "
        "When the simulator cannot tell which object you mean, it lists numbered choices: answer with "
        "the number. Your score (0-100) rises as you make progress; the task ends when it reaches 100."
    )
    action_format = "one action such as 'open door to kitchen', 'pick up thermometer' or 'focus on water'"
    agentenv = AgentEnvSpec("sciworld", index_field="data_idx")
    max_steps = tasks.MIN_STEPS  # per task: max(100, 1.5 x its gold path), see `max_steps_for`
    # Reworded held-out variants: other words for the main commands (the simulator's own aliases, such as
    # `examine`, stay as they are) and for the task and room templates.
    rewording = Rewording(
        actions=(("go", "walk"), ("pick up", "grab"), ("put down", "drop"), ("look around", "survey"),
                 ("look at", "inspect"), ("look in", "search"), ("move", "transfer"), ("focus on", "concentrate on"),
                 ("activate", "turn on"), ("deactivate", "turn off"), ("use", "apply"), ("connect", "attach"),
                 ("disconnect", "detach")),
        text=(("Your task is to", "Your goal is to"), ("This room is called", "You are in"),
              ("In it, you see", "Here you find"), ("You also see", "Also here")),
    )

    def __init__(self, deterministic: bool | None = None) -> None:
        """`deterministic` (default on; env var AGENTGYM_SCIWORLD_DETERMINISTIC=0 turns it off): see the class."""
        if deterministic is None:
            deterministic = os.environ.get(DETERMINISTIC_ENV, "1").lower() not in ("0", "false", "no")
        self.java_opts = JAVA_OPTS + (DETERMINISTIC_OPTS if deterministic else [])
        self._sim: Simulator | None = None
        self._lock = threading.Lock()  # a catalog instance may be asked for experts concurrently
        self._gold: dict[str, list[str]] = {}
        self.task_id = ""
        self._calls: list[tuple[str, ...]] = []  # simulator calls of this episode (to replay it)
        self._score = 0.0
        self._pending_choice = False  # the simulator waits for a number (an ambiguity question)
        self.steps = 0
        self.done = True

    # -- tasks -------------------------------------------------------------------------------
    def tasks(self, split: str) -> list[str]:
        return tasks.tasks(split)

    def split_of(self, task_id: str) -> str:
        return tasks.split_of(task_id)

    def max_steps_for(self, task_id: str) -> int:
        return tasks.step_budget(task_id)

    def _parse(self, task_id: str) -> tuple[str, int]:
        self.check_task(task_id)
        return tasks.parse(task_id)

    def _simulator(self) -> Simulator:
        if self._sim is None or not self._sim.alive:
            self._sim = pool.POOL.take(self.java_opts)
        return self._sim

    # -- episode -----------------------------------------------------------------------------
    def reset(self, task_id: str, seed: int | None = None) -> Observation:
        """Load the task variation (the JVM starts on the first reset and is kept for the next ones)."""
        task_type, variation = self._parse(task_id)
        with self._lock:
            sim = self._simulator()
            sim.load(task_type, variation)
            self.task_id, self._calls, self._score, self._pending_choice = task_id, [], 0.0, False
            self.steps, self.done = 0, False
            description, look = sim.task_description(), self._sim_call("look")
            available = self._valid_actions()
        extra = {"task_description": description, "hint": HINT, "task_type": task_type, "variation": variation}
        return Observation(text=f"Task: {description}\n\n{look.strip()}", available_actions=available, extra=extra)

    def step(self, action: str) -> StepResult:
        if self._sim is None or self.done:
            return self._result("The episode is over; reset to play again.", valid=False, terminated=True)
        action = " ".join(action.strip().split())
        with self._lock:
            sim = self._sim
            if self._pending_choice and not action.isdigit():
                self._sim_call("step", CANCEL)  # never let the next action be taken as the answer
            self._pending_choice = False
            text = self._sim_call("step", action)
            self.steps += 1
            raw = sim.score()
            refused = text.startswith(REFUSED_PREFIXES)
            self._pending_choice = text.startswith(AMBIGUOUS)
            lost = raw < 0
            won = not lost and (sim.completed() or raw >= 1.0)
            available = self._valid_actions() if refused and not (won or lost) else None
            if text == NO_MATCH:
                text += f" Objects you can refer to here: {', '.join(self._sim_call('objects'))}."
        score = 0.0 if lost else round(100 * raw, 2)
        reward = (score - self._score) / 100
        self._score = score
        if lost:
            text += "\nYou failed the task (a wrong focus, or an irreversible mistake)."
        return self._result(text.strip(), not refused, won, lost, reward, available)

    def _sim_call(self, method: str, *args: str) -> Any:
        """Call the simulator and log the call: listing actions or objects draws random numbers too,
        so replaying an episode means replaying all of these calls in order."""
        self._calls.append((method, *args))
        return getattr(self._sim, method)(*args)

    def _valid_actions(self) -> list[str]:
        return sorted(self._sim_call("valid_actions"), key=_rank)

    def _result(
        self,
        text: str,
        valid: bool = True,
        won: bool = False,
        lost: bool = False,
        reward: float = 0.0,
        available: list[str] | None = None,
        terminated: bool = False,
    ) -> StepResult:
        terminated = terminated or won or lost
        self.done = self.done or terminated
        extra = {"awaiting_choice": True} if self._pending_choice else {}
        obs = Observation(text=text, available_actions=available, extra=extra)
        return self.result(
            obs, None if valid else text, won=won, score=self._score, reward=reward, terminated=terminated,
            lost=lost, steps=self.steps,
        )

    # -- expert ------------------------------------------------------------------------------
    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """ScienceWorld's gold action path (numbers in it answer the simulator's ambiguity questions)."""
        task_type, variation = self._parse(task_id)
        with self._lock:
            if task_id not in self._gold:
                sim = self._simulator()
                sim.load(task_type, variation, gold=True)
                self._gold[task_id] = sim.gold_path()
                if not self.done:  # an episode was running on this JVM: rebuild its state
                    sim.load(*tasks.parse(self.task_id))
                    for method, *args in self._calls:
                        getattr(sim, method)(*args)
            return list(self._gold[task_id])

    def close(self) -> None:
        with self._lock:
            if self._sim is not None:
                pool.POOL.give(self._sim)  # kept warm for the next session, or closed (see envs.sciworld.pool)
                self._sim = None
            self.done = True
