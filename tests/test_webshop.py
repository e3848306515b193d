"""The WebShop environment: catalog, search, rewards and pages in process; episodes through a real HTTP
server; and a session's results page rendered by headless Chromium. What every env must do (splits, experts,
unknown ids, determinism) is checked by test_env_contract.py."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from agentgym import EnvClient
from envs.webshop import PageView, WebShopEnv, html_to_text, render_page
from envs.webshop import tasks as T
from envs.webshop.catalog import Product, build_catalog, catalog
from envs.webshop.categories import BY_NAME, CATEGORIES, HELD_OUT_CATEGORIES
from envs.webshop.reward import Goal, score, type_factor
from envs.webshop.search import search, tokenize


@pytest.fixture(scope="module")
def server(served):
    return served("webshop")


def _pairs(goal: Goal) -> set[tuple[str, str, str]]:
    return {(goal.category, a, b) for a, b in itertools.combinations(sorted(goal.attributes), 2)}


# -- catalog and search --------------------------------------------------------------------------
def test_catalog_is_deterministic_and_sound() -> None:
    products = catalog().products
    assert len(products) >= 2000 and len(catalog().by_id) == len(products)  # ids are unique
    assert all(re.fullmatch(r"B0[A-Z0-9]{8}", p.pid) for p in products)
    assert build_catalog().products == products  # rebuilt from the seed: the same catalog
    for cat in CATEGORIES:
        pools = [cat.materials, cat.styles, cat.traits, cat.extras]
        assert len(set().union(*pools)) == sum(map(len, pools)), f"{cat.name}: attribute pools overlap"
    for p in products[::97]:
        cat = BY_NAME[p.category]
        assert p.material in cat.materials and p.style in cat.styles and set(p.features) <= set(cat.features)
        assert all(set(vs) <= set(dict(cat.options)[d]) and len(vs) >= 2 for d, vs in p.options)
        assert cat.price[0] - 1 <= p.price <= cat.price[1] + 1


def test_search_ranks_matching_products() -> None:
    assert tokenize("I need 2 Cotton T-Shirts, please") == ["2", "cotton", "tshirt"]
    results = search("cotton t-shirt")
    assert len(results) == 50
    assert all(p.category == "t-shirts" and p.material == "cotton" for p in results[:10])
    assert search("zzzz qqqq") == ()
    assert search("cotton t-shirt") is results  # cached


# -- rewards (hand-computed) ---------------------------------------------------------------------
GOAL = Goal(
    "webshop-x", "t-shirts", frozenset({"cotton", "slim fit", "machine washable"}),
    (("size", "M"), ("color", "red")), 30.0, "B0TARGET00", "red slim fit cotton t-shirt", "...",
)


def _product(category: str, attrs: tuple[str, str, str, str], price: float) -> Product:
    options = (("size", ("S", "M", "L")), ("color", ("red", "blue")))
    return Product("B0TEST0000", category, "Acme", attrs[0], attrs[1], attrs[2:], options, price, 4.0, "t", "d", ())


@pytest.mark.parametrize(
    "category,attrs,price,selected,expected",
    [
        # everything matches: (3 + 2 + 1) / 6
        ("t-shirts", ("cotton", "slim fit", "machine washable", "tagless collar"), 25.0,
         {"size": "M", "color": "red"}, 1.0),
        # 2 of 3 attributes, 1 of 2 options, price ok: (2 + 1 + 1) / 6
        ("t-shirts", ("cotton", "slim fit", "quick dry", "chest pocket"), 25.0, {"size": "M", "color": "blue"}, 0.6667),
        # the same over budget: (2 + 1 + 0) / 6
        ("t-shirts", ("cotton", "slim fit", "quick dry", "chest pocket"), 35.0, {"size": "M", "color": "blue"}, 0.5),
        # no options selected: (3 + 0 + 1) / 6
        ("t-shirts", ("cotton", "slim fit", "machine washable", "quick dry"), 25.0, {}, 0.6667),
        # a hoodie (same department): 0.5 * (2 + 2 + 1) / 6
        ("hoodies", ("cotton", "pullover", "machine washable", "thumbholes"), 20.0,
         {"size": "M", "color": "red"}, 0.4167),
        # a mug (another department): 0
        ("mugs", ("ceramic", "travel", "dishwasher safe", "lid"), 10.0, {"color": "red"}, 0.0),
    ],
)
def test_reward_partial_matches(category: str, attrs: tuple, price: float, selected: dict, expected: float) -> None:
    assert score(GOAL, _product(category, attrs, price), selected).value == expected


def test_reward_parts_and_type_factor() -> None:
    r = score(GOAL, _product("t-shirts", ("cotton", "crew neck", "quick dry", "chest pocket"), 25.0), {"size": "XL"})
    assert (r.attributes_matched, r.options_matched, r.price_ok) == (1, 0, True)  # XL is not offered
    assert r.value == round(2 / 6, 4)
    assert type_factor("boots", "boots") == 1.0 and type_factor("boots", "sandals") == 0.5
    assert type_factor("boots", "lamps") == 0.0


# -- tasks and splits ----------------------------------------------------------------------------
def test_held_out_is_new() -> None:
    held_in, held_out = T.tasks("held_in"), T.tasks("held_out")
    assert len(held_in) == 200 and len(held_out) == 50
    gin, gout = [T.goal_of(t) for t in held_in], [T.goal_of(t) for t in held_out]
    assert not {g.category for g in gin} & HELD_OUT_CATEGORIES
    assert {g.category for g in gout} & HELD_OUT_CATEGORIES == HELD_OUT_CATEGORIES
    pairs_in = set().union(*map(_pairs, gin))
    assert not any(T.held_out_pair(*p) for p in pairs_in)
    combos_in = {(g.category, g.attributes) for g in gin}
    for g in gout:
        assert (g.category, g.attributes) not in combos_in
        assert g.category in HELD_OUT_CATEGORIES or _pairs(g) - pairs_in, f"{g.task_id} reuses held-in pairs only"
    assert sum(g.category not in HELD_OUT_CATEGORIES for g in gout) == 25  # new combos of known categories
    for bad in ["webshop-200", "webshop-999", "webshop-01", "webshop--1", "webshop-", "maze-1", "webshop-1x"]:
        with pytest.raises((KeyError, ValueError)):
            T.split_of(bad)


def test_goals_are_deterministic_and_phrased() -> None:
    goal = T.goal_of("webshop-7")
    T.goal_of.cache_clear()
    assert T.goal_of("webshop-7") == goal
    assert goal.instruction.endswith("dollars") and goal.request in goal.instruction
    assert all(value in goal.instruction for _, value in goal.options)


def test_expert_wins_every_task_in_process() -> None:
    env, paged = WebShopEnv(), 0
    for task in T.tasks("held_in") + T.tasks("held_out"):
        env.reset(task)
        actions = env.expert(task)
        paged += "click[Next >]" in actions
        for action in actions:
            result = env.step(action)
            assert result.info["valid"], (task, action, result.info["error"])
        assert result.terminated and result.info["won"] and result.reward == 1.0, (task, result.info)
        assert result.info["reward_detail"]["value"] == 1.0 and len(actions) <= env.max_steps
    assert paged >= 1  # at least one plan pages past the first results page


# -- pages ---------------------------------------------------------------------------------------
def test_text_is_the_html_page() -> None:
    results = search("leather boots")
    view = PageView("results", "buy boots", query="leather boots", page=2, results=results)
    html = render_page(view)
    text, clickables = html_to_text(html)
    assert clickables == ("Back to Search", "< Prev", "Next >", *[p.pid for p in results[10:20]])
    assert list(clickables) == re.findall(r'data-click="([^"]*)"', html.replace("&lt;", "<").replace("&gt;", ">"))
    for p in results[10:20]:
        assert f"[{p.pid}]\n{p.title}\n${p.price:.2f}" in text
    assert "page 2 of 5 (results 11-20 of 50)" in text and "<" not in text.replace("[< Prev]", "")


def test_navigation_in_process() -> None:
    env = WebShopEnv()
    obs = env.reset("webshop-0")
    assert obs.available_actions == ["search[<query>]"] and "Search box" in obs.text
    assert T.goal_of("webshop-0").instruction in obs.text
    obs = env.step("search[glass desk lamp]").observation
    assert "click[Next >]" in obs.available_actions and "click[< Prev]" not in obs.available_actions
    assert "page 2 of" in env.step("CLICK[next >]").observation.text  # any case
    assert "page 1 of" in env.step("click[< Prev]").observation.text
    pid = obs.available_actions[2].removeprefix("click[").removesuffix("]")
    product = catalog().by_id[pid]
    dim, values = product.options[0]
    assert env.step(f"click[{pid.lower()}]").observation.extra["page"] == "item"
    assert f"Selected options: {dim}: {values[1]}" in env.step(f"click[{values[1]}]").observation.text  # bare value
    assert "Material:" in env.step("click[[Features]]").observation.text
    obs = env.step("click[< Prev]").observation
    assert obs.extra["page"] == "item" and f"{dim}: {values[1]}" in obs.text  # options survive sub-pages
    assert env.step("click[< Prev]").observation.extra["page"] == "results"
    assert env.step("click[Back to Search]").observation.extra["page"] == "search"
    assert "<html" in env.html() and 'data-page="search"' in env.html()


# -- through the server --------------------------------------------------------------------------
def test_info(client: EnvClient) -> None:
    info = client.info()
    assert info["name"] == "webshop" and "click[Buy Now]" in info["instruction"] and info["max_steps"] == 15


def test_invalid_actions_keep_the_episode(client: EnvClient) -> None:
    with client.session(task_id="webshop-1001") as s:
        for bad, message in [
            ("buy it now", "Unknown action 'buy it now'"),
            ("click[Buy Now]", "no clickable element 'Buy Now' on this page; clickable: none (use search"),
            ("search[]", "the query is empty"),
        ]:
            result = s.step(bad)
            assert not result.info["valid"] and not result.done and message in result.info["error"], result.info
        s.step("search[crew neck t-shirt]")
        pid = s.observation.available_actions[2].removeprefix("click[").removesuffix("]")
        result = s.step("click[B0NOTHERE1]")
        assert not result.info["valid"] and not result.done
        assert "no clickable element 'B0NOTHERE1' on this page; clickable: [Back to Search], [Next >]," in (
            result.info["error"]
        )
        s.step(f"click[{pid}]")
        result = s.step("search[red socks]")
        assert not result.info["valid"] and not result.done and "only search on the search page" in result.info["error"]
        assert "click[Buy Now]" in result.observation.available_actions  # still on the product page
        result = s.step("click[Buy Now]")
        assert result.done and result.info["valid"] and 0.0 <= result.reward < 1.0


# -- a person's view: the page in a real browser -------------------------------------------------
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
COUNT_SCRIPT = (
    "<script>document.title = document.querySelectorAll('li.result').length + ' results, '"
    " + document.querySelectorAll('[data-click]').length + ' clickable';</script>"
)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)")
def test_chromium_renders_a_sessions_results_page(client: EnvClient, tmp_path: Path) -> None:
    task, actions = "webshop-3", ["search[braided nylon charging cable]", "click[Next >]"]
    env = WebShopEnv()
    env.reset(task)
    with client.session(task_id=task) as s:
        for action in actions:  # the session and an in-process twin walk to the same page
            assert s.step(action).observation == env.step(action).observation
    page = tmp_path / "results.html"
    page.write_text(env.html().replace("</body>", COUNT_SCRIPT + "</body>"), encoding="utf-8")
    cmd = ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True, text=True)
    try:
        dom, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0
    _, clickables = html_to_text(env.html())
    assert f"<title>10 results, {len(clickables)} clickable</title>" in dom  # the browser built the list
    for product in env.view.results[10:20]:
        assert f'data-pid="{product.pid}"' in dom and product.title in dom and f"${product.price:.2f}" in dom


def test_session_page_is_served_as_html(client):
    """A person can open a session's current page: GET /sessions/{id}/html."""
    import httpx

    with client.session(split="held_in", index=0) as s:
        s.step(client.expert(s.task_id)[0])  # a search: the results page
        r = httpx.get(f"{s.url}/sessions/{s.id}/html")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "<html" in r.text.lower()
        product_ids = [a[len("click["):-1] for a in s.observation.available_actions or [] if a.startswith("click[B0")]
        assert product_ids and all(pid in r.text for pid in product_ids)
    r = httpx.get(f"{client.urls[0]}/sessions/nope/html")
    assert r.status_code == 404 and r.json()["code"] == "unknown_session"


def test_envs_without_pages_say_so(echo_server):
    import httpx

    from agentgym import EnvClient

    with EnvClient(echo_server.url) as c, c.session() as s:
        r = httpx.get(f"{s.url}/sessions/{s.id}/html")
        assert r.status_code == 404 and "no HTML view" in r.json()["message"]
