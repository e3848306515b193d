"""ScienceWorld: elementary-science tasks in a simulated text world (PyPI `scienceworld`, Java 17).

Task ids, the held-in / held-out split (held-out task types: freeze,
measure-melting-point-unknown-substance, test-conductivity-of-unknown-substances, find-animal,
chemistry-mix-paint-tertiary-color, inclined-plane-friction-unnamed-surfaces): `envs.sciworld.tasks`.
The environment: `envs.sciworld.env.SciWorldEnv`; the JVM wrapper: `envs.sciworld.simulator`.
"""

from envs.sciworld.env import SciWorldEnv

ENV = SciWorldEnv

__all__ = ["ENV", "SciWorldEnv"]
