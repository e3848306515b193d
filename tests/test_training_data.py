"""Training data: filters, the split guard, masks for erroneous turns, AgentGym's format."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from agentgym.trajectory import Trajectory, Turn
from trajectories.export import (
    from_agentgym,
    read_agentgym,
    to_agentgym,
    to_dataset,
    to_messages,
    tokenize_dataset,
    tokenize_messages,
    write_agentgym,
)
from trajectories.filters import FilterSpec, SplitLeakError, apply_filters, guard_split


def episode(task="t1", won=True, split="held_in", actions=("go",), bad=(), error=None, episode=0) -> Trajectory:
    turns = [Turn("system", "You are an agent.", kind="instruction"), Turn("user", f"Task {task}.", kind="instruction")]
    for a in bad:
        turns += [Turn("assistant", f"Thought: hm\nAction: {a}", action=a, valid=False, erroneous=True),
                  Turn("user", f"'{a}' is not valid here.", kind="feedback", feedback=True)]
    for i, a in enumerate(actions):
        turns += [Turn("assistant", f"Thought: ok\nAction: {a}", action=a, valid=True, refinement=bool(bad) and i == 0),
                  Turn("user", f"Observation after {a}.")]
    return Trajectory(env="maze", task_id=task, split=split, model="m", won=won, reward=float(won), turns=turns,
                      invalid_actions=len(bad), error=error, episode=episode)


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    return AutoTokenizer.from_pretrained(model_dir)


def test_filters_count_each_reason():
    trajs = [episode("a"), episode("a", episode=1), episode("b", won=False),
             episode("c", won=False, error="EnvFailure"), episode("d", bad=("x", "y", "z")),
             episode("e", actions=("go", "go", "go", "go"))]
    kept, dropped = apply_filters(trajs, FilterSpec(min_valid_ratio=0.5, max_turns=9))
    assert [t.task_id for t in kept] == ["a"]
    assert dropped == {"duplicate": 1, "not won": 1, "ended by an env or LLM failure": 1, "valid-action ratio < 0.5": 1,
                       "more than 9 turns": 1}
    kept, _ = apply_filters(trajs, FilterSpec(success_only=False, dedupe=False, drop_errors=False))
    assert len(kept) == len(trajs)


def test_split_guard_is_an_error():
    guard_split([episode()])
    with pytest.raises(SplitLeakError, match="maze:t9"):
        guard_split([episode(), episode("t9", split="held_out")])
    with pytest.raises(SplitLeakError):
        apply_filters([episode("t9", split="held_out")], FilterSpec())


def test_erroneous_turns_are_masked_and_recovery_learned(tokenizer):
    traj = episode(bad=("fly",), actions=("move north",))
    messages = to_messages(traj)
    assert [m["train"] for m in messages if m["role"] == "assistant"] == [False, True]
    tok = tokenize_messages(messages, tokenizer)
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    full = tokenizer.apply_chat_template(plain, tokenize=False)
    assert tok["input_ids"] == tokenizer(full, add_special_tokens=False)["input_ids"]
    learned = tokenizer.decode([i for i, m in zip(tok["input_ids"], tok["assistant_masks"], strict=True) if m])
    assert learned == "Thought: ok\nAction: move north<|im_end|>\n"
    assert "fly" not in learned and "assistant" not in learned


def test_dataset_drops_rows_with_nothing_to_learn(tokenizer):
    all_bad = episode("z", bad=("x",), actions=())
    data = tokenize_dataset(to_dataset([episode(), all_bad]), tokenizer)
    assert data["task_id"] == ["t1"] and set(data.column_names) >= {"input_ids", "assistant_masks", "messages"}


def test_agentgym_format_round_trip(tmp_path):
    traj = episode(bad=("fly",))
    item = to_agentgym(traj)
    assert item["conversations"][2] == {"from": "gpt", "loss": False, "value": "Thought: hm\nAction: fly"}
    write_agentgym([traj], tmp_path / "ag.json")
    [back] = read_agentgym(tmp_path / "ag.json", env="maze")
    assert [(t.role, t.text, t.erroneous) for t in back.turns] == [(t.role, t.text, t.erroneous) for t in traj.turns]
    # AgentGym's own data omits `loss` on learned gpt turns
    imported = from_agentgym({"item_id": "webshop_1", "conversations": [
        {"from": "human", "value": "Buy a mug"}, {"from": "gpt", "value": "Action: search[mug]"}]})
    assert imported.turns[1].role == "assistant" and not imported.turns[1].erroneous
    with pytest.raises(ValueError, match="unknown speaker 'robot'"):
        from_agentgym({"conversations": [{"from": "robot", "value": "x"}]})
