"""TextCraft: a Minecraft-like crafting world (AgentGym's TextCraft) over a recipe graph generated here.

See `envs.textcraft.env.TextCraftEnv` for task ids and splits, `envs.textcraft.recipes` for the graph.
"""

from envs.textcraft.env import TextCraftEnv

ENV = TextCraftEnv

__all__ = ["ENV", "TextCraftEnv"]
