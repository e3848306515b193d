"""Schemathesis against the live server of every registered env: no 5xx, every answer as declared."""

from __future__ import annotations

import pytest

from agentgym.registry import available
from tests.fuzzing import fuzz

# CI runs schemathesis's coverage phase (boundary and malformed values of every parameter and body
# field, a few hundred cases per env); bench/bench_reliability.py adds random and stateful fuzzing,
# thousands of cases per env.
CI_PHASES = "coverage"
TOO_SLOW_FOR_CI = {"sciworld": "every session starts a JVM: fuzzed by bench/bench_reliability.py only"}
# Envs whose sessions cost seconds each (a browser, a planned household): in CI they get only the requests
# the schema forbids (schemathesis's negative mode, 162 cases, which seldom reach the env); the bench sends
# them valid ones too.
NEGATIVE_ONLY_IN_CI = {"miniwob", "alfworld"}
# Envs whose every route and parse is another env's (a subclass changing only tasks and hints): fuzzed through it.
FUZZED_AS = {"guided_maze": "maze"}


@pytest.mark.parametrize("env", available())
def test_fuzzing_finds_nothing(server_factory, env):
    if env in TOO_SLOW_FOR_CI:
        pytest.skip(TOO_SLOW_FOR_CI[env])
    if env in FUZZED_AS:
        pytest.skip(f"the {FUZZED_AS[env]} server's code with other tasks: fuzzed as {FUZZED_AS[env]}")
    server = server_factory(env, ttl=1.0, max_sessions=4096)  # fuzzed sessions are never closed: they expire
    try:
        run = fuzz(server.url, max_examples=3, phases=CI_PHASES,
                   mode="negative" if env in NEGATIVE_ONLY_IN_CI else "all")
    finally:
        server.stop()
    assert run.cases > 100
    assert run.failures == [], run.output[-6000:]
