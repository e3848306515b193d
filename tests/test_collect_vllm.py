"""Collection through the real parts: vLLM serving the embedded model, a real TextWorld server,
`agentgym collect` as a user runs it, killed mid-run and resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from trajectories.store import TrajectoryStore

pytestmark = pytest.mark.slow


def collect_cmd(env_url: str, llm_url: str, out, *extra: str) -> list[str]:
    return [sys.executable, "-m", "agentgym.cli", "collect", "--env", "textworld", "--env-url", env_url,
            "--llm-url", llm_url, "--split", "held_in", "--episodes", "6", "--concurrency", "3",
            "--max-steps", "6", "--max-tokens", "48", "--feedback", "refine", "--out", str(out), *extra]


def test_collect_with_refine_survives_a_kill_and_resumes(vllm_server, server_factory, tmp_path):
    tw = server_factory("textworld")
    out = tmp_path / "traj.jsonl"
    proc = subprocess.Popen(collect_cmd(tw.url, vllm_server.url, out), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 1:
            break
        time.sleep(0.2)
    assert proc.poll() is None, f"collect ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(TrajectoryStore(out).load())
    assert 1 <= before < 6

    done = subprocess.run(collect_cmd(tw.url, vllm_server.url, out, "--resume"), capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"({before} already stored)" in done.stdout

    trajs = TrajectoryStore(out).load()
    assert sorted(t.key for t in trajs) == sorted({t.key for t in trajs})  # no duplicates
    assert {t.episode for t in trajs} == set(range(6))
    for traj in trajs:
        assert traj.env == "textworld" and traj.split == "held_in" and traj.model == vllm_server.model_name
        assert traj.feedback == ["refine"] and traj.steps <= 6
        assistants = [t for t in traj.turns if t.role == "assistant"]
        assert assistants and all(t.completion_tokens > 0 for t in assistants)
        for i, turn in enumerate(traj.turns):
            if turn.erroneous:  # every error is followed by feedback the agent can learn from
                assert traj.turns[i + 1].feedback and traj.turns[i + 1].kind == "feedback"
            if turn.refinement:  # a recovery comes right after an error's feedback
                assert traj.turns[i - 1].feedback and turn.valid
        assert traj.invalid_actions == sum(t.erroneous for t in assistants)
    # A 135M model errs often in TextWorld: the feedback path is exercised for real.
    assert sum(t.invalid_actions for t in trajs) > 0

