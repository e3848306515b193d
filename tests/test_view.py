"""`agentgym view` over HTTP: a real viewer process over run folders made by the real runner, real env
servers to play on, real eval reports. The browser side is in test_view_browser.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from agentgym import EnvClient
from eval.view.server import ViewServer
from trajectories.export import to_messages
from trajectories.store import TrajectoryStore

KEY = re.compile(r'data-key="(\d+-\d+)"')


@pytest.fixture
def viewer(view_server):
    return view_server


def keys_of(html: str) -> list[str]:
    return KEY.findall(html)


def stored(view_runs: Path, name: str) -> list[dict]:
    return [json.loads(line) for f in sorted((view_runs / name / "trajectories").glob("*.jsonl"))
            for line in f.read_text().splitlines()]


def test_lists_filters_and_serves_trajectories(viewer, view_runs):
    everything = keys_of(httpx.get(f"{viewer.url}/trajectories").text)
    records = [r for name in ("eval-agent", "eval-teacher", "eval-expert") for r in stored(view_runs, name)]
    assert len(everything) == len(records)
    assert len(keys_of(httpx.get(f"{viewer.url}/trajectories", params={"ended": "won"}).text)) == sum(
        r["won"] for r in records)
    held_out = httpx.get(f"{viewer.url}/trajectories", params={"split": "held_out"}).text
    assert len(keys_of(held_out)) == sum(r["split"] == "held_out" for r in records) > 0
    refine = httpx.get(f"{viewer.url}/trajectories", params={"feedback": "refine", "run": "runs/eval-agent"}).text
    refine_keys = keys_of(refine)
    assert len(refine_keys) == len(stored(view_runs, "eval-agent"))
    assert httpx.get(f"{viewer.url}/trajectories/{refine_keys[0]}/json").json() == stored(view_runs, "eval-agent")[0]
    # htmx asks for the rows only
    rows = httpx.get(f"{viewer.url}/trajectories", params={"model": "expert"}, headers={"HX-Request": "true"}).text
    assert "<html" not in rows and len(keys_of(rows)) == sum(r["model"] == "expert" for r in records)


def test_trajectory_page_marks_turns_and_masks(viewer, view_runs):
    record = stored(view_runs, "eval-agent")[0]
    key = keys_of(httpx.get(f"{viewer.url}/trajectories", params={"run": "runs/eval-agent"}).text)[0]
    html = httpx.get(f"{viewer.url}/trajectories/{key}").text
    articles = re.findall(r'<article class="turn[^"]*"[^>]*data-marks="([^"]*)">(.*?)</article>', html, re.S)
    assert len(articles) == len(record["turns"])
    from agentgym.trajectory import Trajectory
    train = [m["train"] for m in to_messages(Trajectory.from_dict(record))]
    for turn, (marks, body), learned in zip(record["turns"], articles, train, strict=True):
        assert ("erroneous" in marks.split()) == turn["erroneous"]
        assert ("refinement" in marks.split()) == turn["refinement"]
        assert ('class="train learn"' in body) == learned
        assert ('class="train masked"' in body) == (turn["role"] == "assistant" and not learned)
    assert any(t["erroneous"] for t in record["turns"]) and any(t["refinement"] for t in record["turns"])
    steps = sum(1 for t in record["turns"] if t["role"] == "assistant" and t["action"])
    assert html.count('<circle cx=') == steps == record["steps"]


def test_teacher_corrections_are_marked(viewer, view_runs):
    record = stored(view_runs, "eval-teacher")[0]
    key = keys_of(httpx.get(f"{viewer.url}/trajectories", params={"run": "runs/eval-teacher"}).text)[0]
    html = httpx.get(f"{viewer.url}/trajectories/{key}").text
    marked = re.findall(r'data-turn="(\d+)" data-marks="[^"]*teacher', html)
    assert [int(i) for i in marked] == [i for i, t in enumerate(record["turns"]) if t["kind"] == "teacher"] != []


def test_reports_and_a_side_by_side_comparison(viewer):
    runs = httpx.get(f"{viewer.url}/runs").text
    assert "/files/0/eval-agent/report.md" in runs and "/files/0/eval-expert/report.md" in runs
    expert = runs[runs.index('data-folder="runs/eval-expert"'):]
    assert "held_in 100.0% [" in expert and "held_out 100.0% [" in expert  # the expert wins every task
    assert 'src="/files/0/eval-expert/success.png"' in expert
    assert 'href="/trajectories?run=runs/eval-expert"' in expert
    report = httpx.get(f"{viewer.url}/files/0/eval-expert/report.md").text
    assert "<table>" in report and 'src="success.png"' in report
    png = httpx.get(f"{viewer.url}/files/0/eval-expert/success.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    page = httpx.get(f"{viewer.url}/compare", params={"a": "0/eval-agent/results.json",
                                                        "b": "0/eval-expert/results.json"}, timeout=60).text
    assert "Comparison: eval-agent vs eval-expert" in page and page.count("Evaluation report") == 2
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 5  # the comparison, and two plots per report
    for src in images:
        r = httpx.get(viewer.url + src)
        assert r.status_code == 200 and r.content.startswith(b"\x89PNG"), src


def test_bad_input_gets_a_clear_4xx(viewer):
    cases = [
        ("GET", "/trajectories/99-1", None, 404, "no trajectory"),
        ("GET", "/files/0/%2E%2E/%2E%2E/etc/passwd", None, 404, "no file"),
        ("GET", "/files/7/report.md", None, 404, "no root folder"),
        ("GET", "/files/x/report.md", None, 400, "not a file reference"),
        ("GET", "/compare?a=0/eval-agent/report.md&b=0/eval-expert/results.json", None, 400, "cannot compare"),
        ("GET", "/compare", None, 400, "query.a"),
        ("GET", "/play/nope", None, 404, "no play"),
        ("POST", "/play", {}, 400, "give an env server URL"),
        ("POST", "/play", {"env": "no-such-env"}, 400, "unknown environment"),
        ("POST", "/play", {"url": "http://127.0.0.1:9"}, 400, "cannot reach"),
        ("POST", "/play", {"url": "http://127.0.0.1:{port}", "task_id": "x"}, 400, "does not answer like"),
        ("POST", "/play", {"env": "echo", "index": "x"}, 400, "whole number"),
        ("POST", "/play", {"env": "echo", "split": "train"}, 400, "unknown split"),
        ("POST", "/play", {"env": "echo", "task_id": "echo-999"}, 400, "could not start echo-999"),
        ("POST", "/play", {"env": "echo", "index": "5000"}, 400, "out of range"),
        ("GET", "/trajectories/0-1/tokens?tokenizer=/nonexistent", None, 400, "cannot show the tokens"),
    ]
    for method, path, form, status, words in cases:
        form = {k: v.format(port=viewer.port) for k, v in form.items()} if form else form
        r = httpx.request(method, viewer.url + path, data=form, timeout=120)
        assert r.status_code == status, (path, r.text)
        assert words in r.json()["message"], (path, r.json())
    page = httpx.get(f"{viewer.url}/trajectories/99-1", headers={"accept": "text/html"})
    assert page.status_code == 404 and 'id="error-message"' in page.text  # people get a page


def test_playing_a_text_env_by_hand_records_a_demonstration(viewer, maze):
    with EnvClient(maze.url) as client:
        task = client.tasks("held_in")[1]
        plan = client.expert(task)
        with client.session(task_id=task) as s:
            for action in plan:
                text_result = s.step(action)
    with httpx.Client(base_url=viewer.url, timeout=60) as http:
        r = http.post("/play", data={"url": maze.url, "task_id": task, "feedback": "refine"})
        assert r.status_code == 303
        play = r.headers["location"]
        assert "move " in http.get(play).text
        http.post(f"{play}/act", data={"action": "jump"})  # refused by the maze: an erroneous turn
        for action in plan:
            # the available actions are buttons named `action`; the text box comes first and is empty
            assert http.post(f"{play}/act", data={"thought": "", "action": ["", action]}).status_code == 303
        page = http.get(play).text
        assert f'data-reward="{text_result.reward}"' in page and 'data-won="true"' in page
        r = http.post(f"{play}/act", data={"action": "move north"})
        assert r.status_code == 409 and "over" in r.json()["message"]
        saved = http.post(f"{play}/save")
        assert saved.status_code == 303 and saved.headers["location"].startswith("/trajectories/")
        assert http.post(f"{play}/save").headers["location"] == saved.headers["location"]  # saved once
    [demo] = [t for t in TrajectoryStore(viewer.demos_path) if t.task_id == task]
    assert demo.model == "human" and demo.task_id == task and demo.won and demo.reward == text_result.reward
    actions = [t.action for t in demo.turns if t.role == "assistant"]
    assert actions == ["jump", *plan]
    assistant = [t for t in demo.turns if t.role == "assistant"]
    assert assistant[0].erroneous and assistant[1].refinement and assistant[0].text.startswith("Thought: ")
    shown = httpx.get(viewer.url + saved.headers["location"]).text
    assert "human" in shown and 'data-marks="erroneous' in shown


def test_live_page_follows_a_growing_store(viewer, view_runs):
    source = stored(view_runs, "eval-expert")
    live = viewer.live_dir / "collect" / "maze.jsonl"
    since = int(re.search(r"since=(\d+)", httpx.get(f"{viewer.url}/live").text).group(1))
    first = httpx.get(f"{viewer.url}/live/poll", params={"since": since}).text
    assert "data-key" not in first and f'since={since}"' in first
    TrajectoryStore(live).append(_traj(source[0]))
    with open(live, "ab") as f:
        f.write(json.dumps(source[1]).encode()[:50])  # an episode being written: not shown yet
    poll = httpx.get(f"{viewer.url}/live/poll", params={"since": since}).text
    assert len(keys_of(poll)) == 1 and f'since={since + 1}"' in poll and 'class="episodes">1<' in poll
    with open(live, "ab") as f:
        f.write(json.dumps(source[1]).encode()[50:] + b"\n")
    poll = httpx.get(f"{viewer.url}/live/poll", params={"since": since + 1}).text
    assert len(keys_of(poll)) == 1 and source[1]["task_id"] in poll and 'class="episodes">2<' in poll
    assert httpx.get(f"{viewer.url}/live/poll", params={"since": since + 2}).text.count("data-key") == 0


def test_records_are_read_defensively(viewer, view_runs):
    """A field the record gains later shows up; a newer schema still opens (without training masks)."""
    record = stored(view_runs, "eval-expert")[0] | {"judge": "a person", "version": 99}
    record["turns"][2] |= {"score": 0.5}
    folder = viewer.live_dir / "future"
    folder.mkdir()
    (folder / "new.jsonl").write_text(json.dumps(record) + "\n[1, 2]\nnot json\n")
    rows = httpx.get(f"{viewer.url}/trajectories", params={"run": f"{viewer.live_dir.name}/future"}).text
    [key] = keys_of(rows)
    page = httpx.get(f"{viewer.url}/trajectories/{key}").text
    assert re.search(r"<th>judge</th><td>a person</td>", page) and '<td id="outcome">won;' in page
    assert "training masks unavailable" in page and "newer than this toolkit" in page
    assert len(re.findall(r'<article class="turn', page)) == len(record["turns"])
    assert "2 unreadable" in httpx.get(f"{viewer.url}/trajectories").text


def test_index_reads_a_rewritten_store_again(tmp_path):
    from eval.view.index import RunIndex

    store = tmp_path / "run" / "train.jsonl"
    store.parent.mkdir()
    store.write_text('{"task_id": "a"}\n{"task_id": "b"}\n')
    index = RunIndex([tmp_path / "run"])
    assert [e.get("task_id") for e in index.refresh()] == ["a", "b"]
    store.write_text('{"task_id": "c"}\n')  # a filter run rewrote it
    assert [e.get("task_id") for e in index.refresh()] == ["c"]
    assert [e.get("task_id") for e in index.entries] == ["c"] and index.refresh() == []


def test_play_passes_the_env_servers_token(viewer, server_factory):
    echo = server_factory("echo", token="env-secret")
    r = httpx.post(f"{viewer.url}/play", data={"url": echo.url, "task_id": "echo-1"})
    assert r.status_code == 400 and "refused the token" in r.json()["message"]
    r = httpx.post(f"{viewer.url}/play", data={"url": echo.url, "task_id": "echo-1", "token": "env-secret"})
    assert r.status_code == 303
    assert httpx.post(viewer.url + r.headers["location"] + "/act", data={"action": "finish"}).status_code == 303
    assert 'data-won="true"' in httpx.get(viewer.url + r.headers["location"]).text


def _traj(record: dict):
    from agentgym.trajectory import Trajectory

    return Trajectory.from_dict(record)


def test_tokens_view_shows_what_sft_learns(viewer, view_runs, model_dir):
    from transformers import AutoTokenizer

    from agentgym.trajectory import Trajectory
    from trajectories.export import tokenize_messages

    record = stored(view_runs, "eval-agent")[0]
    key = keys_of(httpx.get(f"{viewer.url}/trajectories", params={"run": "runs/eval-agent"}).text)[0]
    html = httpx.get(f"{viewer.url}/trajectories/{key}/tokens", params={"tokenizer": model_dir}, timeout=300).text
    encoded = tokenize_messages(to_messages(Trajectory.from_dict(record)), AutoTokenizer.from_pretrained(model_dir))
    tokens = html[html.index('<div class="tokens">'):]
    spans = re.findall(r'<span class="tok( learn)?">(.*?)</span>', tokens, re.S)
    assert len(spans) == len(encoded["input_ids"])
    assert [bool(learn) for learn, _ in spans] == [bool(m) for m in encoded["assistant_masks"]]
    learned = "".join(text for learn, text in spans if learn)
    erroneous = [t["text"] for t in record["turns"] if t["erroneous"]]
    assert "Action: move" in learned and not any(text in learned for text in erroneous)


def test_token_rule_and_requests_from_other_sites(viewer, tmp_path):
    rebound = httpx.get(f"{viewer.url}/trajectories", headers={"host": f"evil.example:{viewer.port}"})
    assert rebound.status_code == 403 and "loopback only" in rebound.json()["message"]
    assert httpx.get(f"{viewer.url}/trajectories", headers={"host": f"localhost:{viewer.port}"}).status_code == 200
    with ViewServer([tmp_path], demos=tmp_path / "d.jsonl", token="s3cret") as viewer:
        assert httpx.get(f"{viewer.url}/health").status_code == 200
        r = httpx.get(f"{viewer.url}/trajectories")
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
        assert httpx.get(f"{viewer.url}/trajectories", params={"token": "wrong"}).status_code == 401
        with httpx.Client(base_url=viewer.url) as browser:
            assert browser.get("/trajectories", params={"token": "s3cret"}).status_code == 200
            assert browser.get("/runs").status_code == 200  # the cookie carries it from now on
            r = browser.post("/play", data={"env": "echo"}, headers={"origin": "http://evil.example"})
            assert r.status_code == 403 and "cross-site" in r.json()["message"]
            # a server the viewer starts has a token of its own, not the viewer's (AGENTGYM_TOKEN here)
            play = browser.post("/play", data={"env": "echo", "task_id": "echo-3"}, timeout=120)
            assert play.status_code == 303, play.text
            browser.post(play.headers["location"] + "/act", data={"action": "finish"})
            assert 'data-won="true"' in browser.get(play.headers["location"]).text
        bearer = httpx.get(f"{viewer.url}/runs", headers={"authorization": "Bearer s3cret"})
        assert bearer.status_code == 200
    proc = subprocess.run([sys.executable, "-m", "agentgym.cli", "view", str(tmp_path), "--host", "0.0.0.0"],
                          capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "AGENTGYM_TOKEN"})
    assert proc.returncode == 2 and "--token" in proc.stderr


def test_view_refuses_a_file_that_is_not_a_store(tmp_path):
    from typer.testing import CliRunner

    from agentgym.cli import app

    (tmp_path / "notes.txt").write_text("hello")
    result = CliRunner().invoke(app, ["view", str(tmp_path / "notes.txt")])
    assert result.exit_code == 2 and "neither a run folder nor a trajectory .jsonl file" in result.output
