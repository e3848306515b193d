"""The `agentgym view` web app: server-rendered Jinja2 pages (FastAPI), htmx for following live runs.

Pages: trajectories (list with filters, one turn by turn, its training tokens), runs (reports, two
evaluations compared), live (episodes as they are stored) and play (a person plays any env server).
Bound to loopback unless a token is given, as env servers are; with a token, every request but
`/health` must carry it (`?token=` once sets a cookie, or `Authorization: Bearer`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from agentgym.env import SPLITS
from agentgym.errors import AgentGymError, BadRequest, EpisodeDone, Unauthorized
from agentgym.server import NotFound
from eval.view import render
from eval.view.index import FILTERS, RESULTS, RunIndex
from eval.view.play import PlayManager
from trajectories.store import TrajectoryStore

HERE = Path(__file__).parent
COOKIE = "agentgym_view_token"
LIST_LIMIT = 500
LIVE_SHOWN = 50
# fields the trajectory page shows in their own places; every other field goes in its table as is
SHOWN = {"env", "task_id", "split", "model", "episode", "attempt", "feedback", "sampling", "turns", "reward", "score",
         "won", "steps", "invalid_actions", "error", "ended"}
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


class Forbidden(AgentGymError):
    code, status = "forbidden", 403


def create_app(paths: list[str | os.PathLike], demos: str | os.PathLike, token: str | None = None) -> FastAPI:
    """The viewer over run folders and JSONL files; human demonstrations are appended to `demos`."""
    demos = Path(demos).resolve()
    index = RunIndex([*paths, demos])
    index.refresh()
    plays = PlayManager()
    compare_dir = Path(tempfile.mkdtemp(prefix="agentgym-view-compare-"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await plays.close()

    app = FastAPI(title="AgentGym view", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(marks=render.marks, filters=FILTERS, splits=SPLITS)

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    # -- errors: JSON for programs, a page for people ------------------------------------------
    def error(request: Request, status: int, code: str, message: str) -> Response:
        if "text/html" in request.headers.get("accept", ""):
            return page(request, "error.html", status, code=code, message=message)
        return JSONResponse({"code": code, "message": message}, status)

    @app.exception_handler(AgentGymError)
    async def on_agentgym_error(request: Request, exc: AgentGymError) -> Response:
        return error(request, exc.status, exc.code, exc.message)

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, exc: HTTPException) -> Response:
        code = "not_found" if exc.status_code == 404 else "bad_request"
        return error(request, exc.status_code, code, f"{request.method} {request.url.path}: {exc.detail}")

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        return error(request, 400, "bad_request", problems)

    # -- the token rule, and requests from other sites ---------------------------------------------
    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.url.path == "/health":
            return await call_next(request)
        given = request.query_params.get("token")
        if token is None and request.url.hostname not in LOOPBACK_NAMES:  # a DNS-rebound name, not this machine
            return error(request, 403, Forbidden.code, f"this viewer answers on loopback only, not as "
                         f"'{request.url.hostname}': start it with --token to reach it by another name")
        if token is not None:
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            sent = given or request.cookies.get(COOKIE) or bearer
            if not hmac.compare_digest(sent.encode(), token.encode()):
                return error(request, 401, Unauthorized.code, "missing or wrong token: open the URL `agentgym view` "
                             "printed (it carries ?token=...), or send 'Authorization: Bearer <token>'")
        origin = request.headers.get("origin")
        if request.method == "POST" and origin and urlsplit(origin).netloc != request.url.netloc:
            return error(request, 403, Forbidden.code, f"cross-site request from {origin} refused")
        response = await call_next(request)
        if token is not None and given:
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "trajectories": len(index.entries), "plays": len(plays.plays)}

    @app.get("/")
    async def home() -> Response:
        return RedirectResponse("/trajectories", 303)

    # -- trajectories ---------------------------------------------------------------------------
    @app.get("/trajectories")
    async def trajectories(request: Request) -> Response:
        index.refresh()
        chosen = {name: request.query_params.get(name, "") for name in FILTERS}
        rows = index.select(chosen)
        won = sum(e.won for e in rows)
        # htmx asks for the rows only, except when it restores a page from history
        partial = request.headers.get("hx-request") and not request.headers.get("hx-history-restore-request")
        name = "rows.html" if partial else "trajectories.html"
        return page(request, name, rows=rows[-LIST_LIMIT:], total=len(rows), won=won, chosen=chosen,
                    choices=index.choices(), files=list(index.files.values()), limit=LIST_LIMIT)

    def entry_of(key: str):
        index.refresh()
        entry = index.by_key.get(key)
        if entry is None:
            raise NotFound(f"no trajectory '{key}': pick one at /trajectories")
        return entry

    @app.get("/trajectories/{key}")
    async def trajectory(request: Request, key: str) -> Response:
        entry = entry_of(key)
        turns = entry.turns
        flags, masks_note = render.train_flags(entry.record)
        points = render.steps(turns)
        extra = {k: v for k, v in entry.record.items() if k not in SHOWN}
        return page(request, "trajectory.html", e=entry, turns=turns, flags=flags, masks_note=masks_note,
                    points=points, chart=render.chart(points, float(entry.get("score", 0.0))), extra=extra)

    @app.get("/trajectories/{key}/json")
    async def trajectory_json(key: str) -> dict:
        return entry_of(key).record

    @app.get("/trajectories/{key}/tokens")
    async def tokens(request: Request, key: str, tokenizer: str = "smollm2") -> Response:
        entry = entry_of(key)
        try:
            tok = await asyncio.to_thread(render.load_tokenizer, tokenizer)
            spans = await asyncio.to_thread(render.token_spans, entry.record, tok)
        except (OSError, ValueError, AgentGymError) as exc:
            raise BadRequest(f"cannot show the tokens of {key} with tokenizer '{tokenizer}': {exc}") from None
        learned = sum(learn for _, learn in spans)
        return page(request, "tokens.html", e=entry, spans=spans, learned=learned, tokenizer=tokenizer)

    # -- runs: reports and comparisons ------------------------------------------------------------
    @app.get("/runs")
    async def runs(request: Request) -> Response:
        from eval.report import load_results, pct

        folders: dict[tuple[int, Path], dict[str, Any]] = {}
        for root, path in index.reports():
            number = index.roots.index(root)
            folder = folders.setdefault((number, path.parent.relative_to(root)),
                                        {"root": root, "md": [], "png": [], "results": None, "summary": ""})
            rel = path.relative_to(root)
            if path.name == RESULTS:
                folder["results"] = rel
                try:
                    results = load_results(path)
                    folder["summary"] = "; ".join(f"{g.split} {pct(g.success)} (n={g.n})"
                                                  for g in results.metrics.splits)
                    folder["label"] = results.label
                except (ValueError, KeyError, TypeError) as exc:
                    folder["summary"] = f"unreadable results.json: {exc}"
            else:
                folder["md" if path.suffix == ".md" else "png"].append(rel)
        results = [(n, f["root"], f["results"]) for (n, _), f in folders.items() if f["results"]]
        runs_with_trajectories = {f.run for f in index.files.values() if f.lines}
        return page(request, "runs.html", folders=folders, results=results, runs=runs_with_trajectories)

    def file_of(ref: str) -> Path:
        number, _, rel = ref.partition("/")
        if not number.isdigit():
            raise BadRequest(f"'{ref}' is not a file reference: expected <root number>/<path>")
        try:
            return index.resolve(int(number), rel)
        except KeyError as exc:
            raise NotFound(exc.args[0]) from None

    @app.get("/files/{ref:path}")
    async def files(request: Request, ref: str, raw: bool = False) -> Response:
        path = file_of(ref)
        if path.suffix == ".md" and not raw:
            return page(request, "report.html", title=ref.partition("/")[2],
                        body=render.markdown(path.read_text(errors="replace")))
        media = "text/plain; charset=utf-8" if path.suffix in (".md", ".yaml", ".yml", ".log", ".txt") else None
        return FileResponse(path, media_type=media)

    @app.get("/compare")
    async def compare(request: Request, a: str, b: str) -> Response:
        from eval.report import compare as compare_runs

        paths = [file_of(a), file_of(b)]
        out = compare_dir / hashlib.sha1(f"{paths[0]}|{paths[1]}".encode()).hexdigest()[:16]
        try:
            labels = (paths[0].parent.name, paths[1].parent.name)
            await asyncio.to_thread(compare_runs, paths[0], paths[1], out, labels)
            sides = [render.markdown((p.parent / "report.md").read_text(), base=f"/files/{ref.rsplit('/', 1)[0]}")
                     if (p.parent / "report.md").exists() else "<p>(no report.md beside this results.json)</p>"
                     for p, ref in zip(paths, (a, b), strict=True)]
        except (KeyError, ValueError, TypeError) as exc:
            raise BadRequest(f"cannot compare {a} and {b}: {type(exc).__name__}: {exc}") from None
        body = render.markdown((out / "comparison.md").read_text(), base=f"/compare/{out.name}")
        return page(request, "compare.html", a=a, b=b, labels=labels, body=body, sides=sides)

    @app.get("/compare/{key}/comparison.png")
    async def compare_png(key: str) -> Response:
        path = compare_dir / key / "comparison.png"
        if not key.isalnum() or not path.is_file():
            raise NotFound(f"no comparison '{key}'")
        return FileResponse(path)

    # -- live ------------------------------------------------------------------------------------
    def live_context(since: int) -> dict[str, Any]:
        index.refresh()
        counts = {f.number: [0, 0] for f in index.files.values()}
        for e in index.entries:
            counts[e.file.number][0] += 1
            counts[e.file.number][1] += e.won
        stats = [(f, *counts[f.number]) for f in index.files.values()]
        return {"new": index.since(since)[-LIVE_SHOWN:][::-1], "seq": index.seq, "stats": stats}

    @app.get("/live")
    async def live(request: Request) -> Response:
        ctx = live_context(0)
        ctx["new"] = index.entries[-LIVE_SHOWN:][::-1]
        return page(request, "live.html", **ctx)

    @app.get("/live/poll")
    async def live_poll(request: Request, since: int = 0) -> Response:
        return page(request, "live_poll.html", **live_context(since))

    # -- play ------------------------------------------------------------------------------------
    @app.get("/play")
    async def play_start(request: Request) -> Response:
        from agentgym.registry import available

        return page(request, "play_start.html", envs=available(), plays=list(plays.plays.values()))

    @app.post("/play")
    async def play_open(request: Request) -> Response:
        form = await request.form()
        env, url = str(form.get("env") or ""), str(form.get("url") or "").strip()
        if not url and not env:
            raise BadRequest("give an env server URL, or pick an environment to start a server for")
        index_text = str(form.get("index") or "0")
        if not index_text.isdigit():
            raise BadRequest(f"index must be a whole number, got '{index_text}'")
        split = str(form.get("split") or "held_in")
        if split not in SPLITS:
            raise BadRequest(f"unknown split '{split}': expected one of {list(SPLITS)}")
        env_token = str(form.get("token") or "") or None
        if not url:
            url, env_token = await plays.server_for(env)
        play = await plays.open(url, env_token, str(form.get("task_id") or "").strip(), split, int(index_text),
                                str(form.get("feedback") or "refine"))
        return RedirectResponse(f"/play/{play.id}", 303)

    @app.get("/play/{play_id}")
    async def play_view(request: Request, play_id: str) -> Response:
        play = plays.get(play_id)
        has_page = await play.page() is not None
        traj = play.trajectory
        messages = ([{"role": t.role, "content": t.text} for t in traj.turns] if traj else play.policy.prompt)[1:]
        return page(request, "play.html", p=play, has_page=has_page, messages=messages, traj=traj,
                    obs=play.observation)

    @app.get("/play/{play_id}/page")
    async def play_page(play_id: str) -> Response:
        play = plays.get(play_id)
        html = await play.page()
        if html is None:
            raise NotFound(f"play {play_id} has no page: its environment has no HTML view, or the episode is over")
        script = f'<script src="/static/play-page.js" data-act="/play/{play.id}/act"></script>'
        return HTMLResponse(html.replace("</body>", script + "</body>") if "</body>" in html else html + script)

    @app.post("/play/{play_id}/act")
    async def play_act(request: Request, play_id: str) -> Response:
        play = plays.get(play_id)
        form = await request.form()
        # the typed action, or the available action whose button was pressed (sent after the text box)
        action = next((str(v) for v in reversed(form.getlist("action")) if str(v).strip()), "")
        await play.act(action, str(form.get("thought") or ""))
        return RedirectResponse(f"/play/{play.id}", 303)

    @app.post("/play/{play_id}/save")
    async def play_save(play_id: str) -> Response:
        play = plays.get(play_id)
        traj = play.trajectory
        if traj is None:
            raise EpisodeDone(f"play {play_id} is still running: finish the episode before saving it")
        if play.saved_as is None:
            TrajectoryStore(demos).append(traj)
            new = [e for e in index.refresh() if e.get("id") == traj.id]
            if not new:
                raise NotFound(f"saved to {demos}, but it is not among the viewer's files")
            play.saved_as = new[-1].key
        return RedirectResponse(f"/trajectories/{play.saved_as}", 303)

    @app.post("/play/{play_id}/close")
    async def play_close(play_id: str) -> Response:
        play = plays.get(play_id)
        await play.close()
        plays.plays.pop(play.id, None)
        return RedirectResponse("/play", 303)

    return app
