"""A small BM25 search engine over the catalog, built once per process."""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from functools import lru_cache

from envs.webshop.catalog import Product, catalog, once

MAX_RESULTS = 50  # like WebShop: the top 50 products, 10 per page
K1, B = 1.2, 0.75
STOPWORDS = frozenset(
    "a an and are as at be by for from i im in is it its me my need of on or please that the this to want "
    "with would like looking some which".split()
)
_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


@lru_cache(maxsize=65536)
def stem(token: str) -> str:
    """A crude plural stripper, applied to documents and queries alike."""
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Lowercased, hyphens joined (t-shirt -> tshirt), stopwords dropped, plurals stripped."""
    words = _TOKEN.findall(text.lower().replace("-", ""))
    return [stem(w) for w in words if w not in STOPWORDS]


class SearchEngine:
    """BM25 with the document-length normalisation precomputed into each posting's weight."""

    def __init__(self, products: list[Product]):
        self.products = products
        docs = [Counter(tokenize(p.search_text())) for p in products]
        avgdl = sum(sum(d.values()) for d in docs) / max(len(docs), 1)
        df = Counter(t for d in docs for t in d)
        n = len(docs)
        self.postings: dict[str, dict[int, float]] = {}  # term -> {product index: BM25 weight}
        for i, doc in enumerate(docs):
            norm = K1 * (1 - B + B * sum(doc.values()) / avgdl)
            for term, tf in doc.items():
                idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
                self.postings.setdefault(term, {})[i] = idf * tf * (K1 + 1) / (tf + norm)

    def search(self, query: str, limit: int = MAX_RESULTS) -> list[Product]:
        """The best `limit` products for `query`, best first (ties in a fixed order)."""
        lists = [
            self.postings[term] if qtf == 1 else {i: qtf * w for i, w in self.postings[term].items()}
            for term, qtf in Counter(tokenize(query)).items()
            if term in self.postings
        ]
        if not lists:
            return []
        lists.sort(key=len, reverse=True)
        scores = dict(lists[0])  # start from the longest posting list, then add the others into it
        get = scores.get
        for postings in lists[1:]:
            for i, w in postings.items():
                scores[i] = get(i, 0.0) + w
        return [self.products[i] for i in heapq.nlargest(limit, scores, key=scores.__getitem__)]


@once
def engine() -> SearchEngine:
    """The search engine of this process's catalog, built on first use (once)."""
    return SearchEngine(catalog().products)


@lru_cache(maxsize=4096)
def search(query: str) -> tuple[Product, ...]:
    """The catalog's results for `query`, remembered: agents and the expert repeat queries."""
    return tuple(engine().search(query))
