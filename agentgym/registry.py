"""Find environment classes by name: every sub-package of `envs/` that exports `ENV`, or `module:Class`."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from agentgym.env import Env
from agentgym.errors import AgentGymError
from agentgym.reworded import with_reworded_split


def available() -> list[str]:
    """Names of the environments under `envs/` (each folder is one environment)."""
    spec = importlib.util.find_spec("envs")
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted(m.name for m in pkgutil.iter_modules(spec.submodule_search_locations) if m.ispkg)


def load(name: str) -> type[Env]:
    """The `Env` class registered as `name` (a folder of `envs/`), or given as `package.module:Class`.

    An env that declares a `rewording` comes back serving the `held_out_reworded` split too.
    """
    if ":" in name:
        module_name, _, attr = name.partition(":")
    else:
        module_name, attr = f"envs.{name.replace('-', '_')}", "ENV"
        if name.replace("-", "_") not in available():
            raise AgentGymError(
                f"unknown environment '{name}': registered are {', '.join(available()) or 'none'} "
                "(or pass package.module:Class)"
            )
    cls = getattr(importlib.import_module(module_name), attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Env)):
        raise AgentGymError(f"{module_name}:{attr} is not an agentgym.Env subclass")
    return with_reworded_split(cls)
