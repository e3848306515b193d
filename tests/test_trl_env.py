"""TRL's `environment_factory` on our env servers: tools as methods, one session per instance, the env's reward."""

from __future__ import annotations

import inspect

import pytest
from transformers.utils import get_json_schema

from agentgym import EnvClient
from agentgym.compat.trl_env import OVER, environment_factory, task_prompts


def test_factory_class_exposes_the_env_tools_as_trl_reads_them(served):
    Maze = environment_factory(served("maze").url)
    public = [n for n, _ in inspect.getmembers(Maze, predicate=inspect.isfunction) if not n.startswith("_")]
    assert sorted(public) == ["get_reward", "move", "reset"]
    schema = get_json_schema(Maze().move)  # what TRL renders into the prompt
    params = schema["function"]["parameters"]
    assert schema["function"]["name"] == "move" and params["required"] == ["direction"]
    assert params["properties"]["direction"]["enum"] == ["north", "south", "east", "west"]
    Shop = environment_factory(served("webshop").url)
    assert {"search", "click"} <= set(dir(Shop))
    assert get_json_schema(Shop().search)["function"]["parameters"]["required"] == ["keywords"]


def test_an_instance_plays_an_episode_through_its_tools(served):
    url = served("maze").url
    with EnvClient(url) as client:
        task_id = client.tasks("held_in")[5]
        plan = client.expert(task_id)
        sessions_before = client.health()["sessions"]
    env = environment_factory(url)()
    first = env.reset(task_id=task_id, prompt=[{"role": "user", "content": "ignored"}])
    assert "You are in a" in first
    assert env.move(direction="up").startswith("Invalid call") and env.steps == 0
    env.move(direction=plan[0].split()[-1])
    assert env.steps == 1
    env.reset(task_id=task_id)  # a fresh episode: nothing carried over
    assert env.get_reward() == 0.0
    for action in plan:
        text = env.move(direction=action.split()[-1])
    assert env.done and env.won and env.get_reward() == 1.0 and OVER in text
    assert env.move(direction="north") == OVER
    with EnvClient(url) as client:  # the finished episode's session was closed
        assert client.health()["sessions"] == sessions_before


def test_task_prompts_are_a_trl_dataset(served):
    rows = task_prompts(served("maze").url, split="held_out", n=3)
    assert len(rows) == 3 and rows[0]["task_id"].startswith("maze-7x7")
    assert rows[0]["prompt"][0]["role"] == "user" and "maze" in rows[0]["prompt"][0]["content"]


@pytest.mark.slow
def test_grpo_trains_inside_trls_tool_loop(served, model_dir, tmp_path):
    """A GRPO step of TRL's own tool-calling loop on the CPU, rewards from the live maze."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import qwen2_5_chat_template

    url = served("maze").url
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # SmolLM2 speaks ChatML like Qwen2.5, whose template renders tools and which TRL knows how to parse
    tokenizer.chat_template = qwen2_5_chat_template
    Env = environment_factory(url)
    created: list = []

    def factory():
        created.append(Env())
        return created[-1]

    config = GRPOConfig(
        output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, num_generations=2,
        max_completion_length=24, max_tool_calling_iterations=2, learning_rate=1e-5, logging_steps=1,
        report_to="none", use_cpu=True, bf16=False, save_strategy="no", dataloader_num_workers=0,
    )
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])  # a LoRA update is cheap on 2 cores
    trainer = GRPOTrainer(model_dir, args=config, processing_class=tokenizer, environment_factory=factory,
                          train_dataset=Dataset.from_list(task_prompts(url, n=4)), peft_config=lora)
    result = trainer.train()
    assert result.global_step == 1
    logged = [h for h in trainer.state.log_history if "reward" in h]
    assert len(logged) == 1 and all(f"rewards/{Env.__name__}/mean" in h for h in logged)
    assert created and all(e.get_reward() in (0.0, 1.0) for e in created)
    started = [e for e in created if e.steps or e._session is not None or e.done]
    assert started, "reset() was never called on the pooled environments"
