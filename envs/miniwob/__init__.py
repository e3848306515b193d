"""MiniWoB++ in a real browser: the `miniwob` package's task pages in headless Chromium (Debian's
`chromium` and `chromium-driver`), the page read as text, actions as clicks and typing on element refs.

See `envs.miniwob.env.MiniWoBEnv` for task ids and splits, `envs.miniwob.page` for the text of a page.
"""

from envs.miniwob.env import MiniWoBEnv

ENV = MiniWoBEnv

__all__ = ["ENV", "MiniWoBEnv"]
