"""Trajectories: the schema (from the core), the append-only store, collection runs, filters and exports."""

from agentgym.trajectory import SCHEMA_VERSION, Trajectory, Turn
from trajectories.store import TrajectoryStore

__all__ = ["SCHEMA_VERSION", "Trajectory", "TrajectoryStore", "Turn"]
