"""Goals and WebShop's reward for a purchase (Yao et al. 2022, section 3.2), with exact matching.

    r = type_factor * (|goal attributes matched| + |goal options matched| + [price <= budget])
                    / (|goal attributes| + |goal options| + 1)

The type factor is 1 for a product of the goal's category, 0.5 for another category of the same
department (a hoodie for a t-shirt) and 0 otherwise (a mug for a t-shirt).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from envs.webshop.catalog import Product
from envs.webshop.categories import BY_NAME

SAME_DEPARTMENT = 0.5


@dataclass(frozen=True)
class Goal:
    """What an instruction asks for, and the product it was generated from."""

    task_id: str
    category: str
    attributes: frozenset[str]
    options: tuple[tuple[str, str], ...]  # (dimension, value)
    price_upper: float
    target: str  # the product id the goal was drawn from (one of possibly several full matches)
    request: str  # what is wanted: the instruction without its lead ("I need") and price clause
    instruction: str


@dataclass(frozen=True)
class Reward:
    """A purchase's reward and its parts."""

    type_factor: float
    attributes_matched: int
    attributes_total: int
    options_matched: int
    options_total: int
    price_ok: bool
    value: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def type_factor(goal_category: str, product_category: str) -> float:
    """1 for the goal's category, SAME_DEPARTMENT for a sibling category, 0 otherwise."""
    if goal_category == product_category:
        return 1.0
    if BY_NAME[goal_category].department == BY_NAME[product_category].department:
        return SAME_DEPARTMENT
    return 0.0


def score(goal: Goal, product: Product, selected: dict[str, str]) -> Reward:
    """The reward of buying `product` with the `selected` options (dimension -> value) for `goal`."""
    attrs = len(goal.attributes & product.attributes)
    opts = sum(1 for dim, value in goal.options if selected.get(dim) == value and value in product.offered(dim))
    price_ok = product.price <= goal.price_upper
    factor = type_factor(goal.category, product.category)
    total = len(goal.attributes) + len(goal.options) + 1
    value = round(factor * (attrs + opts + int(price_ok)) / total, 4)
    return Reward(factor, attrs, len(goal.attributes), opts, len(goal.options), price_ok, value)


def fully_matches(goal: Goal, product: Product) -> bool:
    """True when buying `product` with the goal's options earns reward 1."""
    return score(goal, product, dict(goal.options)).value == 1.0
