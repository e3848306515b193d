"""ALFWorld: household tasks in the `alfworld` package's TextWorld engine, over procedurally generated
households (its game data needs the internet; its PDDL domain, grammar and goal library ship with it).

Task ids and splits: `envs.alfworld.problems`; the engine and the planner's cache: `envs.alfworld.engine`.
"""

from envs.alfworld.env import ALFWorldEnv

ENV = ALFWorldEnv

__all__ = ["ENV", "ALFWorldEnv"]
