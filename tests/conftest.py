"""Fixtures that start real servers on free local ports and always stop them."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentgym.client import EnvClient
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
def served(server_factory):
    """One server per environment for the whole session, started on first use: `served("maze").url`."""
    cache: dict[str, EnvServer] = {}

    def get(env: str) -> EnvServer:
        if env not in cache:
            cache[env] = server_factory(env)
        return cache[env]

    return get


@pytest.fixture(scope="session")
def echo_server(server_factory) -> EnvServer:
    return server_factory("echo")


@pytest.fixture(scope="session")
def maze(served) -> EnvServer:
    """The maze server the runner, protocol and maze tests share."""
    return served("maze")


@pytest.fixture(scope="module")
def client(server: EnvServer):
    """A client of the test module's `server` fixture (each env's test module says which server that is)."""
    with EnvClient(server.url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def env_cache(tmp_path_factory) -> Path:
    """An empty AGENTGYM_CACHE for a module's own env server, for envs that generate games into the cache."""
    return tmp_path_factory.mktemp("agentgym-cache")


@pytest.fixture(scope="session")
def model_dir() -> str:
    """The embedded model, converted once into the cache."""
    from agentgym.models import resolve_model

    return resolve_model("smollm2")


@pytest.fixture(scope="session")
def tiny_adapter(model_dir, tmp_path_factory) -> str:
    """A PEFT LoRA adapter with random (non-zero) weights on the embedded model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("adapter")
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def vllm_server(model_dir, tiny_adapter):
    """One real vLLM server for the whole test run (start-up costs minutes on 2 cores).

    It serves the embedded model and `tiny_adapter` as model 'tiny'. On teardown it checks that
    no process of the server survives.
    """
    import psutil

    from agentgym.vllm_server import VLLMServer

    server = VLLMServer("smollm2", loras={"tiny": tiny_adapter}).start()
    family = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    yield server
    server.stop()
    _, alive = psutil.wait_procs(family, timeout=10)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"vLLM processes survived stop(): {alive}"


# The viewer's tests: headless Chromium with screenshots on failure, and run folders made by the real runner.
from tests.browser import browser, chromium, pytest_runtest_makereport  # noqa: E402, F401


@pytest.fixture(scope="session")
def view_runs(maze, tmp_path_factory):
    """Run folders with erring, teacher-corrected and expert trajectories on maze, and two eval reports."""
    from tests.view_data import make_runs

    return make_runs(maze.url, tmp_path_factory.mktemp("view-runs") / "runs")


@pytest.fixture(scope="session")
def view_server(view_runs, tmp_path_factory):
    """`agentgym view` over `view_runs` and over an empty folder that tests write live runs into."""
    from eval.view.server import ViewServer

    demos, live = tmp_path_factory.mktemp("demos") / "human.jsonl", tmp_path_factory.mktemp("live")
    with ViewServer([view_runs, live], demos=demos) as server:
        server.demos_path, server.live_dir = demos, live
        yield server
