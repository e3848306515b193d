"""What the main job relies on, without vLLM: demonstrations whose thoughts come from the state, a reply
budget no demonstrated reply overflows, windowed contexts trained as they were seen, failures told apart,
and stages keyed by their inputs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from agentgym import AsyncEnvClient, EnvClient
from agentgym.llm import ScriptedLLM
from agentgym.runner import Runner, RunnerConfig
from envs.maze import MazeEnv
from envs.wordle import WordleEnv
from training.pipeline import STOP, Stages, check_reply_budget, load_config, training_turns
from trajectories.export import to_samples

OPEN = re.compile(r"Open: (.*)\.$", re.MULTILINE)


def openings(text: str) -> dict[str, str]:
    """`{"north": "toward the goal", "east": ""}` from a maze observation's `Open:` line."""
    out = {}
    for part in OPEN.findall(text)[-1].split("; "):
        name, _, notes = part.partition(" (")
        out[name] = notes.rstrip(")")
    return out


@pytest.mark.parametrize("task", ["maze-4x4-s0", "maze-5x5-s7", "maze-7x7-s1003"])
def test_maze_thoughts_state_what_the_observation_shows(task):
    env = MazeEnv()
    obs = env.reset(task)
    actions, thoughts = env.expert(task), env.expert_thoughts(task)
    assert len(actions) == len(thoughts) > 0
    kinds = set()
    for action, thought in zip(actions, thoughts, strict=True):
        direction, seen = action.split()[1], openings(obs.text)
        assert direction in thought.lower() and direction in seen
        if thought.startswith(direction.capitalize() + " leads toward the goal"):
            kinds.add("toward")
            assert seen[direction] == "toward the goal"  # and not explored
        elif "go back" in thought:
            kinds.add("back")
            assert seen[direction].endswith("way back")
            assert all("explored" in n or "way back" in n for n in seen.values())  # nothing new left
        else:
            kinds.add("detour")
            assert seen[direction] == "" and not any(n == "toward the goal" for n in seen.values())
        obs = env.step(action).observation
    assert "You win" in obs.text
    assert len(set(thoughts)) > 1 and len(kinds) > 1  # the reason changes with the state


def test_wordle_thoughts_follow_the_feedback():
    env = WordleEnv()
    for task in env.tasks("held_in")[:20]:
        target = env._target(task)
        guesses = [a.split()[1] for a in env.expert(task)]
        thoughts = env.expert_thoughts(task)
        assert "TRACE" in thoughts[0] and len(thoughts) == len(guesses)
        for i in range(1, len(guesses)):
            absent = re.search(r"no ([A-Z, ]+)\.", thoughts[i])
            seen = "".join(guesses[:i])
            for letter in (absent.group(1).split(", ") if absent else []):
                assert letter.lower() in seen and letter.lower() not in target
            assert guesses[i].upper() in thoughts[i]


def test_expert_plan_over_http_carries_the_thoughts(maze):
    with EnvClient(maze.url) as client:
        plan = client.expert_plan("maze-4x4-s5")
        assert plan["actions"] == client.expert("maze-4x4-s5")
        assert plan["thoughts"] == MazeEnv().expert_thoughts("maze-4x4-s5")


def test_demonstrated_replies_fit_the_pipeline_budget(served, tmp_path, model_dir):
    """No reply the model is taught is cut by the budget the pipeline generates with, nor by its stops."""
    cfg = load_config(None, [f"out={tmp_path}", f"model={model_dir}"])
    env_name = cfg.envs[0]  # the default main job's env
    url = served(env_name).url

    async def demos():
        async with AsyncEnvClient(url) as env:
            runner = Runner(None, env, [], RunnerConfig(history=cfg.history))
            return [await runner.run_episode(t) for t in (await env.tasks("held_in"))[::20]]

    from trajectories.store import TrajectoryStore

    store = TrajectoryStore(tmp_path / f"{env_name}.jsonl")
    for traj in asyncio.run(demos()):
        assert traj.won
        store.append(traj)
        for turn in traj.turns:
            if turn.role == "assistant":
                before_action = turn.text.split("\nAction:")[0]
                assert not any(stop in before_action for stop in STOP)
    longest = check_reply_budget(tmp_path, cfg)
    assert 0 < longest <= cfg.max_tokens
    small = load_config(None, [f"model={model_dir}", f"max_tokens={longest - 1}"])
    with pytest.raises(ValueError, match="reply budget"):
        check_reply_budget(tmp_path, small)


def test_windowed_samples_are_the_contexts_the_agent_saw(maze):
    """With history=0 each learned reply becomes one sample whose context is exactly what the LLM was sent."""
    url = maze.url

    async def episode():
        async with AsyncEnvClient(url) as env:
            plan = await env.expert("maze-4x4-s2")
            llm = ScriptedLLM(["no action here"] + [f"Thought: go.\nAction: {a}" for a in plan])
            runner = Runner(llm, env, [], RunnerConfig(history=0, max_steps=40))
            return await runner.run_episode("maze-4x4-s2"), llm.calls

    traj, calls = asyncio.run(episode())
    assert traj.won and traj.history == 0
    samples = to_samples(traj)
    assert len(samples) == len(calls) - 1  # the unparsable first reply is not learned
    for sample, sent in zip(samples, calls[1:], strict=True):
        assert [{"role": m["role"], "content": m["content"]} for m in sample[:-1]] == sent
        assert [m["train"] for m in sample] == [False] * (len(sample) - 1) + [True]
        assert len(sent) == 3  # system, instruction, latest observation


def test_failures_are_told_apart(maze):
    url = maze.url

    class Down(ScriptedLLM):
        async def chat(self, messages, sampling, n=1):
            raise ConnectionError("refused")

    async def play(llm):
        async with AsyncEnvClient(url) as env:
            return await Runner(llm, env, [], RunnerConfig(max_steps=3)).run_episode("maze-4x4-s1")

    gave_up = asyncio.run(play(ScriptedLLM(["I do not know."])))
    assert (gave_up.ended, gave_up.infra_failure) == ("gave_up", False)
    lost = asyncio.run(play(ScriptedLLM(["Action: move north", "Action: move south"])))
    assert (lost.ended, lost.infra_failure) == ("out_of_steps", False)
    down = asyncio.run(play(Down([])))
    assert (down.ended, down.infra_failure) == ("llm_error", True) and "refused" in down.error


def test_training_turns_count_refinements():
    from agentgym.trajectory import Trajectory, Turn

    agent = Trajectory("maze", "t", "held_in", "bc", won=True, turns=[
        Turn("system", "s"), Turn("user", "u"),
        Turn("assistant", "Action: x", erroneous=True), Turn("user", "no", feedback=True),
        Turn("assistant", "Action: y", refinement=True), Turn("user", "ok"), Turn("assistant", "Action: z")])
    expert = Trajectory("maze", "t", "held_in", "expert", won=True,
                        turns=[Turn("system", "s"), Turn("user", "u"), Turn("assistant", "Action: y")])
    assert training_turns([agent, expert]) == {"demonstration": 1, "agent": 1, "refinement": 1,
                                               "masked_erroneous": 1}


def test_stages_rerun_only_when_their_inputs_change(tmp_path: Path, capsys):
    calls = []

    def work(folder: Path, tag: str) -> dict:
        folder.mkdir(exist_ok=True)
        (folder / f"{tag}.txt").write_text(tag)
        calls.append(tag)
        return {"tag": tag}

    stages = Stages(tmp_path)
    first = stages.run("s", {"n": 1}, tmp_path / "out", work, tmp_path / "out", "a")
    again = stages.run("s", {"n": 1}, tmp_path / "out", work, tmp_path / "out", "b")
    assert calls == ["a"] and again["key"] == first["key"] and "skipped" in capsys.readouterr().out
    stages.run("s", {"n": 2}, tmp_path / "out", work, tmp_path / "out", "c")
    assert calls == ["a", "c"] and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c.txt"]

    # a stage killed part-way resumes in its folder with the same inputs, and starts clean with others
    def killed(folder: Path) -> dict:
        folder.mkdir(exist_ok=True)
        (folder / "partial.txt").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stages.run("t", {"n": 1}, tmp_path / "t", killed, tmp_path / "t")
    stages.run("t", {"n": 1}, tmp_path / "t", work, tmp_path / "t", "resumed")
    assert (tmp_path / "t" / "partial.txt").exists()
    with pytest.raises(KeyboardInterrupt):
        stages.run("u", {"n": 1}, tmp_path / "u", killed, tmp_path / "u")
    stages.run("u", {"n": 2}, tmp_path / "u", work, tmp_path / "u", "fresh")
    assert not (tmp_path / "u" / "partial.txt").exists()


def test_pipeline_evaluates_reworded_splits_and_whole_envs_held_out():
    from training.pipeline import eval_suite

    cfg = load_config(None, ["envs=[maze]", "unseen_envs=[babyai]", "eval_splits=[held_in,held_out,held_out_reworded]"])
    suite = eval_suite(cfg)
    assert {(e.env, e.split) for e in suite.entries} == {
        (env, split) for env in ("maze", "babyai") for split in ("held_in", "held_out", "held_out_reworded")}
    assert suite.unseen_envs == ["babyai"]
    with pytest.raises(ValueError, match="both trained on and held out"):
        eval_suite(load_config(None, ["envs=[maze]", "unseen_envs=[maze]"]))
