"""Every OpenAI-compatible server works: the structured-output method is
negotiated, only what can heal is retried, and the report says who drafted what.

Runs go through the CLI and the real ChatOpenAI / AzureChatOpenAI clients
against the loopback fake of ``tests/fakes.py``, which refuses request shapes
the way real servers do. Request counts are exact: the SDK's own retries are
off, so one attempt is one request.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline import api, llm, structured
from pipeline.cache import Cache
from pipeline.cli import main
from pipeline.models import ReviewDecision
from pipeline.schemas import SummaryAnswer
from tests import fakes
from tests.conftest import MINI, openai_args

pytestmark = pytest.mark.filterwarnings("ignore:This model does not support OpenAI")

CALLS = 5  # header (title, severity, impact, summary), timeline, whys chain, actions, reflexion
R = fakes.REFUSALS
KEY = "fake-test-key-4f1c"


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    # backoff without Retry-After stays real but tiny
    monkeypatch.setenv("DRAFT_INCIDENT_MAX_BACKOFF", "0.05")
    monkeypatch.setattr(fakes.ThreadingHTTPServer, "handle_error", lambda *a: None)


def run(args: list[str]) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def report_of(stdout: str) -> str:
    return Path(stdout.strip()).read_text()


def footer_of(text: str) -> str:
    """The report's last line, Markdown escapes removed."""
    return unescape(text.rstrip().splitlines()[-1])


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# --- negotiation ---------------------------------------------------------------------

# name -> (shapes the server refuses, the method it ends up with)
SERVERS: dict[str, tuple[dict[str, fakes.Fault], str]] = {
    "takes-everything": ({}, "json_schema"),
    "json_schema-400": ({"json_schema": R["json_schema_400"]}, "tools"),
    "llama-cpp-python-500": ({"json_schema": R["json_schema_500"]}, "tools"),
    "tools-422-too": (
        {"json_schema": R["json_schema_500"], "tools": R["tools_422"]},
        "json_object_schema",
    ),
    "json_object-only": (
        {
            "json_schema": R["json_schema_400"],
            "tools": R["tools_422"],
            "json_object_schema": R["json_object_schema_400"],
        },
        "json_object",
    ),
}


@pytest.mark.parametrize("name", list(SERVERS))
def test_negotiation_finds_the_method_and_never_resends_a_refused_shape(
    tmp_path: Path, name: str
) -> None:
    refuse, want = SERVERS[name]
    jpath = tmp_path / "r.json"
    with fakes.fake_openai_server(refuse=refuse) as srv:
        code, stdout, err = run(
            openai_args(
                srv.url, tmp_path / "out", "--json-out", str(jpath), "--reflexion", "pending"
            )
        )
        shapes = srv.shapes()
    assert code == 0, err
    refused = [m for m in structured.ORDER if m in refuse]
    # each refused shape exactly once, at the first call, then only the method found
    assert shapes == [*refused, *[want] * CALLS]
    line = f"structured output: {want}" + (
        f" ({'; '.join(f'{m} refused' for m in refused)})" if refused else ""
    )
    assert [ln for ln in err.splitlines() if ln.startswith("structured output:")] == [line]
    text = report_of(stdout)
    assert "## Review Notes" not in text
    assert footer_of(text).startswith(
        f"_Drafted by draft-incident 0.1.0 with openai:gpt-4o-mini (structured output: {want})"
    )
    prov = json.loads(jpath.read_text())["draft"]["provenance"]
    assert len(prov) == CALLS
    assert {(p["by"], p["method"]) for p in prov} == {("openai:gpt-4o-mini", want)}


def test_plain_json_object_carries_the_schema_in_the_prompt(tmp_path: Path) -> None:
    refuse = SERVERS["json_object-only"][0]
    with fakes.fake_openai_server(refuse=refuse) as srv:
        code, _, err = run(openai_args(srv.url, tmp_path / "out"))
        accepted = [r for r in srv.requests if fakes.shape_of(r) == "json_object"]
    assert code == 0, err
    tasks = [r["messages"][-1]["content"] for r in accepted]
    assert all("JSON schema" in t for t in tasks)
    assert any('"title": "SummaryAnswer"' in t for t in tasks)
    # the shared prefix (system message) is untouched: the hint rides on the task
    assert "JSON" not in accepted[0]["messages"][0]["content"].split("<evidence>")[0]


def test_endpoint_refusing_everything_drafts_offline_and_says_so(tmp_path: Path) -> None:
    refuse = {m: R["json_schema_400"] for m in structured.ORDER}
    jpath = tmp_path / "r.json"
    with fakes.fake_openai_server(refuse=refuse) as srv:
        code, stdout, err = run(
            openai_args(
                srv.url, tmp_path / "out", "--json-out", str(jpath), "--reflexion", "pending"
            )
        )
        sent = len(srv.requests)
    assert code == 0, err
    assert sent == len(structured.ORDER)  # one probe per method, then no more requests
    assert "warning: no section was drafted by openai:gpt-4o-mini" in err
    text = report_of(stdout)
    assert footer_of(text).startswith(
        "_Drafted offline by draft-incident 0.1.0 (openai:gpt-4o-mini drafted no section: "
        "endpoint refused structured output"
    )
    assert "refused every structured-output method" in unescape(text)  # the Review Notes say why
    prov = json.loads(jpath.read_text())["draft"]["provenance"]
    assert [p["section"] for p in prov] == ["summary", "timeline", "whys", "actions", "reflexion"]
    assert {p["by"] for p in prov} == {"offline fallback: endpoint refused structured output"}


def test_require_model_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    refuse = {m: R["json_schema_500"] for m in structured.ORDER}
    out = tmp_path / "out"
    with fakes.fake_openai_server(refuse=refuse) as srv:
        code, _, err = run(openai_args(srv.url, out, "--require-model"))
    assert code == 1, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "--require-model: no section was drafted" in lines[0]
    assert not out.exists() or not list(out.iterdir())


def test_method_is_remembered_per_endpoint_and_model(tmp_path: Path) -> None:
    refuse = {"json_schema": R["json_schema_500"]}
    cache = tmp_path / "cache"  # conftest points DRAFT_INCIDENT_CACHE here
    with fakes.fake_openai_server(refuse=refuse) as srv:
        code, _, err = run(openai_args(srv.url, tmp_path / "a"))
        assert code == 0, err
        first = srv.shapes()
        shutil.rmtree(cache / "answers")  # forget the answers, keep the endpoint record
        code, _, err2 = run(openai_args(srv.url, tmp_path / "b"))
        assert code == 0, err2
        second = srv.shapes()[len(first) :]
        # another model name on the same server negotiates again
        code, _, err3 = run(openai_args(srv.url, tmp_path / "c", "--model", "other"))
        third = srv.shapes()[len(first) + len(second) :]
    assert first == ["json_schema", *["tools"] * CALLS]
    assert second == ["tools"] * CALLS
    assert "structured output: tools (json_schema refused; remembered for this endpoint)" in err2
    assert code == 0 and third == ["json_schema", *["tools"] * CALLS]


@pytest.mark.parametrize("method", ["json_schema", "tools", "json_object_schema", "json_object"])
def test_structured_output_flag_forces_one_method(tmp_path: Path, method: str) -> None:
    with fakes.fake_openai_server() as srv:
        code, _, err = run(openai_args(srv.url, tmp_path / "out", "--structured-output", method))
        shapes = srv.shapes()
    assert code == 0, err
    assert shapes == [method] * CALLS
    assert f"structured output: {method} (forced)" in err


def test_a_forced_method_the_server_refuses_is_not_negotiated_away(tmp_path: Path) -> None:
    with fakes.fake_openai_server(refuse={"json_schema": R["json_schema_500"]}) as srv:
        code, stdout, err = run(
            openai_args(
                srv.url,
                tmp_path / "out",
                "--structured-output",
                "json_schema",
                "--reflexion",
                "pending",
            )
        )
        shapes = srv.shapes()
    assert code == 0, err
    assert shapes == ["json_schema"]  # refused once; no other method, no second request
    assert "(the forced method)" in unescape(report_of(stdout))


def test_concurrent_sections_probe_once(tmp_path: Path) -> None:
    """Sections running in threads wait for the first call's negotiation."""
    with fakes.fake_openai_server(refuse={"json_schema": R["json_schema_500"]}) as srv:
        with llm.open_backend("openai", base_url=srv.url) as backend:
            assert backend.negotiation is not None
            backend.negotiation.announce = None
            prep = api.prepare([str(MINI)], api.Options())
            from pipeline.draft import Section

            sec = Section(prep.evidence, prep.facts, backend, Cache(tmp_path / "c"))
            errors: list[BaseException] = []

            def ask(i: int) -> None:
                try:
                    sec.ask(SummaryAnswer, "summary", f"Summarize (variant {i}).")
                except BaseException as e:  # pragma: no cover - reported below
                    errors.append(e)

            threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        shapes = srv.shapes()
    assert not errors
    assert shapes.count("json_schema") == 1 and shapes.count("tools") == 4


# --- faults: what is retried, what fails fast --------------------------------------

UNAUTHORIZED = fakes.Fault(
    status=401,
    body={
        "error": {
            "message": "Incorrect API key provided: fake-tes**********4f1c.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    },
)


@pytest.mark.parametrize(
    ("fault", "status", "hint"),
    [
        (UNAUTHORIZED, 401, "OPENAI_API_KEY"),
        (
            fakes.Fault(status=403, body={"error": {"message": "Project has no access"}}),
            403,
            "OPENAI_API_KEY",
        ),
        (fakes.Fault(status=404, body={"error": {"message": "model not found"}}), 404, "model"),
    ],
    ids=["401", "403", "404"],
)
def test_unusable_endpoint_fails_fast_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: fakes.Fault, status: int, hint: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    out = tmp_path / "out"
    with fakes.fake_openai_server([fault]) as srv:
        code, _, err = run(openai_args(srv.url, out))
        sent = len(srv.requests)
        auth = srv.meta[0]["headers"].get("authorization")
    assert auth == f"Bearer {KEY}"
    assert code == 1, err
    assert sent == 1  # no retry, no other method: nothing else can work
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    assert srv.url in lines[0] and f"HTTP {status}" in lines[0] and hint in lines[0]
    assert fault.body["error"]["message"] in lines[0]  # the server's own words
    assert KEY not in err and "Traceback" not in err
    assert not out.exists() or not list(out.iterdir())


TOO_LONG = fakes.Fault(
    status=400,
    body={
        "error": {
            "message": "This model's maximum context length is 8192 tokens. However, you "
            "requested 9000 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        }
    },
)

# name -> (faults for the timeline's call, requests that call costs, note expected or "")
FAULTS = {
    "503-then-ok": ([fakes.Fault(status=503)], 2, ""),
    "502-then-ok": ([fakes.Fault(status=502)], 2, ""),
    "504-then-ok": ([fakes.Fault(status=504)], 2, ""),
    "408-then-ok": ([fakes.Fault(status=408)], 2, ""),
    "429-twice-then-ok": ([fakes.Fault(status=429)] * 2, 3, ""),
    "503-for-good": ([fakes.Fault(status=503)] * 4, 4, "after 4 attempts"),
    "500-twice": ([fakes.Fault(status=500)] * 2, 2, "after 2 attempts"),
    "400-context-length": ([TOO_LONG], 1, "HTTP 400"),
    "501": ([fakes.Fault(status=501)], 1, "HTTP 501"),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_only_what_can_heal_is_retried(tmp_path: Path, name: str) -> None:
    faults, cost, note = FAULTS[name]
    jpath = tmp_path / "r.json"
    # sections run at once: the faults go to the timeline's requests, whatever their order
    with fakes.fake_openai_server(by_schema={"TimelineAnswer": list(faults)}) as srv:
        code, stdout, err = run(
            openai_args(
                srv.url, tmp_path / "out", "--json-out", str(jpath), "--reflexion", "pending"
            )
        )
        sent = len(srv.requests)
    assert code == 0, err
    assert sent == CALLS - 1 + cost
    prov = {p["section"]: p["by"] for p in json.loads(jpath.read_text())["draft"]["provenance"]}
    text = report_of(stdout)
    if note:
        assert note in text.split("## Review Notes", 1)[1]
        assert prov["timeline"].startswith("offline fallback: ")
        assert "timeline by offline fallback" in footer_of(text)
    else:
        assert "## Review Notes" not in text
        assert prov["timeline"] == "openai:gpt-4o-mini"


# --- provenance ----------------------------------------------------------------------


def test_reviewer_edit_is_recorded(tmp_path: Path) -> None:
    def reviewer(d: Any) -> ReviewDecision:
        return ReviewDecision(status="approved", approver="me", adjustment="Check EXPLAIN.")

    with (
        fakes.fake_openai_server() as srv,
        llm.open_backend("openai", base_url=srv.url) as backend,
    ):
        assert backend.negotiation is not None
        backend.negotiation.announce = None
        report = api.draft_report(
            [str(MINI)], backend, options=api.Options(cache_dir=tmp_path), reviewer=reviewer
        )
    reflexion = [s for s in report.draft.provenance if s.section == "reflexion"]
    assert len(reflexion) == 1 and reflexion[0].edited_by_reviewer
    from pipeline.render import render

    foot = footer_of(render(report))
    assert (
        "reflexion by openai:gpt-4o-mini (structured output: json_schema), edited by reviewer"
        in foot
    )


def test_offline_backend_footer_says_drafted_offline(tmp_path: Path) -> None:
    code, stdout, err = run(
        ["--from-logs", str(MINI), "--llm", "offline", "--reflexion", "pending",
         "--out-dir", str(tmp_path / "out")]
    )  # fmt: skip
    assert code == 0, err
    assert footer_of(report_of(stdout)).startswith(
        "_Drafted offline by draft-incident 0.1.0 (prompts"
    )
    assert "no section was drafted" not in err  # nobody expected a model
    code, _, err = run(
        ["--from-logs", str(MINI), "--llm", "offline", "--require-model",
         "--reflexion", "pending", "--out-dir", str(tmp_path / "out2")]
    )  # fmt: skip
    assert code == 1 and "--require-model" in err


# --- Azure OpenAI --------------------------------------------------------------------


def azure_args(out: Path, *extra: str) -> list[str]:
    return [
        "--from-logs", str(MINI), "--llm", "azure", "--model", "incident-drafts",
        "--api-version", "2024-10-21", "--approve-reflexion", "--approver", "me",
        "--out-dir", str(out), *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("auth", ["key", "entra"])
def test_azure_speaks_deployment_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "not-for-azure")
    if auth == "key":
        monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    else:
        monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "entra-token-xyz")
    with fakes.fake_openai_server(refuse={"json_schema": R["json_schema_400"]}) as srv:
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", srv.root)
        code, stdout, err = run(azure_args(tmp_path / "out"))
        meta, shapes = srv.meta, srv.shapes()
    assert code == 0, err
    assert shapes == ["json_schema", *["tools"] * CALLS]
    for m in meta:
        assert (
            m["path"]
            == "/openai/deployments/incident-drafts/chat/completions?api-version=2024-10-21"
        )
        if auth == "key":
            assert m["headers"].get("api-key") == KEY
        else:
            assert m["headers"].get("authorization") == "Bearer entra-token-xyz"
            assert "api-key" not in m["headers"]
    assert "with azure:incident-drafts (structured output: tools)" in footer_of(report_of(stdout))


def test_azure_401_names_the_azure_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    with fakes.fake_openai_server([UNAUTHORIZED]) as srv:
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", srv.root)
        code, _, err = run(azure_args(tmp_path / "out"))
        sent = len(srv.requests)
    assert code == 1 and sent == 1
    assert "AZURE_OPENAI_API_KEY" in err and "HTTP 401" in err and KEY not in err
    assert "/openai/deployments/incident-drafts" in err


def test_azure_missing_configuration_is_one_line(tmp_path: Path) -> None:
    code, _, err = run(azure_args(tmp_path / "out"))
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 1 and len(lines) == 1
    assert "AZURE_OPENAI_ENDPOINT" in lines[0] and "AZURE_OPENAI_API_KEY" in lines[0]


# --- classification ------------------------------------------------------------------


def _status_error(status: int, body: Any) -> Exception:
    import httpx
    import openai

    req = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    resp = httpx.Response(status, json=body, request=req)
    return openai.APIStatusError("error", response=resp, body=body)


@pytest.mark.parametrize(
    ("status", "body", "refused", "heal", "fatal"),
    [
        (500, R["json_schema_500"].body, True, False, False),
        (500, {"error": {"message": "tool_choice is not supported"}}, True, False, False),
        (500, {"error": {"message": "CUDA error: out of memory"}}, False, True, False),
        (422, R["tools_422"].body, True, False, False),
        (400, R["json_schema_400"].body, True, False, False),
        (400, TOO_LONG.body, False, False, False),
        (503, {"error": {"message": "overloaded"}}, False, True, False),
        (503, {"error": {"message": "tools worker pool overloaded"}}, False, True, False),
        (429, {"error": {"message": "slow down"}}, False, True, False),
        (401, UNAUTHORIZED.body, False, False, True),
        (404, {"detail": "Not Found"}, False, False, True),
    ],
)
def test_what_an_http_error_means(
    status: int, body: Any, refused: bool, heal: bool, fatal: bool
) -> None:
    e = _status_error(status, body)
    assert structured.refused_shape(e) is refused
    assert structured.can_heal(e) is heal
    assert structured.fatal(e) is fatal
    assert structured.server_message(e)  # always something to show
