"""AgentGym: environments as HTTP servers, vLLM-served agents, TRL training, held-in/held-out evaluation."""

from agentgym.client import AsyncEnvClient, AsyncEnvSession, EnvClient, EnvSession
from agentgym.env import SPLITS, Env, Observation, StepResult
from agentgym.errors import AgentGymError

__all__ = [
    "SPLITS", "AgentGymError", "AsyncEnvClient", "AsyncEnvSession", "Env", "EnvClient", "EnvSession",
    "Observation", "StepResult",
]
__version__ = "0.1.0"
