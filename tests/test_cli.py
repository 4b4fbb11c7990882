"""The CLI contract: flags, files written, and every exit code."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests import fakes
from tests.conftest import MINI, openai_args
from tests.test_pipeline import HEADINGS


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def offline(tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    return invoke(
        "--from-logs", str(MINI), "--llm", "offline", "--out-dir", str(tmp_path / "out"), *extra
    )


def test_offline_writes_report_with_every_heading(tmp_path: Path) -> None:
    # the offline drafter leaves the lesson to a human: the flag cannot approve it
    code, out, err = offline(tmp_path, "--approve-reflexion", "--approver", "me")
    assert code == 3 and out == ""
    (line,) = [ln for ln in err.splitlines() if "placeholder" in ln]
    assert line.startswith("error: ") and "cannot be approved" in line and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    # ... unless it may be written pending instead
    code, out, err = offline(
        tmp_path, "--approve-reflexion", "--approver", "me", "--reflexion", "pending"
    )
    assert code == 0, err
    path = Path(out.strip())
    assert path.name == "2026-02-08-highlatency-on-api-gateway.md"
    text = path.read_text()
    for h in HEADINGS:
        assert h in text
    assert "**Approval:** pending" in text and "approved by" not in text
    assert "```mermaid" in text
    # never overwritten without --force
    code, _, err = offline(tmp_path, "--reflexion", "pending")
    assert code == 2 and "exists; pass --force" in err
    code, _, _ = offline(tmp_path, "--reflexion", "pending", "--force")
    assert code == 0


def test_pending_and_json_out(tmp_path: Path) -> None:
    jpath = tmp_path / "r.json"
    code, out, err = offline(tmp_path, "--reflexion", "pending", "--json-out", str(jpath))
    assert code == 0, err
    assert "**Approval:** pending" in Path(out.strip()).read_text()
    data = json.loads(jpath.read_text())
    assert data["review"]["status"] == "pending"
    entry = data["draft"]["timeline"][0]
    assert entry["ts"].endswith("Z") and entry["evidence"]
    assert data["facts"]["time_to_resolve"]["formula"] == "resolved - start"
    assert data["facts"]["time_to_resolve"]["minutes"] == 48.8


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    code, out, _ = offline(tmp_path, "--dry-run")
    assert code == 0
    assert "# Incident Report:" in out
    assert not (tmp_path / "out").exists()


def test_dump_events(tmp_path: Path) -> None:
    code, out, _ = invoke("--from-logs", str(MINI), "--dump-events")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 16
    for r in rows:
        assert {
            "id",
            "ts",
            "ts_inferred",
            "source",
            "kind",
            "actor",
            "text",
            "severity",
            "ref",
        } <= set(r)
        assert r["ts"].endswith("Z")
    assert [r["id"] for r in rows[:3]] == ["E1", "E2", "E3"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from-logs", "nope/missing.json"], "nope/missing.json: no such file"),
        (["--from-logs", "MINI", "--tz", "Mars/Olympus"], "unknown time zone"),
        (["--from-logs", "MINI", "--as", "klingon"], "unknown format"),
        (["--from-logs", "MINI", "--date", "08/02/2026"], "expected YYYY-MM-DD"),
        (["--from-logs", "MINI", "--approve-reflexion"], "needs --approver"),
        ([], "at least one"),
    ],
)
def test_exit_2_usage(tmp_path: Path, args: list[str], message: str) -> None:
    args = [str(MINI) if a == "MINI" else a for a in args]
    code, _, err = invoke(*args, "--llm", "offline", "--out-dir", str(tmp_path))
    assert code == 2
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\x02binary", "binary file"),
        (b"", "file is empty"),
        (b"hello world\nno times here\n", "unrecognised format"),
    ],
)
def test_exit_2_bad_input(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.log"
    bad.write_bytes(content)
    code, _, err = invoke(
        "--from-logs",
        str(bad),
        "--llm",
        "offline",
        "--reflexion",
        "pending",
        "--out-dir",
        str(tmp_path),
    )
    assert code == 2 and message in err and str(bad) in err
    assert len(err.strip().splitlines()) == 1


def test_exit_3_without_decision_and_on_reject(tmp_path: Path) -> None:
    code, _, err = offline(tmp_path)
    assert code == 3 and "needs a decision" in err
    code, _, err = offline(tmp_path, "--reject-reflexion")
    assert code == 3 and "rejected" in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_exit_1_when_endpoint_unreachable(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    code, _, err = invoke(*openai_args(url, tmp_path / "out"))
    assert code == 1, err
    assert "unreachable" in err or "failed" in err
    assert not (tmp_path / "out").exists()


def test_openai_client_path_against_fake_server(tmp_path: Path) -> None:
    faults = [fakes.Fault(), fakes.Fault(content='{"title": "truncated')]  # 2nd answer is malformed
    with fakes.fake_openai_server(faults) as srv:
        code, out, err = invoke(*openai_args(srv.url, tmp_path / "out", "--model", "fake-gpt"))
        assert code == 0, err
        reqs = list(srv.requests)
    assert all(r["model"] == "fake-gpt" for r in reqs)
    assert all(r["response_format"]["type"] == "json_schema" for r in reqs)
    # the malformed answer was re-asked with the validation error
    assert any("That answer was rejected" in json.dumps(r["messages"]) for r in reqs)
    text = Path(out.strip()).read_text()
    assert "openai:fake-gpt" in text
    # the evidence prefix is identical across calls (prompt-cache friendly)
    firsts = {r["messages"][0]["content"] for r in reqs}
    assert len(firsts) == 1
    # a rerun is served from the cache: no new request
    with fakes.fake_openai_server() as srv2:
        code, _, err = invoke(
            *openai_args(srv2.url, tmp_path / "out", "--model", "fake-gpt", "--force")
        )
        assert code == 0, err
        assert srv2.requests == []


def test_approve_command(tmp_path: Path) -> None:
    code, out, _ = offline(tmp_path, "--reflexion", "pending")
    report = out.strip()
    code, _, err = invoke("approve", report, "--approver", "octocat")
    assert code == 2 and "offline placeholder" in err  # a human writes the lesson first
    p = Path(report)
    replace = {
        "- **Context:**": "- **Context:** Aggregations on the primary.",
        "- **Lesson:**": "- **Lesson:** Unbounded scans starve the API.",
        "- **Adjustment:**": "- **Adjustment:** Check EXPLAIN first.",
    }
    lines = [
        next((v for k, v in replace.items() if line.startswith(k)), line)
        for line in p.read_text().splitlines()
    ]
    p.write_text("\n".join(lines) + "\n")
    code, _, err = invoke("approve", report, "--approver", "octocat")
    assert code == 0, err
    text = Path(report).read_text()
    assert "**Approval:** approved by @octocat on " in text
    code, _, err = invoke("approve", report, "--approver", "octocat")
    assert code == 0 and "(already)" in err
    assert Path(report).read_text() == text
    notes = tmp_path / "notes.md"
    notes.write_text("# Something else\n")
    code, _, err = invoke("approve", str(notes), "--approver", "x")
    assert code == 2 and "not a draft-incident report" in err
