"""BatchedLLM: concurrent chat calls become batched calls of a synchronous generator."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agentgym.llm import BatchedLLM, Completion, LLMError, Sampling


class RecordingGenerator:
    """TEST DOUBLE for a batch generator: echoes the last message and records every batch it gets."""

    def __init__(self, fail_on: str | None = None):
        self.batches: list[list[str]] = []
        self.samplings: list[Sampling] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on

    def __call__(self, prompts, sampling):
        last = [m[-1]["content"] for m in prompts]
        self.batches.append(last)
        self.samplings.append(sampling)
        self.threads.add(threading.current_thread().name)
        if self.fail_on in last:
            raise RuntimeError(f"generator failed on {self.fail_on}")
        return [Completion(f"re: {text}", len(text), 2, "stop") for text in last]


def ask(llm, texts, sampling=None, n=1):
    async def main():
        return await asyncio.gather(*(llm.chat([{"role": "user", "content": t}], sampling or Sampling(), n)
                                      for t in texts), return_exceptions=True)

    return asyncio.run(main())


def test_concurrent_calls_share_one_batch_and_each_gets_its_own_reply():
    gen = RecordingGenerator()
    llm = BatchedLLM(gen, max_wait=0.05)
    replies = ask(llm, [f"q{i}" for i in range(5)])
    assert gen.batches == [["q0", "q1", "q2", "q3", "q4"]]
    assert [r[0].text for r in replies] == [f"re: q{i}" for i in range(5)]
    assert gen.threads != {threading.current_thread().name}  # generation ran off the event loop
    assert llm.batch_sizes == [5]


def test_max_batch_splits_and_one_is_sequential():
    gen = RecordingGenerator()
    assert [r[0].text for r in ask(BatchedLLM(gen, max_batch=2), ["a", "b", "c", "d", "e"])] == \
        ["re: a", "re: b", "re: c", "re: d", "re: e"]
    assert gen.batches == [["a", "b"], ["c", "d"], ["e"]]
    gen = RecordingGenerator()
    ask(BatchedLLM(gen, max_batch=1), ["a", "b", "c"])
    assert gen.batches == [["a"], ["b"], ["c"]]


def test_n_samples_repeat_the_prompt_and_come_back_together():
    gen = RecordingGenerator()
    replies = ask(BatchedLLM(gen), ["x", "y"], n=3)
    assert gen.batches == [["x", "x", "x", "y", "y", "y"]]
    assert [[c.text for c in r] for r in replies] == [["re: x"] * 3, ["re: y"] * 3]


def test_different_sampling_goes_in_different_batches():
    gen = RecordingGenerator()
    llm = BatchedLLM(gen)

    async def main():
        hot, cold = Sampling(temperature=1.0), Sampling(temperature=0.0)
        return await asyncio.gather(llm.chat([{"role": "user", "content": "h1"}], hot),
                                    llm.chat([{"role": "user", "content": "c1"}], cold),
                                    llm.chat([{"role": "user", "content": "h2"}], hot))

    replies = asyncio.run(main())
    assert sorted(gen.batches) == [["c1"], ["h1", "h2"]]
    assert {s.temperature for s in gen.samplings} == {0.0, 1.0}
    assert [r[0].text for r in replies] == ["re: h1", "re: c1", "re: h2"]


def test_a_failed_batch_fails_its_callers_only_and_the_llm_keeps_working():
    gen = RecordingGenerator(fail_on="boom")
    llm = BatchedLLM(gen, max_batch=2)
    replies = ask(llm, ["boom", "ok1", "ok2"])
    assert isinstance(replies[0], RuntimeError) and isinstance(replies[1], RuntimeError)
    assert "generator failed on boom" in str(replies[0])
    assert replies[2][0].text == "re: ok2"
    assert ask(llm, ["later"])[0][0].text == "re: later"  # a new event loop, same object


def test_a_generator_returning_the_wrong_count_is_an_error():
    llm = BatchedLLM(lambda prompts, sampling: [])
    (reply,) = ask(llm, ["q"])
    assert isinstance(reply, LLMError) and "0 completions for 1 prompts" in str(reply)


@pytest.mark.slow
def test_hf_batch_generate_equals_one_prompt_at_a_time(model_dir):
    """Left padding must not change what the model says: greedy replies in a batch equal single ones."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.grpo import hf_batch_generate

    tok = AutoTokenizer.from_pretrained(model_dir)
    # fp32 as GRPO trains on the CPU (in bf16, padding alone moves logits by ~0.4 and greedy ties flip)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    generate = hf_batch_generate(model, tok)
    prompts = [[{"role": "user", "content": text}] for text in
               ("Hi", "Name three colours of the rainbow, please.", "What is 2+2? Answer with one number only.")]
    greedy = Sampling(temperature=0.0, max_tokens=12)
    batched = generate(prompts, greedy)
    single = [generate([p], greedy)[0] for p in prompts]
    assert [c.text for c in batched] == [c.text for c in single]
    assert all(c.text for c in batched)
    for prompt, c in zip(prompts, batched, strict=True):
        ids = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        assert c.prompt_tokens == len(tok(ids, add_special_tokens=False)["input_ids"])  # padding not counted
        assert 0 < c.completion_tokens <= 12 and c.finish_reason in ("stop", "length")
    assert tok.padding_side == AutoTokenizer.from_pretrained(model_dir).padding_side  # restored
