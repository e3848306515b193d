"""Fixtures that start real servers on free local ports and always stop them."""

from __future__ import annotations

import pytest

from agentgym.env_server import EnvServer


@pytest.fixture(scope="session")
def server_factory():
    """Start `agentgym serve` child processes; every one is stopped at the end of the session."""
    started: list[EnvServer] = []

    def start(env: str, **kwargs) -> EnvServer:
        server = EnvServer(env, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def echo_server(server_factory) -> EnvServer:
    return server_factory("echo")
