"""Evaluation reports: results.json, report.md, plots, and the comparison of two runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.metrics import compute_metrics
from eval.report import Results, compare, console_table, load_results, table_row, write_report
from tests.test_eval_metrics import cell, make_traj
from trajectories.store import TrajectoryStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_trajectories() -> list:
    """Two envs x two splits; a reflect episode with three attempts; two errored episodes."""
    trajs = (cell(7, 10, env="maze", split="held_in") + cell(3, 10, env="maze", split="held_out")
             + cell(9, 12, env="wordle", split="held_in", actions=5, invalid=1)
             + cell(2, 8, env="wordle", split="held_out", error="ReadTimeout: llm"))
    trajs += [make_traj("maze", "held_out", task="reflect", episode=99, attempt=a, won=a == 2, score=0.1 * a)
              for a in range(3)]
    for i, t in enumerate(trajs):
        t.score = t.score or (i % 5) / 10
        t.feedback = ["env-error", "reflect"]
    return trajs


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> TrajectoryStore:
    store = TrajectoryStore(tmp_path_factory.mktemp("store") / "run.jsonl")
    for t in run_trajectories():
        store.append(t)
    return store


@pytest.fixture(scope="module")
def report(store, tmp_path_factory) -> tuple[Path, Results]:
    out = tmp_path_factory.mktemp("report")
    results = write_report(compute_metrics(store.load()), out, model="smollm2", adapter="lora-1", suite="smoke",
                           feedback=["env-error"], date="2025-01-01T00:00:00+00:00",
                           timings={"serve": 3.5, "collect": 41.25, "report": 0.5})
    return out, results


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > 10_000, f"{path} is suspiciously small ({len(data)} bytes)"
    import matplotlib.image

    height, width, _ = matplotlib.image.imread(path).shape
    assert width > 500 and height > 300


def test_report_files_exist(report):
    out, _ = report
    for name in ("results.json", "report.md", "success.png", "score.png"):
        assert (out / name).stat().st_size > 0, name


def test_json_numbers_equal_the_recomputed_metrics(report, store):
    out, _ = report
    data = json.loads((out / "results.json").read_text())
    assert data["metrics"] == compute_metrics(store.load()).to_dict()
    assert data["meta"]["model"] == "smollm2" and data["meta"]["adapter"] == "lora-1"
    assert data["meta"]["suite"] == "smoke" and data["meta"]["feedback"] == ["env-error"]
    assert data["meta"]["timings"] == {"serve": 3.5, "collect": 41.25, "report": 0.5}
    assert data["meta"]["date"] == "2025-01-01T00:00:00+00:00"
    # spot checks against hand counts: maze held_out is 3/10 plus the reflect episode's first attempt (lost)
    rows = {(g["env"], g["split"]): g for g in data["metrics"]["groups"]}
    assert (rows["maze", "held_out"]["n"], rows["maze", "held_out"]["won"]) == (11, 3)
    assert rows["wordle", "held_out"]["errors"] == 6  # 8 with an error message, 2 of them won: not failures
    assert rows["wordle", "held_in"]["invalid_rate"] == pytest.approx(12 / 60)
    assert data["metrics"]["overall"]["n"] == 41
    assert data["meta"]["trajectories"] == 43  # the reflect episode's three attempts are all read


def test_load_results_round_trips(report):
    out, results = report
    assert load_results(out) == results
    assert load_results(out / "results.json").metrics == results.metrics


def test_attempt_choice_reaches_the_report(store, tmp_path):
    results = write_report(compute_metrics(store.load(), attempt="last"), tmp_path, plot=False)
    assert results.metrics.group("maze", "held_out").won == 4  # the reflect episode won on its last attempt
    assert results.meta["attempt"] == "last" and results.meta["model"] == "m"
    assert results.meta["feedback"] == ["env-error", "reflect"]  # taken from the trajectories when not given
    assert not (tmp_path / "success.png").exists()


def test_pngs_are_valid_images(report):
    out, _ = report
    assert_png(out / "success.png")
    assert_png(out / "score.png")


def test_markdown_holds_the_tables_and_a_reading(report):
    out, results = report
    text = (out / "report.md").read_text()
    m = results.metrics
    for g in m.groups + m.splits + [m.overall]:
        assert table_row(g) in text
    # 7/10 with its Wilson interval (see test_eval_metrics.test_wilson_7_of_10)
    assert "| maze | 10 | 70.0% [39.7, 89.2] |" in text
    assert "## held_in" in text and "## held_out" in text and "## Overall" in text
    assert "## What this shows" in text and "Held-in success is" in text
    assert "6 episode(s) ended by an infrastructure failure" in text
    assert "The agent failed" in text and "| agent failures | infra failures |" in text
    assert "| collect | 41.2 |" in text or "| collect | 41.3 |" in text
    assert "![success rate by env and split](success.png)" in text
    assert "- **adapter**: lora-1" in text


def test_console_table_renders(report):
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(console_table(report[1].metrics, "smoke"))
    text = console.export_text()
    assert "70.0% [39.7, 89.2]" in text and "held_out" in text and "wordle" in text


def results_for(k: int, n: int, model: str) -> Results:
    return Results(compute_metrics(cell(k, n, model=model)), {"model": model})


def test_compare_flags_a_significant_difference(tmp_path):
    cells = compare(results_for(45, 50, "base"), results_for(5, 50, "tuned"), tmp_path, labels=("base", "tuned"))
    (maze,) = [c for c in cells if c.env == "maze"]
    assert maze.significant and maze.diff == pytest.approx(-0.8)
    assert maze.z == pytest.approx(-8.0) and maze.overlap is False
    text = (tmp_path / "comparison.md").read_text()
    assert "| maze | held_in | 90.0% [78.6, 95.7] | 10.0% [4.3, 21.4] | -80.0 points |" in text
    assert "**yes**" in text and "z-test" in text
    assert "significantly worse on 1 (maze/held_in)" in text
    assert_png(tmp_path / "comparison.png")
    saved = json.loads((tmp_path / "comparison.json").read_text())
    assert saved["labels"] == ["base", "tuned"] and saved["cells"][0]["significant"] is True


def test_compare_does_not_flag_noise(tmp_path):
    (cell_,) = compare(results_for(5, 10, "a"), results_for(6, 10, "b"), tmp_path)
    assert not cell_.significant and cell_.overlap
    assert cell_.p == pytest.approx(0.6531, abs=1e-4)
    text = (tmp_path / "comparison.md").read_text()
    assert "| maze | held_in | 50.0% [23.7, 76.3] | 60.0% [31.3, 83.2] | +10.0 points | 0.653 | no | yes |" in text
    assert "not distinguishable on 1" in text


def test_compare_reads_paths_and_handles_missing_cells(store, tmp_path):
    trajs = store.load()
    write_report(compute_metrics(trajs), tmp_path / "a", model="a")
    write_report(compute_metrics([t for t in trajs if t.env == "maze"]), tmp_path / "b", model="b")
    cells = compare(tmp_path / "a", tmp_path / "b" / "results.json", tmp_path / "cmp")
    wordle = [c for c in cells if c.env == "wordle"]
    assert len(wordle) == 2 and all(c.b is None and not c.significant for c in wordle)
    text = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "# Comparison: a vs b" in text and "| wordle | held_in |" in text
