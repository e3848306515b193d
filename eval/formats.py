"""Evaluate one model in each action format on a suite and write the results side by side.

One evaluation per format against one running vLLM (the same weights and chat template for all), then
`formats.md` and `formats.json` in `--out`.

tool_calls needs vLLM to parse calls: start it with `--enable-auto-tool-choice --tool-call-parser hermes`
and, for the embedded SmolLM2 (whose template renders no tools), `--chat-template` TRL's `qwen2_5.jinja`
(ChatML like SmolLM2's; without tools and with our system prompt it renders the same text, so react and
function_calling see the prompts they see on a plain server). `agentgym.vllm_server.tool_call_args` gives
these flags:

    MODEL=$(python -c 'from agentgym.models import resolve_model; print(resolve_model("smollm2"))')
    FLAGS=$(python -c 'from agentgym.vllm_server import tool_call_args; print(*tool_call_args("smollm2"))')
    vllm serve "$MODEL" --served-model-name smollm2 --port 8000 $FLAGS &
    python -m eval.formats --llm-url http://127.0.0.1:8000 --out runs/formats

Each format's run is an ordinary `agentgym eval` folder (`--out/<format>`); a stopped run resumes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx

from agentgym.action_formats import FORMATS
from eval.metrics import ALL, two_proportion_z
from eval.report import TEST_NAME, Results, agent_failures, load_results, pct

FLAGS_HINT = ("start vLLM with the flags of agentgym.vllm_server.tool_call_args (--enable-auto-tool-choice "
              "--tool-call-parser hermes --chat-template <trl>/chat_templates/qwen2_5.jinja for smollm2)")


def check_tool_calls(llm_url: str) -> None:
    """Fail early, with the flags to add, when the server at `llm_url` does not parse tool calls."""
    base = llm_url.rstrip("/")
    model = httpx.get(base + "/v1/models", timeout=30).raise_for_status().json()["data"][0]["id"]
    tool = {"type": "function", "function": {"name": "noop", "description": "do nothing",
                                             "parameters": {"type": "object", "properties": {}}}}
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1,
            "tools": [tool], "tool_choice": "auto"}
    r = httpx.post(base + "/v1/chat/completions", json=body, timeout=120)
    if r.status_code != 200:
        raise SystemExit(f"{base} refuses tool calls ({r.status_code}: {r.text[:200]}): {FLAGS_HINT}")


def side_by_side(results: dict[str, Results]) -> str:
    """The text of `formats.md`: per env and split, each format's success, invalid actions and failures,
    and each format against the first (a z-test on the success counts)."""
    names = list(results)
    first = results[names[0]].metrics
    rows = [(g.env, g.split) for g in first.groups] + [(ALL, g.split) for g in first.splits] + [(ALL, ALL)]
    lines = ["# Action formats side by side", "",
             *(f"- `{n}`: {r.meta.get('model')}, suite {r.meta.get('suite')}, {r.metrics.trajectories} trajectories, "
               f"{r.meta.get('date')}" for n, r in results.items()), "",
             "## Success rate [95% CI]", "",
             "| env | split | " + " | ".join(f"`{n}`" for n in names) + " |", "|---|---|" + "---|" * len(names)]
    cells = {n: {(e, s): _group(r, e, s) for e, s in rows} for n, r in results.items()}
    for env, split in rows:
        shown = [pct(cells[n][env, split].success) if cells[n][env, split] else "—" for n in names]
        lines.append(f"| {env} | {split} | " + " | ".join(shown) + " |")
    lines += ["", "## How episodes went (all tasks)", "",
              "| format | n | invalid actions | steps | tokens/reply | agent failures | infra failures |",
              "|---|---:|---:|---:|---:|---|---:|"]
    for n, r in results.items():
        g = r.metrics.overall
        tokens = g.mean_completion_tokens / max(1.0, g.actions / max(1, g.n))
        lines.append(f"| `{n}` | {g.n} | {100 * g.invalid_rate:.1f}% | {g.mean_steps:.1f} | {tokens:.0f} "
                     f"| {agent_failures(g)} | {g.errors} |")
    lines += ["", f"## Against `{names[0]}` ({TEST_NAME})", "", "| format | success | difference | p |",
              "|---|---|---:|---:|"]
    base = first.overall
    for n in names[1:]:
        g = results[n].metrics.overall
        _, p = two_proportion_z(g.won, g.n, base.won, base.n)
        lines.append(f"| `{n}` | {pct(g.success)} | {100 * (g.success.value - base.success.value):+.1f} points "
                     f"| {p:.3g} |")
    return "\n".join(lines) + "\n"


def _group(r: Results, env: str, split: str):
    return r.metrics.overall if (env, split) == (ALL, ALL) else r.metrics.group(env, split)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm-url", required=True, help="a running vLLM (tool_calls needs the flags above)")
    parser.add_argument("--out", default="runs/formats")
    parser.add_argument("--suite", default="maze")
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=list(FORMATS))
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=128, help="the same for every format (JSON is longer)")
    args = parser.parse_args()

    from eval.cli import eval_cmd
    from eval.run import env_servers
    from eval.suites import load_suite

    if "tool_calls" in args.formats:
        check_tool_calls(args.llm_url)
    out = Path(args.out)
    with env_servers(load_suite(args.suite).envs) as urls:
        given = [f"{env}={url}" for env, found in urls.items() for url in found]
        for fmt in args.formats:
            eval_cmd(suite=args.suite, out=str(out / fmt), llm_url=args.llm_url, env_url=given,
                     concurrency=args.concurrency, max_tokens=args.max_tokens, action_format=fmt)
    results = {fmt: load_results(out / fmt) for fmt in args.formats}
    (out / "formats.md").write_text(side_by_side(results))
    (out / "formats.json").write_text(json.dumps({f: r.to_dict() for f, r in results.items()}, indent=2) + "\n")
    print(f"side by side: {out}/formats.md")


if __name__ == "__main__":
    main()
