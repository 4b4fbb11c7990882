"""The review page's HTTP API: token, Host and CSP, edits validated with a
clear message, the file written as the CLI writes it, nothing on reject."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from pipeline import api, llm
from pipeline.cli import main
from pipeline.models import ReviewDecision
from pipeline.render import render
from pipeline.review import ReviewSession, load, set_status
from pipeline.review.server import CSP, ReviewServer
from tests import mdcheck
from tests.conftest import MINI, ROOT

HOSTILE = "2026-02-08T14:00:30Z ERROR api-gateway <b class=planted>bold</b> <img src=x onerror=alert(1)> upstream reset\n"
LESSON = {
    "context": "Aggregations on the primary database during business hours.",
    "lesson": "Unbounded scans starve the API of connections.",
    "adjustment": "Check EXPLAIN for a seq scan before running an aggregation.",
}


def inputs(tmp_path: Path) -> Path:
    """The mini incident plus a log line full of markup (evidence is hostile text)."""
    src = tmp_path / "in"
    shutil.copytree(MINI, src)
    with (src / "app.log").open("a") as f:
        f.write(HOSTILE)
    return src


def pending_report(tmp_path: Path) -> tuple[Path, Path]:
    """A report written pending by the offline drafter, and its --json-out file."""
    json_path = tmp_path / "report.json"
    r = CliRunner().invoke(
        main,
        ["--from-logs", str(inputs(tmp_path)), "--llm", "offline", "--out-dir", str(tmp_path / "out"),
         "--reflexion", "pending", "--json-out", str(json_path)],
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    return Path(r.stdout.strip()), json_path


def live_session(tmp_path: Path) -> ReviewSession:
    """What ``--review web`` serves: a fresh draft with the whole evidence pack."""
    with llm.open_backend("offline") as backend:
        prep = api.prepare([str(inputs(tmp_path))], api.Options())
        report = api.draft_report(
            [], backend, reviewer=lambda d: ReviewDecision(status="pending"), prepared=prep
        )
    out = tmp_path / "out"
    return ReviewSession(
        report=report,
        known=prep.evidence.by_id(),
        write=lambda r: api.write_report(r, out),
        events=prep.events,
    )


class Client:
    def __init__(self, server: ReviewServer) -> None:
        self.server = server
        self.port = server.server_address[1]

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "header",
        host: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Host": host or f"127.0.0.1:{self.port}"}
        if token == "header":
            headers["X-Review-Token"] = self.server.token
        elif token:
            headers["X-Review-Token"] = token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        res = conn.getresponse()
        out = res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
        conn.close()
        return out

    def decide(
        self, action: str, approver: str = "", edits: Any = None
    ) -> tuple[int, dict[str, Any]]:
        code, _, body = self.request(
            "POST", "/api/decide", {"action": action, "approver": approver, "edits": edits}
        )
        return code, json.loads(body)

    def state(self) -> dict[str, Any]:
        code, _, body = self.request("GET", "/api/report")
        assert code == 200
        return json.loads(body)


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[tuple[ReviewServer, threading.Thread]] = []

    def start(session: ReviewSession) -> Client:
        server = ReviewServer(session)
        t = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        t.start()
        started.append((server, t))
        return Client(server)

    yield start
    for server, t in started:
        server.shutdown()
        server.server_close()
        t.join(5)


def test_token_and_host_are_required(tmp_path: Path, serve: Any) -> None:
    report, _ = pending_report(tmp_path)
    c = serve(load.session(report))
    before = report.read_text()
    for path in ("/", "/api/report", "/api/picture.svg"):
        assert c.request("GET", path, token=None)[0] == 403
        assert c.request("GET", path, token="wrong")[0] == 403
    code, _, body = c.request("GET", "/api/report", token=None)
    assert "token" in json.loads(body)["error"]
    # the token in the address is enough for the page; a decision needs it in the header
    assert c.request("GET", f"/?token={c.server.token}", token=None)[0] == 200
    bad = c.request(
        "POST", f"/api/decide?token={c.server.token}", {"action": "pending"}, token=None
    )
    assert bad[0] == 403
    # DNS rebinding: a page on another name that resolves to 127.0.0.1
    assert c.request("GET", "/api/report", host=f"evil.example:{c.port}")[0] == 403
    assert report.read_text() == before
    assert "/?token=" in c.server.url and urlsplit(c.server.url).hostname == "127.0.0.1"


def test_page_assets_are_local_and_strict(tmp_path: Path, serve: Any) -> None:
    report, _ = pending_report(tmp_path)
    c = serve(load.session(report))
    code, headers, page = c.request("GET", "/")
    assert code == 200 and headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert b"http://" not in page and b"https://" not in page  # no CDN
    for asset in ("app.js", "app.css"):
        code, headers, body = c.request("GET", f"/static/{asset}", token=None)
        assert code == 200 and headers["content-security-policy"] == CSP
        assert b"innerHTML" not in body and b"https://" not in body
    assert c.request("GET", "/static/../server.py", token=None)[0] == 404
    code, headers, svg = c.request("GET", "/api/picture.svg")
    assert code == 200 and headers["content-type"].startswith("image/svg+xml")
    assert b"<script" not in svg and b"HighLatency" in svg


def test_evidence_rows_carry_source_and_line(tmp_path: Path, serve: Any) -> None:
    c = serve(live_session(tmp_path))
    st = c.state()
    rows = {e["id"]: e for e in st["evidence"]}
    hostile = next(e for e in rows.values() if "planted" in e["text"])
    assert hostile["ref"].endswith("app.log:7") and hostile["kind"] == "log"
    # the text is data for the page to put in textContent, unchanged
    assert "<b class=planted>bold</b>" in hostile["text"]
    cited = {i for t in st["draft"]["timeline"] for i in t["evidence"]}
    assert cited and all(rows[i]["cited"] for i in cited)
    assert st["placeholder"] is True and st["facts_known"] is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda e: e["whys"][0].update(evidence=["E999"]),
            "why 1 cites E999, which is not in the evidence",
        ),
        (lambda e: e["timeline"][0].update(evidence=[]), "timeline entry 1 cites no evidence"),
        (lambda e: e["reflexion"].update(lesson="  "), "Reflexion lesson is empty"),
        (lambda e: e.update(title=""), "title is empty"),
        (lambda e: e.update(whys=[]), "the 5 whys are empty"),
        (
            lambda e: e["actions"].append({"text": "x", "horizon": "someday"}),
            "bad edit at actions.3.horizon",
        ),
    ],
)
def test_bad_edits_are_refused_with_a_clear_message(
    tmp_path: Path, serve: Any, change: Any, message: str
) -> None:
    report, _ = pending_report(tmp_path)
    before = report.read_text()
    c = serve(load.session(report))
    edits = c.state()["draft"]
    edits["reflexion"] = dict(LESSON)
    change(edits)
    code, body = c.decide("approve", "alice", edits)
    assert code == 400 and message in body["error"], body
    assert report.read_text() == before
    # the server keeps serving: the reviewer fixes the edit and tries again
    assert c.state()["status"] == "pending"


def test_placeholder_lesson_and_missing_name_are_refused(tmp_path: Path, serve: Any) -> None:
    report, _ = pending_report(tmp_path)
    before = report.read_text()
    c = serve(load.session(report))
    code, body = c.decide("approve", "alice")
    assert code == 400 and "offline placeholder" in body["error"]
    edits = c.state()["draft"]
    edits["reflexion"] = dict(LESSON)
    code, body = c.decide("approve", "  ", edits)
    assert code == 400 and "needs your name" in body["error"]
    assert c.request("POST", "/api/decide", {"action": "merge"})[0] == 400
    assert report.read_text() == before


def test_nothing_written_on_reject(tmp_path: Path, serve: Any) -> None:
    session = live_session(tmp_path)
    c = serve(session)
    code, body = c.decide("reject")
    assert code == 200 and body == {"status": "rejected", "written": None}
    assert not (tmp_path / "out").exists()
    assert session.outcome is not None and session.outcome.status == "rejected"


def test_approve_with_edits_writes_as_the_cli_does(tmp_path: Path, serve: Any) -> None:
    session = live_session(tmp_path)
    c = serve(session)
    edits = c.state()["draft"]
    edits["reflexion"] = dict(LESSON)
    edits["whys"][0].update(
        answer="An aggregation without a date filter scanned orders.",
        evidence=["E9"],
        hypothesis=False,
    )
    edits["timeline"][1]["text"] = "Pool exhausted on orders-db <script>x</script>"
    code, body = c.decide("approve", "alice", edits)
    assert code == 200 and body["status"] == "approved", body
    path = Path(body["written"])
    text = path.read_text()
    assert path.parent == tmp_path / "out" and path.name == api.report_name(session.report)
    assert "- **Lesson:** Unbounded scans starve the API of connections." in text
    question = edits["whys"][0]["question"]
    assert f"1. **{question}** An aggregation without a date filter scanned orders. [E9]" in text
    assert "`<script>x</script>`" in text  # inert in a code span, as every report writes it
    assert mdcheck.report_problems(text) == []
    assert "- **Approval:** approved by @alice on " in text
    # exactly what the CLI's renderer writes for this report
    assert text == render(session.report, file_name=str(tmp_path / "out" / path.name))


def test_review_of_a_pending_file_records_the_approver_like_approve(tmp_path: Path) -> None:
    report, _ = pending_report(tmp_path)
    text = report.read_text()
    for key, value in LESSON.items():  # the lesson written by hand in the pull request
        text = text.replace(
            next(ln for ln in text.splitlines() if ln.startswith(f"- **{key.title()}:**")),
            f"- **{key.title()}:** {value}",
        )
    report.write_text(text)
    twin = tmp_path / "twin" / report.name
    twin.parent.mkdir()
    twin.write_text(text)
    when = datetime(2026, 2, 9, 10, 30, tzinfo=UTC)
    assert set_status(twin, approver="octocat", now=when)
    session = load.session(report)
    session.now = lambda: when
    assert session.decide("approved", approver="octocat") == report
    assert report.read_text() == twin.read_text()


def _served(args: list[str], tmp_path: Path) -> tuple[subprocess.Popen[str], Client]:
    """draft-incident run with a review page; the test plays the browser."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DRAFT_INCIDENT_NO_BROWSER": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("Review page: "):
            url = urlsplit(line.split(": ", 1)[1].strip())
            break
    else:
        raise AssertionError(f"no review page address; exit {proc.wait()}")
    fake = ReviewServer.__new__(ReviewServer)  # only its address and token are needed
    fake.server_address = ("127.0.0.1", url.port or 0)
    fake.token = parse_qs(url.query)["token"][0]
    return proc, Client(fake)


def test_review_web_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc, c = _served(
        ["--from-logs", str(MINI), "--llm", "offline", "--review", "web", "--out-dir", str(out)],
        tmp_path,
    )
    try:
        edits = c.state()["draft"]
        edits["reflexion"] = dict(LESSON)
        code, body = c.decide("approve", "alice", edits)
        assert code == 200, body
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, stderr
    (report,) = out.glob("*.md")
    assert stdout.strip() == str(report) and "(Reflexion: approved)" in stderr
    assert "- **Approval:** approved by @alice on " in report.read_text()


def test_review_command_on_a_pending_file(tmp_path: Path) -> None:
    report, _ = pending_report(tmp_path)
    proc, c = _served(["review", str(report)], tmp_path)
    try:
        code, body = c.decide("reject", "  ")
        assert code == 400 and "rejecting needs your name" in body["error"]
        edits = c.state()["draft"]
        edits["reflexion"] = dict(LESSON)
        code, body = c.decide("approve", "octocat", edits)
        assert code == 200 and body["written"] == str(report), body
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0 and f"{report}: approved" in stderr
    assert "- **Approval:** approved by @octocat on " in report.read_text()
