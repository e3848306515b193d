"""The synthetic product catalog, generated deterministically from a fixed seed (no downloads)."""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from envs.webshop.categories import BRANDS, BY_NAME, CATEGORIES, Category

CATALOG_SEED = 20220701
PRODUCTS_PER_CATEGORY = 140
ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
T = TypeVar("T")

_OPENERS = (
    "Built for everyday use", "Designed with care", "A customer favourite", "Made to last",
    "Simple and practical", "Thoughtfully made", "Our best seller",
)
_CLOSERS = (
    "Backed by a one-year warranty.", "Ships in recyclable packaging.", "Satisfaction guaranteed.",
    "Makes a great gift.", "Easy to clean and care for.", "Available in several options.",
)


@dataclass(frozen=True)
class Product:
    """One product: its attributes (material, style, two features), option values and price."""

    pid: str
    category: str
    brand: str
    material: str
    style: str
    features: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]  # (dimension, offered values in display order)
    price: float
    rating: float
    title: str
    description: str
    bullets: tuple[str, ...]

    @property
    def attributes(self) -> frozenset[str]:
        return frozenset((self.material, self.style, *self.features))

    @property
    def department(self) -> str:
        return BY_NAME[self.category].department

    def offered(self, dimension: str) -> tuple[str, ...]:
        """The values this product offers for an option dimension (empty when it has none)."""
        return dict(self.options).get(dimension, ())

    def search_text(self) -> str:
        """The text the search engine indexes."""
        values = " ".join(f"{dim} {v}" for dim, vs in self.options for v in vs)
        return " ".join((self.title, self.category, self.brand, self.description, " ".join(self.bullets), values))


def _cap(text: str) -> str:
    """Title case that keeps the rest of each word: 'usb-c' -> 'Usb-C', '60 percent' -> '60 Percent'."""
    return " ".join("-".join(p[:1].upper() + p[1:] for p in w.split("-")) for w in text.split())


def _pid(rng: random.Random, taken: set[str]) -> str:
    while True:
        pid = "B0" + "".join(rng.choice(ID_ALPHABET) for _ in range(8))
        if pid not in taken:
            taken.add(pid)
            return pid


def _subset(rng: random.Random, values: tuple[str, ...]) -> tuple[str, ...]:
    """At least two (or all, if fewer) of `values`, kept in display order."""
    k = rng.randint(min(2, len(values)), len(values))
    chosen = set(rng.sample(values, k))
    return tuple(v for v in values if v in chosen)


def make_product(cat: Category, rng: random.Random, taken: set[str]) -> Product:
    """One random product of `cat`."""
    pid = _pid(rng, taken)
    brand, material, style = rng.choice(BRANDS), rng.choice(cat.materials), rng.choice(cat.styles)
    features = tuple(rng.sample(cat.features, 2))
    options = tuple((dim, _subset(rng, values)) for dim, values in cat.options)
    lo, hi = cat.price
    price = max(round(rng.uniform(lo, hi)) - 0.01, 0.99)
    rating = round(rng.uniform(3.0, 5.0), 1)
    title = f"{brand} {_cap(style)} {_cap(material)} {cat.noun} - {_cap(features[0])}"
    description = (
        f"{rng.choice(_OPENERS)}: this {style} {cat.noun.lower()} from {brand} is made of {material}. "
        f"It is {' and '.join(f for f in features if f in cat.traits) or 'practical'}"
        f"{''.join(f', with {f}' for f in features if f in cat.extras)}. {rng.choice(_CLOSERS)}"
    )
    bullets = (f"Material: {material}", f"Style: {style}", *(_cap(f) for f in features), rng.choice(_CLOSERS))
    return Product(pid, cat.name, brand, material, style, features, options, price, rating, title, description,
                   bullets)


@dataclass
class Catalog:
    """Every product, by id and by category."""

    products: list[Product]

    def __post_init__(self) -> None:
        self.by_id = {p.pid: p for p in self.products}
        self.by_category: dict[str, list[Product]] = {}
        for p in self.products:
            self.by_category.setdefault(p.category, []).append(p)


def build_catalog(seed: int = CATALOG_SEED) -> Catalog:
    """A catalog of PRODUCTS_PER_CATEGORY products per category, a pure function of `seed`."""
    rng = random.Random(seed)
    taken: set[str] = set()
    return Catalog([make_product(cat, rng, taken) for cat in CATEGORIES for _ in range(PRODUCTS_PER_CATEGORY)])


def once(build: Callable[[], T]) -> Callable[[], T]:
    """`build` made to run on the first call only (one thread builds, the others wait); its result ever after."""
    lock = threading.Lock()
    built: list[T] = []

    @functools.wraps(build)
    def get() -> T:
        if not built:
            with lock:
                if not built:
                    built.append(build())
        return built[0]

    return get


@once
def catalog() -> Catalog:
    """The one catalog of this process, built on first use (once, even when sessions start in parallel)."""
    return build_catalog()
