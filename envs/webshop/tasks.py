"""Task ids, splits, goal generation and instruction text; the expert planner.

Task ids are `webshop-<n>`. Held in: n in 0-199, goals from the held-in categories whose attribute
combinations contain no held-out attribute pair. Held out: n in 1000-1049; even n draw from the
held-out categories (never used in held-in instructions), odd n from held-in categories but with an
attribute combination that contains a held-out pair (so it occurs in no held-in goal). An attribute
pair of a category is held out when the CRC32 of `category|a|b` is divisible by HELD_OUT_PAIR_MODULUS.
"""

from __future__ import annotations

import itertools
import math
import random
import zlib
from functools import lru_cache

from envs.webshop.catalog import Product, catalog
from envs.webshop.categories import BY_NAME, HELD_IN_CATEGORIES, HELD_OUT_CATEGORIES, Category
from envs.webshop.reward import Goal, fully_matches
from envs.webshop.search import search

HELD_IN_IDS = range(0, 200)
HELD_OUT_IDS = range(1000, 1050)
HELD_OUT_PAIR_MODULUS = 4
RESULTS_PER_PAGE = 10
PREFIX = "webshop-"

_LEADS = ("I need", "I'm looking for", "I want", "Find me", "Please get me", "Show me")
_PRICES = ("and price lower than {p:.2f} dollars", "under {p:.0f} dollars", "that costs less than {p:.2f} dollars")
_OPTION_PHRASES = {
    "size": "in size {v}", "waist": "in waist size {v}", "capacity": "with a capacity of {v}",
    "length": "with a length of {v}", "layout": "with a {v} layout", "scent": "in {v} scent",
    "model": "for the {v}",
}


def task_id_of(n: int) -> str:
    return f"{PREFIX}{n}"


def parse_task(task_id: str) -> int:
    """n of `webshop-<n>`; ValueError when malformed (no sign, no leading zeros)."""
    digits = task_id.removeprefix(PREFIX) if task_id.startswith(PREFIX) else ""
    if not digits.isdigit() or task_id != task_id_of(int(digits)):
        raise ValueError(f"malformed webshop task id '{task_id}': expected webshop-<n>, e.g. webshop-0")
    return int(digits)


def tasks(split: str) -> list[str]:
    """The ids of a split."""
    if split == "held_in":
        return [task_id_of(n) for n in HELD_IN_IDS]
    if split == "held_out":
        return [task_id_of(n) for n in HELD_OUT_IDS]
    raise KeyError(split)


def split_of(task_id: str) -> str:
    """held_in or held_out, from the id alone; KeyError/ValueError for ids of neither."""
    n = parse_task(task_id)
    if n in HELD_IN_IDS:
        return "held_in"
    if n in HELD_OUT_IDS:
        return "held_out"
    raise KeyError(task_id)


def held_out_pair(category: str, a: str, b: str) -> bool:
    """Whether the attribute pair {a, b} of `category` is reserved for held-out goals."""
    x, y = sorted((a, b))
    return zlib.crc32(f"{category}|{x}|{y}".encode()) % HELD_OUT_PAIR_MODULUS == 0


def has_held_out_pair(category: str, attributes: frozenset[str]) -> bool:
    return any(held_out_pair(category, a, b) for a, b in itertools.combinations(sorted(attributes), 2))


def _noun_phrase(cat: Category, goal_opts: dict[str, str], attrs: list[str]) -> str:
    """e.g. 'a pack of 2 red slim fit cotton t-shirts' or 'a pair of black leather boots'."""
    adjectives = [goal_opts["color"]] if "color" in goal_opts else []
    adjectives += [a for a in cat.styles if a in attrs] + [a for a in cat.materials if a in attrs]
    pair = cat.noun.lower() == cat.name  # socks, jeans, shoes, boots, headphones
    words = " ".join(adjectives)
    if "pack" in goal_opts:
        return f"a pack of {goal_opts['pack']} {words} {cat.name}".replace("  ", " ")
    if pair:
        return f"a pair of {words} {cat.name}".replace("  ", " ")
    head = f"{words} {cat.noun.lower()}".strip()
    return f"{'an' if head[0] in 'aeiou' else 'a'} {head}"


def describe(cat: Category, goal_opts: dict[str, str], attrs: list[str]) -> str:
    """The request: what is wanted, without the lead ('I need') and the price clause."""
    parts = [_noun_phrase(cat, goal_opts, attrs)]
    parts += [_OPTION_PHRASES[d].format(v=v) for d, v in goal_opts.items() if d in _OPTION_PHRASES]
    traits = [a for a in cat.traits if a in attrs]
    if traits:
        plural = "pack" in goal_opts or cat.noun.lower() == cat.name
        parts.append(f"that {'are' if plural else 'is'} {' and '.join(traits)}")
    extras = [a for a in cat.extras if a in attrs]
    if extras:
        parts.append(f"with {' and '.join(extras)}")
    return " ".join(parts)


def _draw(n: int, rng: random.Random, categories: tuple[str, ...], want_held_out_pair: bool | None) -> Goal | None:
    """One candidate goal, or None when this draw breaks a split rule or the expert could not find it."""
    cat = BY_NAME[rng.choice(categories)]
    product = rng.choice(catalog().by_category[cat.name])
    attrs = rng.sample(sorted(product.attributes), rng.choice((2, 3)))
    if want_held_out_pair is not None and has_held_out_pair(cat.name, frozenset(attrs)) != want_held_out_pair:
        return None
    dims = [(d, vs) for d, vs in product.options if rng.random() < 0.75] or [product.options[0]]
    goal_opts = {d: rng.choice(vs) for d, vs in dims}
    price_upper = float(math.ceil(product.price * rng.uniform(1.05, 1.6)))
    request = describe(cat, goal_opts, attrs)
    instruction = f"{rng.choice(_LEADS)} {request}, {rng.choice(_PRICES).format(p=price_upper)}"
    goal = Goal(task_id_of(n), cat.name, frozenset(attrs), tuple(goal_opts.items()), price_upper, product.pid,
                request, instruction)
    return goal if expert_pick(goal) is not None else None


@lru_cache(maxsize=512)
def goal_of(task_id: str) -> Goal:
    """The goal of a listed task, deterministic per id (drawn until it fits the task's split)."""
    split, n = split_of(task_id), parse_task(task_id)
    rng = random.Random(n * 1_000_003 + 17)
    if split == "held_in":
        categories, want = HELD_IN_CATEGORIES, False
    elif n % 2 == 0:
        categories, want = tuple(sorted(HELD_OUT_CATEGORIES)), None
    else:
        categories, want = HELD_IN_CATEGORIES, True
    while True:
        goal = _draw(n, rng, categories, want)
        if goal is not None:
            return goal


def expert_query(goal: Goal) -> str:
    """What the expert types into the search box: the request, lowercased."""
    return goal.request.lower()


def expert_pick(goal: Goal) -> tuple[int, Product] | None:
    """(rank, product) of the best-ranked full match in the expert query's results, if any."""
    for rank, product in enumerate(search(expert_query(goal))):
        if fully_matches(goal, product):
            return rank, product
    return None


def expert_actions(goal: Goal) -> list[str]:
    """Search, page with Next until a full match shows, open it, select every goal option, buy."""
    pick = expert_pick(goal)
    if pick is None:  # never for a listed task: goal_of only keeps goals the expert can find
        raise RuntimeError(f"no full match for {goal.task_id} in the search results")
    rank, product = pick
    return [
        f"search[{expert_query(goal)}]",
        *["click[Next >]"] * (rank // RESULTS_PER_PAGE),
        f"click[{product.pid}]",
        *[f"click[{dim}: {value}]" for dim, value in goal.options],
        "click[Buy Now]",
    ]
