"""`WebShopEnv`: shop for the product an instruction describes, one HTML page at a time."""

from __future__ import annotations

import re
from typing import Any

from agentgym.compat import AgentEnvSpec
from agentgym.env import Env, Observation, StepResult
from agentgym.reworded import Rewording
from agentgym.tools import Tool
from envs.webshop import tasks
from envs.webshop.pages import BACK, BUY, DESCRIPTION, FEATURES, NEXT, PREV, PageView, render_page
from envs.webshop.reward import Goal, score
from envs.webshop.search import engine, search
from envs.webshop.text import html_to_text

ACTION = re.compile(r"^\s*(search|click)\s*\[(.*)\]\s*[.!]?\s*$", re.I | re.S)
SEARCH_ACTION = "search[<query>]"
ACTION_HELP = (
    "Write search[<query>] on the search page (e.g. search[red cotton t-shirt]) or click[<element>] with "
    "the text of one bracketed element of the page (e.g. click[Next >], click[size: M], click[Buy Now])."
)


def _norm(label: str) -> str:
    return " ".join(label.casefold().split())


def available_actions(obs: Observation | None) -> dict[str, Any]:
    """WebShop's `/available_actions` answer (`has_search_bar`, `clickables`) for an observation."""
    actions = (obs.available_actions if obs else None) or []
    clickables = [a[len("click["):-1] for a in actions if a.startswith("click[") and a.endswith("]")]
    has_search = SEARCH_ACTION in actions
    return {"has_search_bar": has_search, "clickables": (["search"] if has_search else []) + clickables}


class WebShopEnv(Env):
    """A WebShop-style store (Yao et al. 2022) over a synthetic catalog of about 3,000 products.

    Task ids `webshop-<n>`: held in n = 0-199, held out n = 1000-1049 (see `envs.webshop.tasks`).
    The task id fixes the instruction; `seed` of `reset` is accepted and ignored.
    """

    name = "webshop"
    instruction = (
        "You are shopping in WebShop, an online store, for the product described by the instruction shown "
        "at the top of every page. Pages are shown as text; every element you can click is written in square "
        "brackets: [Back to Search], [< Prev], [Next >], a product id in the search results such as "
        "[B0ABCD1234], an option on a product page such as [size: M], [color: red] or [pack: 2], "
        "[Description], [Features] and [Buy Now]. " + ACTION_HELP + " Clicks match the bracketed text, "
        "ignoring case. Results come 10 per page. Open a product by clicking its id, click every option the "
        "instruction asks for (the page lists your selected options), then click[Buy Now]. Buying ends the "
        "episode with a reward from 0 to 1: the share of the requested attributes, options and price limit "
        "that your purchase meets, halved for a related but different kind of product and 0 for an "
        "unrelated one. Only a purchase that meets everything scores 1."
    )
    action_format = "search[<query>] or click[<element>]"
    max_steps = 15
    inline_step = False  # a search costs about a millisecond or more in pure Python
    # Reworded held-out variants: `find[...]` and `select[...]`, and other instruction templates (the catalog
    # uses none of these words, so product names and queries are never reworded).
    rewording = Rewording(
        actions=(("search", "find"), ("click", "select")),
        text=(("search page", "home page"), ("search bar", "query box"), ("search results", "results"),
              ("search the shop", "browse the shop"),
              ("I need", "I require"), ("I want", "I would like"), ("Show me", "Bring me"),
              ("price lower than", "price below"), ("costs less than", "is cheaper than"), ("under", "below"),
              ("You bought", "You purchased")),
    )
    tools = (
        Tool("search", "Search the shop for products (on a page with a search bar).",
             {"keywords": {"type": "string", "description": "what to search for"}}, "search[{keywords}]"),
        Tool("click", "Click a button or link of the page.",
             {"item": {"type": "string", "description": "the clickable's text, e.g. buy now"}}, "click[{item}]"),
    )
    agentenv = AgentEnvSpec("webshop", index_field="session_id", extras={"available_actions": available_actions})

    def __init__(self) -> None:
        engine()  # build the catalog and its index once per process, before the first episode
        self.goal: Goal | None = None
        self.view = PageView("search", "")
        self.results_page = 1  # the results page a product was opened from
        self.steps = 0
        self.done = False
        self._html = ""
        self._text = ""
        self._clickables: tuple[str, ...] = ()

    # -- tasks -------------------------------------------------------------------------------
    def tasks(self, split: str) -> list[str]:
        return tasks.tasks(split)

    def split_of(self, task_id: str) -> str:
        return tasks.split_of(task_id)

    def _goal(self, task_id: str) -> Goal:
        self.check_task(task_id)
        return tasks.goal_of(task_id)

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """Search with the request, page with Next to the first full match, select the goal options, buy."""
        return tasks.expert_actions(self._goal(task_id))

    # -- episode -----------------------------------------------------------------------------
    def reset(self, task_id: str, seed: int | None = None) -> Observation:
        self.goal = self._goal(task_id)
        self.steps, self.done, self.results_page = 0, False, 1
        self._show(PageView("search", self.goal.instruction))
        return self._observation()

    def html(self) -> str:
        """The HTML of the current page (what a person would see in a browser)."""
        if self.goal is None:
            raise RuntimeError("no page yet: reset a task first")
        return self._html

    def step(self, action: str) -> StepResult:
        if self.goal is None:
            raise RuntimeError("step() before reset(): reset a task first")
        if self.done:
            return self._result("The episode is over; reset to shop again.", terminated=True)
        self.steps += 1
        match = ACTION.match(action)
        if match is None:
            return self._result(f"Unknown action '{action.strip()[:80]}'. {ACTION_HELP}")
        verb, arg = match.group(1).lower(), match.group(2).strip()
        if verb == "search":
            if self.view.kind != "search":
                return self._result(
                    f"search[{arg[:80]}]: you can only search on the search page; click[{BACK}] first."
                )
            if not _norm(arg):
                return self._result("search[]: the query is empty; say what you are looking for.")
            self.results_page = 1
            self._show(PageView("results", self.goal.instruction, query=arg, results=search(arg)))
            return self._result()
        label = self._resolve(arg)
        if label is None:
            shown = ", ".join(f"[{c}]" for c in self._clickables) or "none"
            hint = " (use search[<query>] here)" if self.view.kind == "search" else ""
            error = f"click[{arg[:80]}]: no clickable element '{arg[:80]}' on this page; clickable: {shown}{hint}."
            return self._result(error)
        return self._click(label)

    def _resolve(self, arg: str) -> str | None:
        """The clickable label `arg` names (any case; brackets and a bare option value tolerated)."""
        wanted = _norm(arg.strip("[]"))
        labels = {_norm(c): c for c in self._clickables}
        if wanted in labels:
            return labels[wanted]
        product = self.view.product
        if self.view.kind == "item" and product is not None:  # WebShop style: click[m] for [size: M]
            hits = [f"{d}: {v}" for d, vs in product.options for v in vs if _norm(v) == wanted]
            if len(hits) == 1:
                return hits[0]
        return None

    def _click(self, label: str) -> StepResult:
        goal, view = self.goal, self.view
        assert goal is not None
        if label == BACK:
            self._show(PageView("search", goal.instruction))
        elif label in (NEXT, PREV) and view.kind == "results":
            self.results_page = view.page + (1 if label == NEXT else -1)
            self._show(PageView("results", goal.instruction, view.query, self.results_page, view.results))
        elif label == PREV and view.kind == "item":
            self._show(PageView("results", goal.instruction, view.query, self.results_page, view.results))
        elif label == PREV:  # description or features: back to the product, options kept
            self._show(PageView("item", goal.instruction, view.query, view.page, view.results, view.product,
                                view.selected))
        elif label in (DESCRIPTION, FEATURES):
            self._show(PageView(label.lower(), goal.instruction, view.query, view.page, view.results,
                                view.product, view.selected))
        elif label == BUY:
            assert view.product is not None
            reward = score(goal, view.product, view.selected)
            self.done = True
            self._show(PageView("done", goal.instruction, view.query, view.page, view.results, view.product,
                                view.selected, reward))
            info = {"reward_detail": reward.to_dict(), "purchased": view.product.pid, "options": dict(view.selected)}
            return self._result(reward=reward.value, terminated=True, extra_info=info)
        elif view.kind == "results":  # a product id
            product = next(p for p in view.results if p.pid == label)
            self._show(PageView("item", goal.instruction, view.query, view.page, view.results, product))
        else:  # an option button, `dim: value`
            dim, _, value = label.partition(": ")
            self._show(PageView("item", goal.instruction, view.query, view.page, view.results, view.product,
                                {**view.selected, dim: value}))
        return self._result()

    # -- rendering ---------------------------------------------------------------------------
    def _show(self, view: PageView) -> None:
        self.view = view
        self._html = render_page(view)
        self._text, self._clickables = html_to_text(self._html)

    def _observation(self, prefix: str = "") -> Observation:
        actions = [SEARCH_ACTION] if self.view.kind == "search" else []
        actions += [f"click[{c}]" for c in self._clickables]
        return Observation(text=prefix + self._text, available_actions=actions, extra={"page": self.view.kind})

    def _result(
        self,
        error: str | None = None,
        reward: float = 0.0,
        terminated: bool = False,
        extra_info: dict[str, Any] | None = None,
    ) -> StepResult:
        prefix = f"Invalid action: {error}\n\n" if error else ""
        return self.result(
            self._observation(prefix), error, won=reward == 1.0, score=reward, reward=reward,
            terminated=terminated, page=self.view.kind, steps=self.steps, **(extra_info or {}),
        )
