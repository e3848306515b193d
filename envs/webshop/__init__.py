"""WebShop: find and buy the product an instruction describes in a synthetic online shop (Yao et al. 2022).

The catalog (about 3,000 products in 22 categories), its BM25 search engine and every task are generated
deterministically in pure Python: nothing is downloaded. Pages are HTML (`render_page`, `WebShopEnv.html`);
the agent reads the same page as text, clickable elements shown in square brackets (`html_to_text`).
"""

from envs.webshop.env import WebShopEnv
from envs.webshop.pages import PageView, render_page
from envs.webshop.text import html_to_text

ENV = WebShopEnv

__all__ = ["ENV", "PageView", "WebShopEnv", "html_to_text", "render_page"]
