"""`TextCraftEnv`: gather materials and craft a target item through its recipe tree."""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

from agentgym.compat import AgentEnvSpec
from agentgym.env import Env, Observation, StepResult
from agentgym.errors import UnknownTask
from agentgym.reworded import Rewording
from envs.textcraft.recipes import UNSEEN_MATERIALS, Graph, graph

HELD_IN_SEEDS = 2  # listed held-in tasks: seeds 0-1 of every held-in target
SEEDS = 100  # valid seeds: 0-99 (the seed picks the distractor recipes and their order)
DISTRACTORS = 3
ACTION_HELP = (
    "Write `get <n> <material>` for a base material, `craft <n> <item> using <m> <ingredient>, ...` exactly as a "
    "crafting command lists it (or a multiple of it), or `inventory`."
)
_COUNTED = re.compile(r"^(\d+)\s+(.+)$")


def slug(item: str) -> str:
    return item.replace(" ", "_")


def task_id_of(item: str, seed: int) -> str:
    """The id of crafting `item` with distractor seed `seed`."""
    return f"textcraft-{slug(item)}-s{seed}"


def parse_task(task_id: str) -> tuple[str, int]:
    """(target item, seed) of a valid id; KeyError otherwise."""
    prefix, _, rest = task_id.partition("-")
    item_slug, _, seed = rest.rpartition("-s")
    item = item_slug.replace("_", " ")
    if prefix != "textcraft" or item not in graph().recipes or not seed.isdigit() or int(seed) >= SEEDS \
            or task_id != task_id_of(item, int(seed)):
        raise KeyError(task_id)
    return item, int(seed)


def split_of_item(item: str, g: Graph | None = None) -> str:
    """held_out for targets of depth 3-4 or needing an unseen material; held_in otherwise."""
    g = g or graph()
    if g.depth[item] >= 3 or g.bases(item) & set(UNSEEN_MATERIALS):
        return "held_out"
    return "held_in"


def _counted(text: str) -> tuple[int, str] | None:
    """(n, item name) of `3 oak log`; a trailing plural s is forgiven."""
    m = _COUNTED.match(text.strip())
    if not m or int(m.group(1)) < 1:
        return None
    name = m.group(2).strip()
    g = graph()
    if name not in g.depth and name.endswith("s") and name[:-1] in g.depth:
        name = name[:-1]
    return int(m.group(1)), name


class TextCraftEnv(Env):
    """A Minecraft-like crafting world (AgentGym's TextCraft) over a generated recipe graph.

    Task ids `textcraft-<target>-s<seed>`: craft one `<target>`; the seed (0-99) picks the distractor
    recipes shown beside the needed ones. Held-in: targets of depth 1-2 made only of seen materials
    (seeds 0-1 listed). Held-out: targets of depth 3-4 (unseen recipe depth) or needing any of the unseen
    materials (unseen ingredient sets), seed 0 listed. `seed` of `reset` is ignored.
    """

    name = "textcraft"
    instruction = (
        "You are in a crafting world. Your goal is to craft the item you are given. You start with nothing. "
        "Base materials are gathered with `get <n> <material>`; every other item is crafted with "
        "one of the crafting commands you are shown, which name the item made and the ingredients used up, "
        "e.g. `craft 4 oak plank using 1 oak log`. You may craft a multiple of a command (`craft 8 oak plank "
        "using 2 oak log`). Craft the ingredients first when they are not base materials. "
        "`inventory` lists what you hold. One command per turn."
    )
    action_format = "get <n> <material> | craft <n> <item> using <m> <ingredient>, ... | inventory"
    max_steps = 80
    agentenv = AgentEnvSpec("textcraft", index_field="data_idx")
    rewording = Rewording(
        actions=(("get", "fetch"), ("craft", "make"), ("using", "from"), ("inventory", "check items")),
        text=(("Crafting commands", "Recipes"), ("Goal", "Target"), ("Got", "Fetched"), ("Crafted", "Made"),
              ("crafting commands", "recipes"), ("Inventory", "Items")),
    )
    inline_step = inline_reset = True

    def __init__(self) -> None:
        self.graph = graph()
        self.target = ""
        self.inventory: Counter[str] = Counter()
        self.done = False
        self.steps = 0

    # -- tasks -------------------------------------------------------------------------------
    def tasks(self, split: str) -> list[str]:
        g = self.graph
        if split not in ("held_in", "held_out"):
            raise KeyError(split)
        seeds = range(HELD_IN_SEEDS) if split == "held_in" else range(1)
        items = sorted(i for i in g.recipes if split_of_item(i, g) == split)
        return [task_id_of(i, s) for s in seeds for i in items]

    def split_of(self, task_id: str) -> str:
        return split_of_item(parse_task(task_id)[0], self.graph)

    def _parse(self, task_id: str) -> tuple[str, int]:
        try:
            return parse_task(task_id)
        except KeyError:
            example = self.tasks("held_in")[0]
            raise UnknownTask(f"unknown textcraft task '{task_id}': ids are textcraft-<item>-s<0-99>, "
                              f"e.g. {example}") from None

    def max_steps_for(self, task_id: str) -> int:
        """Twice the expert's length plus 10."""
        return 2 * len(self.expert(task_id)) + 10

    # -- episode -----------------------------------------------------------------------------
    def reset(self, task_id: str, seed: int | None = None) -> Observation:
        item, _ = self._parse(task_id)
        g = self.graph
        self.target, self.inventory, self.done, self.steps = item, Counter(), False, 0
        needed = [g.recipes[n] for n in g.tree(item)]
        rng = random.Random(task_id)  # the id holds the seed
        others = [r for n, r in g.recipes.items() if n not in {x.item for x in needed}]
        shown = needed + rng.sample(others, DISTRACTORS)
        rng.shuffle(shown)
        lines = ["Crafting commands:", *(r.command() for r in shown), f"Goal: craft 1 {item}."]
        return Observation("\n".join(lines), extra={"target": item})

    def step(self, action: str) -> StepResult:
        if not self.target or self.done:
            return self._result("The episode is over; reset to play again.", valid=False, terminated=True)
        self.steps += 1
        text = " ".join(action.strip().lower().rstrip(".!").split())
        verb, _, rest = text.partition(" ")
        if text in ("inventory", "inv", "check inventory"):
            return self._result(self._inventory_text())
        if verb == "get":
            return self._get(rest)
        if verb == "craft":
            return self._craft(rest)
        return self._result(f"Unknown action '{action.strip()[:60]}'. {ACTION_HELP}", valid=False)

    def _get(self, rest: str) -> StepResult:
        counted = _counted(rest)
        if counted is None:
            return self._result(f"Write `get <n> <material>`, e.g. `get 2 oak log`. {ACTION_HELP}", valid=False)
        n, name = counted
        if name not in self.graph.materials:
            why = "it is crafted, not gathered" if name in self.graph.recipes else "there is no such item"
            return self._result(f"Could not get {name}: {why}.", valid=False)
        self.inventory[name] += n
        return self._result(f"Got {n} {name}.")

    def _craft(self, rest: str) -> StepResult:
        head, sep, tail = rest.partition(" using ")
        out = _counted(head)
        parts = [_counted(p) for p in tail.split(",")] if sep else []
        if out is None or not parts or None in parts:
            return self._result(f"Write `craft <n> <item> using <m> <ingredient>, ...`. {ACTION_HELP}", valid=False)
        n, name = out
        recipe = self.graph.recipes.get(name)
        if recipe is None:
            why = "it is a base material: use get" if name in self.graph.materials else "there is no such item"
            return self._result(f"Could not craft {name}: {why}.", valid=False)
        given = {i: q for q, i in parts}  # type: ignore[misc]
        batches = n // recipe.count
        if n % recipe.count or batches < 1 or given != {i: q * batches for i, q in recipe.ingredients}:
            return self._result(f"Could not craft {n} {name}: the ingredients or amounts are wrong.", valid=False)
        missing = [f"{q - self.inventory[i]} {i}" for i, q in given.items() if self.inventory[i] < q]
        if missing:
            return self._result(f"Could not craft {n} {name}: you are missing {', '.join(missing)}.", valid=False)
        self.inventory -= Counter(given)
        self.inventory[name] += n
        if name == self.target:
            self.done = True
            return self._result(f"Crafted {n} {name}. You crafted the goal item. You win!", won=True)
        return self._result(f"Crafted {n} {name}.")

    def _inventory_text(self) -> str:
        held = ", ".join(f"{q} {i}" for i, q in sorted(self.inventory.items()) if q)
        return f"Inventory: {held or 'empty'}."

    def _result(self, message: str, valid: bool = True, won: bool = False, terminated: bool = False) -> StepResult:
        info: dict[str, Any] = {
            "valid": valid, "error": None if valid else message, "won": won, "score": float(won),
            "steps": self.steps,
        }
        obs = Observation(message, extra={"target": self.target, "inventory": dict(self.inventory)})
        return StepResult(obs, float(won), terminated=won or terminated, info=info)

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """Get every material the whole tree needs, then craft bottom-up in exact batches."""
        item, _ = self._parse(task_id)
        gets, crafts = self.graph.plan(item)
        return [f"get {q} {m}" for m, q in gets.items()] + [r.command(b) for r, b in crafts]
