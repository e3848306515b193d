"""The runner, feedback strategies and the trajectory store, with the ScriptedLLM test double against a
real Maze server (the integration with real vLLM is in test_collect_vllm.py)."""

from __future__ import annotations

import asyncio

import pytest

from agentgym import AsyncEnvClient
from agentgym.feedback import EnvError, EpisodeContext, Refine, Reflect, Strategy, Teacher, make_strategies
from agentgym.llm import Sampling, ScriptedLLM
from agentgym.react import parse_action
from agentgym.runner import Runner, RunnerConfig, build_context
from agentgym.trajectory import Trajectory, Turn
from trajectories.collect import collect
from trajectories.store import TrajectoryStore

TASK = "maze-4x4-s3"


def run(coro):
    return asyncio.run(coro)


async def play(url: str, replies, strategies=(), task: str = TASK, **config) -> list[Trajectory]:
    async with AsyncEnvClient(url) as env:
        if callable(replies):
            plan = await env.expert(task)
            replies = replies(plan)
        runner = Runner(None if replies is None else ScriptedLLM(replies), env, list(strategies),
                        RunnerConfig(**config))
        return await runner.run_task(task)


def act(action: str) -> str:
    return f"Thought: go on.\nAction: {action}"


def test_parser_is_strict():
    assert parse_action("Thought: hm\nAction: move north").action == "move north"
    assert parse_action("action:   take apple  ").action == "take apple"
    assert parse_action("Thought: hm\nAction: `go west`\nAction: other").action == "go west"
    for bad in ("move north", "Thought: only thinking", "Action:", ""):
        parsed = parse_action(bad)
        assert parsed.action is None and "Action" in parsed.error


def test_sampling_request_fields_leave_unset_out_and_merge_extra():
    sampling = Sampling(temperature=0.0, max_tokens=8, stop=["\n"], extra={"ignore_eos": True, "min_tokens": 8})
    assert sampling.request_fields() == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 8, "stop": ["\n"],
                                         "ignore_eos": True, "min_tokens": 8}
    assert "seed" not in Sampling(seed=None).request_fields() and Sampling(seed=3).request_fields()["seed"] == 3


def test_context_keeps_instruction_and_alternates():
    turns = [Turn("system", "S" * 10), Turn("user", "U" * 10)]
    for i in range(20):
        turns += [Turn("assistant", f"a{i}" * 20), Turn("user", f"o{i}" * 20)]
    messages = build_context(turns, max_chars=400)
    assert messages[0]["content"] == "S" * 10 and messages[1]["content"].startswith("U" * 10)
    assert "earlier messages omitted" in messages[1]["content"]
    assert messages[2]["role"] == "assistant" and messages[-1]["content"].startswith("o19")
    roles = [m["role"] for m in messages[1:]]
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False))
    assert len(build_context(turns[:6], max_chars=10_000)) == 6  # nothing dropped when it fits


def test_expert_mode_wins_with_valid_turns(maze):
    [traj] = run(play(maze.url, None))
    assert traj.won and traj.error is None and traj.model == "expert"
    actions = [t for t in traj.turns if t.role == "assistant"]
    assert actions and all(t.valid and not t.erroneous for t in actions)
    assert traj.split == "held_in" and traj.steps == len(actions)


def test_env_error_feedback_then_recovery(maze):
    script = lambda plan: ["I think I will wander.", act("fly upward")] + [act(a) for a in plan]  # noqa: E731
    [traj] = run(play(maze.url, script, [EnvError()]))
    assert traj.won and traj.invalid_actions == 2
    bad = [t for t in traj.turns if t.erroneous]
    assert [t.action for t in bad] == [None, "fly upward"]
    feedback = [t for t in traj.turns if t.feedback]
    assert len(feedback) == 2 and "Action" in feedback[0].text and "not accepted" in feedback[1].text
    assert not any(t.refinement for t in traj.turns)  # only `refine` flags recoveries


def test_refine_flags_the_recovery_turn(maze):
    script = lambda plan: [act("fly upward"), act("fly upward")] + [act(a) for a in plan]  # noqa: E731
    [traj] = run(play(maze.url, script, [Refine()]))
    assert traj.won
    assistants = [t for t in traj.turns if t.role == "assistant"]
    assert [t.erroneous for t in assistants[:3]] == [True, True, False]
    assert [t.refinement for t in assistants] == [False, False, True] + [False] * (len(assistants) - 3)
    # every erroneous turn is followed by a feedback turn
    for i, t in enumerate(traj.turns):
        if t.erroneous:
            assert traj.turns[i + 1].feedback


def test_without_feedback_invalid_actions_are_plain_observations(maze):
    script = lambda plan: [act("fly upward")] + [act(a) for a in plan]  # noqa: E731
    [traj] = run(play(maze.url, script, []))
    assert traj.won and traj.invalid_actions == 1
    assert not any(t.feedback for t in traj.turns)
    assert traj.turns[2].erroneous and traj.turns[3].kind == "observation" and not traj.turns[3].feedback


def test_teacher_corrects_off_track_actions(maze):
    [traj] = run(play(maze.url, [act("move north")], [Teacher()]))
    assert traj.won
    corrected = [t for t in traj.turns if t.refinement]
    assert corrected and all(t.kind == "action" and t.valid for t in corrected)
    teacher_turns = [t for t in traj.turns if t.kind == "teacher"]
    assert len(teacher_turns) == len(corrected) == sum(t.erroneous for t in traj.turns)


def test_reflection_is_carried_into_the_next_attempt(maze):
    def reply(messages):
        if "did not complete the task" in messages[-1]["content"]:
            return "I kept walking into walls; next time I will read the open directions."
        return act("fly upward")

    async def main():
        async with AsyncEnvClient(maze.url) as env:
            runner = Runner(ScriptedLLM(reply), env, [EnvError(), Reflect(attempts=2)], RunnerConfig(max_retries=1))
            return await runner.run_task(TASK)

    first, second = run(main())
    assert (first.attempt, second.attempt) == (0, 1) and not first.won
    assert "gave up" in first.error
    assert "read the open directions" in second.turns[1].text
    assert "read the open directions" not in first.turns[1].text


class Coach(Strategy):
    """A strategy written only through the runner's hooks (nothing in the runner knows it)."""

    name = "coach"

    def __init__(self):
        self.seen: list[tuple[int, str]] = []

    async def on_unparsable(self, ctx: EpisodeContext, reply: str, error: str) -> str | None:
        return "Coach: answer with one line 'Action: move <direction>'."

    async def on_invalid_action(self, ctx: EpisodeContext, action: str, error: str, observation: str) -> str | None:
        return f"Coach: '{action}' is no move here ({ctx.errors_in_row} in a row so far).\n{observation}"

    def another_attempt(self, traj: Trajectory) -> bool:
        return not traj.won and traj.attempt == 0

    async def after_episode(self, llm, traj: Trajectory) -> str | None:
        self.seen.append((traj.attempt, traj.ended))
        return "Coach's lesson: read the open directions." if self.another_attempt(traj) else None


def test_a_strategy_made_of_hooks_alone_drives_feedback_giving_up_and_retries(maze):
    coach = Coach()

    async def main():
        async with AsyncEnvClient(maze.url) as env:
            plan = iter(await env.expert(TASK))

            def reply(messages):
                if "Coach's lesson" not in messages[1]["content"]:
                    return "I am lost." if len(messages) < 4 else act("fly upward")
                return act(next(plan))

            runner = Runner(ScriptedLLM(reply), env, [coach], RunnerConfig(max_retries=1))
            return await runner.run_task(TASK)

    first, second = run(main())
    # an unparsable reply and an invalid action are told by the same hooks' words and count alike
    told = [t.text for t in first.turns if t.feedback]
    assert told[0].startswith("Coach: answer with one line") and told[1].startswith("Coach: 'fly upward' is no move")
    assert "(1 in a row so far)" in told[1]
    assert (first.ended, first.invalid_actions) == ("gave_up", 2)
    assert first.error == "gave up after 2 erroneous turns in a row"
    assert second.won and second.attempt == 1 and "Coach's lesson" in second.turns[1].text
    assert coach.seen == [(0, "gave_up"), (1, "won")]


def test_env_failure_ends_only_that_episode(server_factory):
    crash = server_factory("tests.fake_envs:CrashEnv")

    async def main():
        async with AsyncEnvClient(crash.url) as env:
            runner = Runner(ScriptedLLM(lambda m: act("crash") if "echo-0" in m[1]["content"] else act("finish")),
                            env, [EnvError()], RunnerConfig(concurrency=2))
            return await runner.run([(0, "echo-0"), (1, "echo-1")])

    by_task = {t.task_id: t for t in run(main())}
    assert "env_error" in by_task["echo-0"].error or "EnvFailure" in by_task["echo-0"].error
    assert by_task["echo-1"].won and by_task["echo-1"].error is None


def test_unknown_strategy_is_a_clear_error():
    assert [s.name for s in make_strategies("refine, reflect")] == ["refine", "reflect"]
    assert make_strategies("none") == []
    with pytest.raises(ValueError, match="unknown feedback strategy 'magic'"):
        make_strategies("magic")


def test_store_round_trip_and_torn_tail(tmp_path):
    store = TrajectoryStore(tmp_path / "t.jsonl")
    a = Trajectory(env="maze", task_id="m1", split="held_in", model="x", episode=0,
                   turns=[Turn("user", "hi"), Turn("assistant", "Action: go", action="go", erroneous=True)])
    store.append(a)
    with open(store.path, "ab") as f:  # a kill in the middle of a write
        f.write(b'{"env": "maze", "task_id": "m2", "tur')
    assert [t.task_id for t in store] == ["m1"]
    store.append(Trajectory(env="maze", task_id="m3", split="held_in", model="x", episode=2))
    loaded = store.load()
    assert [t.task_id for t in loaded] == ["m1", "m3"]
    assert loaded[0].turns[1].erroneous and loaded[0].turns[1].action == "go"
    assert store.keys() == {("m1", 0), ("m3", 2)}
    with pytest.raises(ValueError, match="newer"):
        Trajectory.from_dict({**a.to_dict(), "version": 99})


def test_collect_refuses_to_overwrite_and_resumes(maze, tmp_path):
    store = TrajectoryStore(tmp_path / "c.jsonl")

    async def main(episodes: int, resume: bool):
        async with AsyncEnvClient(maze.url) as env:
            runner = Runner(None, env, [], RunnerConfig(concurrency=4))
            return await collect(runner, "held_in", episodes, store, resume=resume, show_progress=False)

    stats = run(main(3, False))
    assert stats.episodes == 3 and stats.won == 3
    with pytest.raises(Exception, match="--resume"):
        run(main(5, False))
    stats = run(main(5, True))
    assert (stats.skipped, stats.episodes) == (3, 2)
    keys = [t.key for t in store]
    assert len(keys) == len(set(keys)) == 5
