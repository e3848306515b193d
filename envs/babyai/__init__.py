"""BabyAI in text: minigrid's BabyAI levels described in sentences (GLAM's BabyAI-Text), BabyAIBot expert.

See `envs.babyai.env.BabyAIEnv` for task ids and splits, `envs.babyai.text` for the descriptions.
"""

from envs.babyai.env import BabyAIEnv

ENV = BabyAIEnv

__all__ = ["ENV", "BabyAIEnv"]
