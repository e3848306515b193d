"""The recipe graph of TextCraft: generated from a fixed seed, the same in every process (no game data).

Base materials are gathered with `get`; every other item is crafted from a recipe of one to three
ingredients, each of a lower depth (a base material has depth 0; an item's depth is one more than
its deepest ingredient). Half of the materials are *unseen*: no held-in target needs them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cache

SEEN_MATERIALS = (
    "oak log", "birch log", "cobblestone", "iron ingot", "gold ingot", "string", "feather", "flint",
    "sand", "clay", "wool", "leather", "coal", "bone", "wheat", "reed",
)
UNSEEN_MATERIALS = ("copper ingot", "amethyst shard", "slime ball", "obsidian", "quartz", "honeycomb",
                    "ink sac", "kelp")
NOUNS = (
    "plank", "stick", "rod", "gear", "block", "pane", "tile", "brick", "rope", "cloth", "bowl", "hook",
    "ring", "frame", "lamp", "box", "chest", "wheel", "blade", "handle", "shield", "helmet", "lantern",
    "banner", "bench", "cart", "compass", "clock", "bucket", "ladder", "fence", "door", "bed", "barrel",
    "saddle", "anvil", "table", "kite", "drum", "flute", "sign", "torch", "trap", "net", "sail", "boat",
    "crown", "mask", "bell", "brush", "spool", "needle", "pouch", "basket", "mirror", "vase", "sled",
)
ITEMS_PER_DEPTH = {1: 80, 2: 80, 3: 50, 4: 40}
GRAPH_SEED = 20261126


@dataclass(frozen=True)
class Recipe:
    """`count` of `item` from the ingredients (name, quantity), in the order they are written."""

    item: str
    count: int
    ingredients: tuple[tuple[str, int], ...]

    def command(self, batches: int = 1) -> str:
        """The craft command that makes `batches` times this recipe."""
        parts = ", ".join(f"{q * batches} {name}" for name, q in self.ingredients)
        return f"craft {self.count * batches} {self.item} using {parts}"


@dataclass(frozen=True)
class Graph:
    materials: frozenset[str]
    recipes: dict[str, Recipe]
    depth: dict[str, int]

    def tree(self, item: str) -> list[str]:
        """The crafted items `item` needs (itself included), deepest first, each once."""
        seen: dict[str, None] = {}
        stack = [item]
        while stack:
            name = stack.pop()
            if name in self.recipes and name not in seen:
                seen[name] = None
                stack += [i for i, _ in self.recipes[name].ingredients]
        return sorted(seen, key=lambda n: (-self.depth[n], n))

    def bases(self, item: str) -> set[str]:
        """The base materials anywhere in `item`'s recipe tree."""
        return {i for n in self.tree(item) for i, _ in self.recipes[n].ingredients if i in self.materials}

    def plan(self, item: str, count: int = 1) -> tuple[dict[str, int], list[tuple[Recipe, int]]]:
        """(materials to get, [(recipe, batches)] in crafting order) that make `count` of `item`."""
        need = {item: count}
        batches: dict[str, int] = {}
        for name in self.tree(item):  # deepest first: every consumer is counted before its ingredients
            recipe = self.recipes[name]
            b = batches[name] = math.ceil(need.get(name, 0) / recipe.count)
            for ing, q in recipe.ingredients:
                need[ing] = need.get(ing, 0) + b * q
        gets = {m: need[m] for m in sorted(need) if m in self.materials}
        crafts = [(self.recipes[n], batches[n]) for n in reversed(self.tree(item))]
        return gets, crafts


def _name(rng: random.Random, first: str, taken: set[str]) -> str | None:
    """A fresh item name: the main ingredient's first word and a noun (`iron gear`)."""
    prefix = first.split()[0]
    for noun in rng.sample(NOUNS, len(NOUNS)):
        name = f"{prefix} {noun}"
        if name not in taken:
            return name
    return None


@cache
def graph() -> Graph:
    """The one recipe graph (deterministic: a fixed seed over fixed word lists)."""
    rng = random.Random(GRAPH_SEED)
    materials = SEEN_MATERIALS + UNSEEN_MATERIALS
    depth = {m: 0 for m in materials}
    recipes: dict[str, Recipe] = {}
    taken = set(materials)
    for d, n in ITEMS_PER_DEPTH.items():
        lower = [i for i in depth if depth[i] < d]
        previous = [i for i in depth if depth[i] == d - 1]
        for k in range(n):
            # every fourth item of a depth draws on the unseen materials; the rest only on seen ones
            unseen = k % 4 == 3
            pool = [i for i in lower if unseen or not _uses_unseen(i, recipes)]
            main_pool = [i for i in previous if (i in UNSEEN_MATERIALS) == unseen] if d == 1 else [
                i for i in previous if unseen or not _uses_unseen(i, recipes)]
            main = rng.choice(main_pool)
            others = rng.sample([i for i in pool if i != main], rng.randint(0, 2))
            name = _name(rng, main, taken)
            if name is None:
                continue
            taken.add(name)
            ingredients = tuple((i, rng.randint(1, 4 if depth[i] == 0 else 2)) for i in [main, *others])
            recipes[name] = Recipe(name, rng.choice((1, 1, 2, 4)), ingredients)
            depth[name] = d
    return Graph(frozenset(materials), recipes, depth)


def _uses_unseen(item: str, recipes: dict[str, Recipe]) -> bool:
    if item in UNSEEN_MATERIALS:
        return True
    if item not in recipes:
        return False
    return any(_uses_unseen(i, recipes) for i, _ in recipes[item].ingredients)
