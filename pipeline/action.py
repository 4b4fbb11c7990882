"""The GitHub Action's one step: inputs from the environment -> ``draft-incident``.

Run by ``action.yml`` as ``python -I "$GITHUB_ACTION_PATH/pipeline/action.py"``:
a script path rather than ``-m`` (the caller's checkout, the working directory, may
hold a ``pipeline`` package of its own), isolated (``-I``: neither the working
directory nor this script's directory is put on ``sys.path``). Standard library only. Every value arrives through an environment
variable, never through the command line of a ``run:`` script:

- ``INPUT_LOGS``, ``INPUT_CHAT``: paths, folders or globs, one per line or
  separated by spaces (quote a path with spaces: ``"my logs/app.log"``);
  relative to ``GITHUB_WORKSPACE``.
- ``INPUT_ISSUE_NUMBER``: fetch that issue and its comments with ``gh api``
  (``GH_BIN`` overrides the ``gh`` executable). Without it, the issue of an
  ``issues`` event (``GITHUB_EVENT_PATH``) is used; its comments come from gh.
- ``INPUT_LLM``, ``INPUT_MODEL``, ``INPUT_BASE_URL``, ``INPUT_OUT_DIR``,
  ``INPUT_TITLE`` (default: the issue title), ``INPUT_FORCE``. The API key is
  ``OPENAI_API_KEY``, read by draft-incident itself.
- Live sources: ``INPUT_PROMETHEUS_URL``, ``INPUT_PROM_QUERIES`` (one a line),
  ``INPUT_ALERTMANAGER_URL``, ``INPUT_LOKI_URL`` + ``INPUT_LOGQL``,
  ``INPUT_ELASTICSEARCH_URL`` + ``_INDEX`` + ``_QUERY``, ``INPUT_SLACK_CHANNEL``,
  ``INPUT_PAGERDUTY_INCIDENT``, ``INPUT_SINCE``/``INPUT_UNTIL``. Their tokens stay
  in the environment (``SLACK_TOKEN``...), read by draft-incident itself.

Writes ``report-path``, ``json-path`` and ``issue-number`` to ``GITHUB_OUTPUT``.
Exit codes are draft-incident's; 2 also for bad inputs here.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BACKENDS = ("auto", "openai", "local", "offline")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ISSUE_KEYS = ("html_url", "number", "title", "state", "state_reason", "created_at", "closed_at")
_COMMENT_KEYS = ("html_url", "id", "created_at", "body")
SOURCE_INPUTS = (  # input -> flag; tokens are never flags
    ("INPUT_PROMETHEUS_URL", "--from-prometheus"),
    ("INPUT_ALERTMANAGER_URL", "--from-alertmanager"),
    ("INPUT_LOKI_URL", "--from-loki"),
    ("INPUT_LOGQL", "--logql"),
    ("INPUT_ELASTICSEARCH_URL", "--from-elasticsearch"),
    ("INPUT_ELASTICSEARCH_INDEX", "--index"),
    ("INPUT_ELASTICSEARCH_QUERY", "--query"),
    ("INPUT_SLACK_CHANNEL", "--from-slack"),
    ("INPUT_PAGERDUTY_INCIDENT", "--from-pagerduty"),
    ("INPUT_SINCE", "--since"),
    ("INPUT_UNTIL", "--until"),
)
_USERINFO = re.compile(r"(://)[^/@\s]+@")


class ActionError(Exception):
    """A bad input: reported as one ``::error::`` line, exit 2."""


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def split_paths(value: str) -> list[str]:
    """Newline- or space-separated paths; shell-style quotes keep spaces."""
    out: list[str] = []
    for line in value.splitlines():
        try:
            out.extend(shlex.split(line, comments=True))
        except ValueError as e:
            raise ActionError(f"cannot read path list line {line!r}: {e}") from None
    return out


def expand(patterns: list[str], workspace: Path, what: str) -> list[str]:
    """Globs expanded (``**`` recursive) relative to ``workspace``; plain paths must exist."""
    found: list[str] = []
    for pat in patterns:
        if glob.has_magic(pat):
            hits = sorted(glob.glob(pat, root_dir=workspace, recursive=True))
            if not hits:
                print(f"::warning::{what}: no file matches {pat}", file=sys.stderr)
            found.extend(h for h in hits if h not in found)
        elif (workspace / pat).exists():
            if pat not in found:
                found.append(pat)
        else:
            raise ActionError(f"{what}: {pat} does not exist (relative to {workspace})")
    return found


def load_json_stream(text: str) -> list[Any]:
    """``gh api --paginate`` prints one JSON array per page back to back: merge them."""
    dec = json.JSONDecoder()
    items: list[Any] = []
    pos = 0
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        value, pos = dec.raw_decode(text, pos)
        items.extend(value if isinstance(value, list) else [value])
    return items


def gh_api(path: str, *, paginate: bool = False) -> str:
    gh = env("GH_BIN", "gh")
    cmd = [gh, "api", "-H", "Accept: application/vnd.github+json"]
    cmd += ["--paginate", path] if paginate else [path]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ActionError(f"gh api {path}: {e}") from None
    if res.returncode != 0:
        raise ActionError(f"gh api {path} failed ({res.returncode}): {res.stderr.strip()[:500]}")
    return res.stdout


def slim_issue(issue: dict[str, Any]) -> dict[str, Any]:
    """The fields draft-incident reads, ``html_url`` first (format detection reads the head)."""
    out: dict[str, Any] = {k: issue.get(k) for k in _ISSUE_KEYS}
    out["user"] = {"login": (issue.get("user") or {}).get("login")}
    if isinstance(issue.get("closed_by"), dict):
        out["closed_by"] = {"login": issue["closed_by"].get("login")}
    out["labels"] = [
        lab.get("name") if isinstance(lab, dict) else lab for lab in issue.get("labels") or []
    ]
    out["body"] = issue.get("body") or ""
    return out


def slim_comment(c: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: c.get(k) for k in _COMMENT_KEYS}
    out["user"] = {"login": (c.get("user") or {}).get("login")}
    return out


def event_issue() -> dict[str, Any] | None:
    """The issue object of an ``issues`` (or ``issue_comment``) event, if that is the trigger."""
    path = env("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return None
    name = env("GITHUB_EVENT_NAME")
    if name and name not in ("issues", "issue_comment"):
        return None
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ActionError(f"GITHUB_EVENT_PATH {path}: unreadable ({e})") from None
    issue = payload.get("issue") if isinstance(payload, dict) else None
    if not isinstance(issue, dict) or "pull_request" in issue:
        return None
    return issue


def collect_issue(tmp: Path) -> tuple[int | None, str | None, list[str]]:
    """(issue number, issue title, chat files written) from the input or the event."""
    number_in = env("INPUT_ISSUE_NUMBER").lstrip("#")
    issue: dict[str, Any] | None = None
    if number_in:
        if not number_in.isdigit():
            raise ActionError(f"issue-number: {number_in!r} is not a number")
    else:
        issue = event_issue()
        if issue is None:
            return None, None, []
        number_in = str(issue.get("number") or "")
        if not number_in.isdigit():
            raise ActionError("the event's issue has no number")
    repo = env("GITHUB_REPOSITORY")
    if not _REPO.match(repo):
        raise ActionError(f"GITHUB_REPOSITORY {repo!r} is not owner/name")
    base = f"repos/{repo}/issues/{number_in}"
    if issue is None:
        try:
            issue = json.loads(gh_api(base))
        except ValueError as e:
            raise ActionError(f"gh api {base}: not JSON ({e})") from None
        if not isinstance(issue, dict):
            raise ActionError(f"gh api {base}: not an issue object")
    try:
        comments = load_json_stream(gh_api(f"{base}/comments?per_page=100", paginate=True))
    except ValueError as e:
        raise ActionError(f"gh api {base}/comments: not JSON ({e})") from None
    files = [tmp / f"issue-{number_in}.json"]
    files[0].write_text(json.dumps(slim_issue(issue), indent=1), encoding="utf-8")
    kept = [slim_comment(c) for c in comments if isinstance(c, dict) and c.get("created_at")]
    if kept:  # an empty list is not recognisable as GitHub data: leave it out
        files.append(tmp / f"issue-{number_in}-comments.json")
        files[1].write_text(json.dumps(kept, indent=1), encoding="utf-8")
    title = issue.get("title")
    return int(number_in), str(title) if title else None, [str(f) for f in files]


def set_output(name: str, value: str) -> None:
    if "\n" in value:
        raise ActionError(f"output {name} contains a newline")
    out = env("GITHUB_OUTPUT")
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write(f"{name}={value}\n")
    else:
        print(f"{name}={value}")


def build_command(
    logs: list[str], chats: list[str], *, title: str | None, out_dir: str, json_out: Path
) -> list[str]:
    llm = env("INPUT_LLM", "auto")
    if llm not in BACKENDS:
        raise ActionError(f"llm: {llm!r} is not one of {', '.join(BACKENDS)}")
    # The console script installed next to this interpreter, else the one on PATH.
    beside = Path(sys.executable).parent / "draft-incident"
    exe = str(beside) if beside.is_file() else shutil.which("draft-incident") or "draft-incident"
    cmd = [exe, "--llm", llm, "--out-dir", out_dir, "--reflexion", "pending"]
    cmd += ["--json-out", str(json_out)]
    for flag, value in (("--model", env("INPUT_MODEL")), ("--base-url", env("INPUT_BASE_URL"))):
        if value:
            cmd += [flag, value]
    if title:
        cmd += ["--title", title]
    if env("INPUT_FORCE").lower() in ("1", "true", "yes"):
        cmd.append("--force")
    for p in logs:
        cmd += ["--from-logs", p]
    for p in chats:
        cmd += ["--chat", p]
    return cmd + source_args()


def source_args() -> list[str]:
    out = []
    for var, flag in SOURCE_INPUTS:
        if value := env(var):
            out += [flag, value]
    for q in env("INPUT_PROM_QUERIES").splitlines():
        if q.strip():
            out += ["--prom-query", q.strip()]
    return out


def child_env() -> dict[str, str]:
    """The environment of draft-incident: an unset input is an unset variable (an empty
    ``OPENAI_BASE_URL`` would be taken as the endpoint), and ``base-url`` makes ``auto``
    choose the endpoint even without a key (a self-hosted server)."""
    out = {k: v for k, v in os.environ.items() if not (k.startswith("OPENAI_") and not v.strip())}
    if env("INPUT_BASE_URL"):
        out["OPENAI_BASE_URL"] = env("INPUT_BASE_URL")
    return out


def run() -> int:
    workspace = Path(env("GITHUB_WORKSPACE", os.getcwd())).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="draft-incident-", dir=env("RUNNER_TEMP") or None))
    logs = expand(split_paths(env("INPUT_LOGS")), workspace, "logs")
    chats = expand(split_paths(env("INPUT_CHAT")), workspace, "chat")
    number, issue_title, issue_files = collect_issue(tmp)
    chats += issue_files
    if not logs and not chats and not source_args():
        raise ActionError("nothing to draft from: give logs, chat, issue-number or a source")
    out_dir = env("INPUT_OUT_DIR", "docs/incidents")
    json_out = tmp / "report.json"
    cmd = build_command(
        logs, chats, title=env("INPUT_TITLE") or issue_title, out_dir=out_dir, json_out=json_out
    )
    shown_cmd = _USERINFO.sub(r"\1***@", shlex.join(cmd[1:]))  # user:password@ in a URL
    print("draft-incident " + shown_cmd, file=sys.stderr, flush=True)
    res = subprocess.run(
        cmd, cwd=workspace, env=child_env(), stdout=subprocess.PIPE, text=True, check=False
    )
    if res.returncode != 0:
        print(f"::error::draft-incident exited with {res.returncode}", file=sys.stderr)
        return res.returncode
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    if not lines:
        raise ActionError("draft-incident printed no report path")
    report = Path(lines[-1])
    report_rel = (workspace / report).resolve()
    inside = report_rel.is_relative_to(workspace)
    shown = report_rel.relative_to(workspace).as_posix() if inside else str(report_rel)
    set_output("report-path", shown)
    set_output("json-path", str(json_out))
    set_output("issue-number", str(number) if number is not None else "")
    print(f"report: {shown} (Reflexion pending approval)", file=sys.stderr)
    return 0


def main() -> None:
    try:
        sys.exit(run())
    except ActionError as e:
        print(f"::error::{e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
