"""`MiniWoBEnv`: MiniWoB++ web tasks in a real headless Chromium, read as text and acted on by element ref."""

from __future__ import annotations

import os
import re
import shutil
import threading
from typing import Any

from agentgym.env import Env, Observation, SeededTasks, StepResult
from agentgym.reworded import Rewording
from envs.miniwob.page import actionable, describe

HELD_IN_TASKS = ("click-test", "click-test-2", "click-button", "click-link", "focus-text", "enter-text")
HELD_OUT_TASKS = ("click-dialog", "click-option", "click-checkboxes", "login-user", "enter-password")
HELD_IN_SEEDS = range(0, 30)
HELD_OUT_SEEDS = range(10_000, 10_020)
UNSEEN_SEED = 10_000
ACTION_HELP = "Write `click <ref>` or `type <ref> <text>` with a ref number from the page (e.g. `click 4`)."
_ACTION = re.compile(r"^(click|type)\s+\[?(\d+)\]?(?:\s+(.*))?$", re.S)


TASKS = SeededTasks("miniwob", "task", HELD_IN_TASKS, HELD_OUT_TASKS, HELD_IN_SEEDS, HELD_OUT_SEEDS, UNSEEN_SEED)
parse_task = TASKS.parse


def _use_system_chromium() -> None:
    """Point miniwob at Debian's chromium and chromedriver (it would try to download a driver otherwise)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium and driver:
        os.environ.setdefault("MINIWOB_CHROME_BINARY", chromium)
        os.environ.setdefault("MINIWOB_CHROMEDRIVER", driver)


class Browser:
    """One headless Chromium (through chromedriver) showing one MiniWoB task page; `close` ends both."""

    def __init__(self, task: str) -> None:
        from miniwob.environment import MiniWoBEnvironment

        _use_system_chromium()
        self.task = task
        self.env = MiniWoBEnvironment(subdomain=task)

    def reset(self, seed: int) -> dict[str, Any]:
        obs, _ = self.env.reset(seed=seed)
        return obs

    def act(self, kind: str, ref: int, text: str = "") -> tuple[dict[str, Any], float, bool]:
        from miniwob.action import ActionTypes

        if kind == "click":
            action = self.env.create_action(ActionTypes.CLICK_ELEMENT, ref=ref)
        else:
            action = self.env.create_action(ActionTypes.FOCUS_ELEMENT_AND_TYPE_TEXT, ref=ref, text=text)
        obs, reward, terminated, _, _ = self.env.step(action)
        return obs, float(reward), bool(terminated)

    def close(self) -> None:
        self.env.close()


def solve(task: str, obs: dict[str, Any]) -> list[str]:
    """The actions that complete `task` from its first observation (utterance, fields, DOM)."""
    fields = dict(obs["fields"])
    elements = actionable(obs["dom_elements"])

    def ref(kind: str, label: str | None = None) -> int:
        """The first element of `kind` labelled exactly `label` (else the same ignoring case)."""
        same = [r for r, k, lab in elements if k == kind and (label is None or lab == label)]
        alike = [r for r, k, lab in elements if k == kind and label and lab.lower() == label.lower()]
        return (same or alike)[0]

    submit = [r for r, k, lab in elements if k == "button" and lab.lower() in ("submit", "login")]
    if task in ("click-test", "focus-text"):
        return [f"click {elements[0][0]}"]
    if task in ("click-test-2", "click-button"):
        return [f"click {ref('button', fields['target'])}"]
    if task == "click-link":
        return [f"click {ref('link', fields['target'])}"]
    if task == "click-dialog":
        return [f"click {ref('button', 'close')}"]
    if task == "enter-text":
        return [f"type {ref('textbox')} {fields['target']}", f"click {submit[0]}"]
    if task == "click-option":
        return [f"click {ref('radio button', fields['target'])}", f"click {submit[0]}"]
    if task == "click-checkboxes":
        wanted = [v for k, v in fields.items() if k.startswith("target")]
        return [f"click {ref('checkbox', w)}" for w in wanted] + [f"click {submit[0]}"]
    if task == "login-user":
        return [f"type {ref('textbox', 'username')} {fields['username']}",
                f"type {ref('password box', 'password')} {fields['password']}", f"click {submit[0]}"]
    if task == "enter-password":
        boxes = [r for r, k, _ in elements if k == "password box"]
        return [f"type {b} {fields['target']}" for b in boxes] + [f"click {submit[0]}"]
    raise KeyError(task)


class MiniWoBEnv(Env):
    """MiniWoB++ (the `miniwob` package's 130 task pages) in headless Chromium: the page as text, element
    refs to click or type into. A session owns its browser (started on reset, ended on close).

    Task ids `miniwob-<task>-s<seed>`. Held-in: clicking, focusing and typing tasks (click-test,
    click-test-2, click-button, click-link, focus-text, enter-text), seeds 0-29 listed. Held-out: task
    types never seen (click-dialog, click-option, click-checkboxes, login-user, enter-password) and any
    seed from 10,000 on; seeds 10000-10019 listed. The expert reads the task's fields and the DOM.
    """

    name = "miniwob"
    instruction = (
        "You are using a web page in a browser to do the task it states. Each turn you see the page: its text "
        "and the elements you can act on, as `[ref] kind \"label\"`. " + ACTION_HELP
        + " Typing adds your text to what the box already holds. One action per turn; the episode ends when "
        "the task is done or failed."
    )
    action_format = "click <ref> | type <ref> <text>"
    max_steps = 10
    rewording = Rewording(actions=(("click", "press"), ("type", "enter")),
                          text=(("Page text", "Visible text"), ("textbox", "input field"), ("Task", "Goal")))
    seeded_tasks = TASKS

    def __init__(self) -> None:
        self.browser: Browser | None = None
        self.refs: set[int] = set()
        self.utterance = ""
        self.done = False
        self._expert_browser: Browser | None = None
        self._expert_lock = threading.Lock()
        self._plans: dict[str, list[str]] = {}
        self._last_text = ""

    # -- episode -----------------------------------------------------------------------------
    def reset(self, task_id: str, seed: int | None = None) -> Observation:
        """Open the task's page in this session's browser (started now, or reused for the same task type)."""
        task, episode_seed = self.parse_task(task_id)
        if self.browser is None or self.browser.task != task:
            self.close_browser()
            self.browser = Browser(task)
        obs = self.browser.reset(episode_seed)
        self.utterance, self.done = obs["utterance"], False
        return self._observation(obs)

    def step(self, action: str) -> StepResult:
        if self.browser is None or self.done:
            message = "The episode is over; reset to play again."
            return StepResult(Observation(message), terminated=True, info={"valid": False, "error": message})
        m = _ACTION.match(action.strip().rstrip("."))
        if not m or (m.group(1) == "type" and not m.group(3)):
            return self._invalid(f"Unknown action '{action.strip()[:60]}'. {ACTION_HELP}")
        kind, ref, text = m.group(1), int(m.group(2)), (m.group(3) or "").strip()
        if ref not in self.refs:
            return self._invalid(f"There is no element [{ref}] on the page; use a ref from the list.")
        obs, reward, terminated = self.browser.act(kind, ref, text)
        won = terminated and reward > 0
        if terminated:
            self.done = True
            text_out = "Task completed." if won else "The task failed."
            return StepResult(Observation(text_out), float(won), terminated=True,
                              info={"won": won, "score": float(won), "raw_reward": reward})
        return StepResult(self._observation(obs), 0.0)

    def _invalid(self, message: str) -> StepResult:
        return StepResult(Observation(message + "\n" + self._last_text), info={"valid": False, "error": message})

    def _observation(self, obs: dict[str, Any]) -> Observation:
        elements = actionable(obs["dom_elements"])
        self.refs = {r for r, _, _ in elements}
        self._last_text = describe(obs["utterance"], obs["dom_elements"])
        available = [f"click {r}" for r, k, _ in elements]
        return Observation(self._last_text, available_actions=available)

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """Actions read off the task's first page (fields and DOM), in a browser of the expert's own."""
        task, episode_seed = self.parse_task(task_id)
        with self._expert_lock:
            if task_id not in self._plans:
                if self._expert_browser is None or self._expert_browser.task != task:
                    if self._expert_browser is not None:
                        self._expert_browser.close()
                    self._expert_browser = Browser(task)
                self._plans[task_id] = solve(task, self._expert_browser.reset(episode_seed))
            return list(self._plans[task_id])

    def close_browser(self) -> None:
        if self.browser is not None:
            self.browser.close()
            self.browser = None

    def close(self) -> None:
        self.close_browser()
        with self._expert_lock:
            if self._expert_browser is not None:
                self._expert_browser.close()
                self._expert_browser = None
