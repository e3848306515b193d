"""HTML pages of the shop. Every clickable element carries `data-click="<label>"`; `envs.webshop.text`
turns the same HTML into the text an agent reads, where that element shows as `[<label>]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from envs.webshop.catalog import Product
from envs.webshop.reward import Reward

PER_PAGE = 10
BACK, PREV, NEXT, BUY = "Back to Search", "< Prev", "Next >", "Buy Now"
DESCRIPTION, FEATURES = "Description", "Features"
SEARCH_HINT = "Search box: type search[your query] to search the shop."

STYLE = """
body{font-family:Helvetica,Arial,sans-serif;margin:0;background:#f4f4f4;color:#222}
header{background:#232f3e;color:#fff;padding:8px 16px}header h1{margin:0;font-size:22px}
#instruction{background:#fff8dc;padding:8px 16px;border-bottom:1px solid #ddd}
main{padding:12px 16px;max-width:900px}
button{margin:2px;padding:4px 10px;border:1px solid #888;border-radius:4px;background:#fff;cursor:pointer}
button.selected{background:#ffd814;border-color:#c8a600;font-weight:bold}
button.buy{background:#ffa41c;font-weight:bold}
ul.results{list-style:none;padding:0}li.result{background:#fff;margin:6px 0;padding:8px;border-radius:4px}
.price{color:#b12704}.title{font-weight:bold}input[type=search]{width:60%;padding:6px}
"""


@dataclass
class PageView:
    """Everything a page shows; `kind` is search, results, item, description, features or done."""

    kind: str
    instruction: str
    query: str = ""
    page: int = 1
    results: tuple[Product, ...] = ()
    product: Product | None = None
    selected: dict[str, str] = field(default_factory=dict)
    reward: Reward | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.results) // PER_PAGE))


def button(label: str, css: str = "", shown: str | None = None) -> str:
    """A clickable element: `label` is what click[...] names; `shown` what the browser displays."""
    cls = f' class="{css}"' if css else ""
    return f'<button type="button"{cls} data-click="{escape(label)}">{escape(shown or label)}</button>'


def _nav(*labels: str) -> str:
    return f'<nav class="nav">{" ".join(button(x) for x in labels)}</nav>'


def _search(view: PageView) -> str:
    return (
        '<form class="search" role="search" action="#">'
        f'<input type="search" name="query" placeholder="Search products" data-text="{escape(SEARCH_HINT)}">'
        '<button type="submit" data-skip="1">Search</button></form>'
    )


def _results(view: PageView) -> str:
    first = (view.page - 1) * PER_PAGE
    shown = view.results[first:first + PER_PAGE]
    nav = [BACK] + ([PREV] if view.page > 1 else []) + ([NEXT] if view.page < view.pages else [])
    items = "".join(
        f'<li class="result" data-pid="{p.pid}">{button(p.pid, "product-link")}'
        f'<div class="title">{escape(p.title)}</div><div class="price">${p.price:.2f}</div></li>'
        for p in shown
    )
    if not shown:
        header = f'<p>No products match "{escape(view.query)}".</p>'
    else:
        header = (
            f'<p>Results for "{escape(view.query)}": page {view.page} of {view.pages} '
            f"(results {first + 1}-{first + len(shown)} of {len(view.results)})</p>"
        )
    return f'{_nav(*nav)}{header}<ul class="results">{items}</ul>'


def _options(p: Product, selected: dict[str, str]) -> str:
    groups = []
    for dim, values in p.options:
        buttons = " ".join(
            button(f"{dim}: {v}", "option selected" if selected.get(dim) == v else "option", v) for v in values
        )
        groups.append(f'<div class="option-group"><span class="option-name">{escape(dim)}:</span> {buttons}</div>')
    chosen = ", ".join(f"{d}: {v}" for d, v in selected.items()) or "none"
    return f'<div class="options">{"".join(groups)}<p class="chosen">Selected options: {escape(chosen)}</p></div>'


def _item(view: PageView) -> str:
    p = view.product
    assert p is not None
    return (
        f"{_nav(BACK, PREV)}{_options(p, view.selected)}"
        f'<h2 class="title">{escape(p.title)}</h2><p class="price">Price: ${p.price:.2f}</p>'
        f"<p>Rating: {p.rating} out of 5</p>"
        f'<div class="more">{button(DESCRIPTION)} {button(FEATURES)}</div>'
        f'<div class="buy-box">{button(BUY, "buy")}</div>'
    )


def _detail(view: PageView) -> str:
    p = view.product
    assert p is not None
    if view.kind == "description":
        body = f"<p>{escape(p.description)}</p>"
    else:
        body = "<ul>" + "".join(f"<li>{escape(b)}</li>" for b in p.bullets) + "</ul>"
    return f'{_nav(BACK, PREV)}<h2>{escape(view.kind.capitalize())} of {escape(p.pid)}</h2>{body}'


def _done(view: PageView) -> str:
    p, r = view.product, view.reward
    assert p is not None and r is not None
    chosen = ", ".join(f"{d}: {v}" for d, v in view.selected.items()) or "no options"
    return (
        "<h2>Thank you for shopping with us!</h2>"
        f"<p>You bought {escape(p.pid)}: {escape(p.title)} ({escape(chosen)}) for ${p.price:.2f}.</p>"
        f'<p class="score">Your score (min 0.0, max 1.0): {r.value:.2f}</p>'
    )


_BODIES = {"search": _search, "results": _results, "item": _item, "description": _detail, "features": _detail,
           "done": _done}


def render_page(view: PageView) -> str:
    """The HTML of a page."""
    if view.kind not in _BODIES:
        raise ValueError(f"unknown page kind '{view.kind}'")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>WebShop: {view.kind}</title><style>{STYLE}</style></head>"
        f'<body data-page="{view.kind}"><header><h1>WebShop</h1></header>'
        f'<div id="instruction">Instruction: {escape(view.instruction)}</div>'
        f"<main>{_BODIES[view.kind](view)}</main></body></html>"
    )
