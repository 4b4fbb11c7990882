"""``draft-incident``: a thin click layer over ``pipeline.api``.

Exit codes: 0 written; 1 runtime failure (model unreachable after retries);
2 bad usage or unreadable input (one line naming the file, no traceback);
3 the Reflexion lesson was rejected, or no decision could be asked for.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from . import api, llm, provenance, review
from .formats import load_all
from .ingest import InputError
from .models import Draft, Report, ReviewDecision
from .sources.options import source_options, spec_from
from .timeparse import TimeError, parse_ts, zone
from .write import WriteError

err = Console(stderr=True, highlight=False)


def fail(code: int, message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    sys.exit(code)


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(2, f"--date {value!r}: expected YYYY-MM-DD")


def _instant(flag: str, value: str | None, tz: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_ts(value, tz=tz)[0]
    except TimeError as e:
        fail(2, f"{flag}: {e}")


class _Sigterm(BaseException):
    """A BaseException like KeyboardInterrupt, so no ``except Exception`` on the way
    (the re-ask loop in llm.structured_call) mistakes it for a bad answer."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Sigterm()


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--from-logs",
    "logs",
    multiple=True,
    help="Alert, log or chat file, folder, .zip, or - for stdin.",
)
@click.option(
    "--chat", "chats", multiple=True, help="Chat export or transcript (same as --from-logs)."
)
@click.option("--as", "force_format", help="Force a format instead of auto-detection.")
@click.option("--title", help="Report title (default: drafted).")
@click.option("--date", "anchor", help="YYYY-MM-DD anchor for time-only transcripts.")
@click.option("--tz", default="UTC", show_default=True, help="IANA zone of naive timestamps.")
@click.option("--since", help="Ignore events before this time.")
@click.option("--until", help="Ignore events after this time.")
@click.option(
    "--window/--no-window",
    "auto_window",
    default=True,
    show_default=True,
    help="Without --since/--until, keep log lines from 2 h before the first alert "
    "to 1 h after the last resolution (alerts and chat are always kept).",
)
@click.option("--meeting-start", help="Start time of a WebVTT meeting recording.")
@click.option("--strict", is_flag=True, help="Stop at the first malformed record (exit 2).")
@click.option(
    "--llm",
    "backend",
    type=click.Choice(["auto", "openai", "azure", "local", "offline"]),
    default="auto",
    show_default=True,
)
@click.option("--model", help="Model name for the endpoint (the deployment for --llm azure).")
@click.option("--base-url", help="OpenAI-compatible endpoint URL (the resource URL for azure).")
@click.option("--api-version", help="Azure OpenAI api-version (default: OPENAI_API_VERSION).")
@click.option(
    "--structured-output",
    type=click.Choice(["auto", "json_schema", "tools", "json_object_schema", "json_object"]),
    default="auto",
    show_default=True,
    help="How to ask the endpoint for structured answers (auto: negotiate, remembered per endpoint).",
)
@click.option(
    "--require-model", is_flag=True, help="Exit 1 when no section was drafted by the model."
)
@click.option("--model-path", type=click.Path(dir_okay=False), help="GGUF file for --llm local.")
@click.option("--budget-tokens", type=click.IntRange(200, 200_000), help="Evidence pack size.")
@click.option(
    "--redact",
    default="secrets,emails,phones",
    show_default=True,
    help="What to mask (secrets always).",
)
@click.option("--show-redactions", is_flag=True, help="List what was redacted (masked) on stderr.")
@click.option(
    "--out-dir", default="docs/incidents", show_default=True, type=click.Path(file_okay=False)
)
@click.option("--force", is_flag=True, help="Overwrite an existing report.")
@click.option("--dry-run", is_flag=True, help="Print the report; write nothing.")
@click.option(
    "--json-out", type=click.Path(dir_okay=False), help="Also write the full report as JSON."
)
@click.option("--dump-events", is_flag=True, help="Print normalized events as JSON lines and exit.")
@click.option("--approve-reflexion", is_flag=True, help="Approve the lesson (with --approver).")
@click.option(
    "--reject-reflexion", is_flag=True, help="Reject the lesson: nothing is written (exit 3)."
)
@click.option(
    "--reflexion",
    "reflexion_mode",
    type=click.Choice(["pending"]),
    help="Write with the lesson pending approval.",
)
@click.option("--approver", help="Name recorded with the approval.")
@click.option(
    "--review",
    "review_ui",
    type=click.Choice(["terminal", "web"]),
    help="Review the draft in the terminal (the default on a TTY) or on a local page.",
)
@click.option("--no-cache", is_flag=True, help="Do not reuse cached model answers.")
@click.option(
    "--memory-dir",
    type=click.Path(file_okay=False),
    help="Past reports to compare with (default: --out-dir).",
)
@source_options
@click.version_option(package_name="draft-incident")
@click.pass_context
def main(ctx: click.Context, **o: Any) -> None:
    """Draft an incident post-mortem from alerts, logs and chat."""
    if ctx.invoked_subcommand is not None:
        return
    paths = [*o["logs"], *o["chats"]]
    try:
        sources = spec_from(o)
    except ValueError as e:
        fail(2, str(e))
    if not paths and sources is None:
        click.echo(ctx.get_help())
        fail(2, "give at least one --from-logs or --chat PATH, or a --from-<source>")
    try:
        tz = zone(o["tz"])
    except TimeError as e:
        fail(2, f"--tz: {e}")
    if o["force_format"] and o["force_format"] not in load_all():
        fail(
            2, f"--as {o['force_format']}: unknown format (known: {', '.join(sorted(load_all()))})"
        )
    flags = sum(
        bool(x) for x in (o["approve_reflexion"], o["reject_reflexion"], o["reflexion_mode"])
    )
    # --approve-reflexion with --reflexion pending: approve, or pending if nobody wrote the lesson
    fallback = bool(o["approve_reflexion"] and o["reflexion_mode"])
    if flags - fallback > 1 or (flags and o["review_ui"]):
        fail(
            2,
            "choose one of --review, --approve-reflexion, --reject-reflexion, --reflexion pending",
        )
    if o["approve_reflexion"] and not o["approver"]:
        fail(2, "--approve-reflexion needs --approver NAME")
    out_dir = Path(o["out_dir"])
    opts = api.Options(
        title=o["title"],
        tz=tz,
        anchor_date=_date(o["anchor"]),
        meeting_start=_instant("--meeting-start", o["meeting_start"], tz),
        since=_instant("--since", o["since"], tz),
        until=_instant("--until", o["until"], tz),
        auto_window=o["auto_window"],
        force_format=o["force_format"],
        strict=o["strict"],
        budget_tokens=o["budget_tokens"],
        redact=o["redact"],
        use_cache=not o["no_cache"],
        memory_dir=Path(o["memory_dir"]) if o["memory_dir"] else out_dir,
        sources=sources,
        require_model=o["require_model"],
    )
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if o["dump_events"]:
            _dump(paths, opts)
            return
        _run(paths, opts, o, out_dir)
    except InputError as e:
        fail(2, str(e))
    except ValueError as e:  # bad --redact spec and similar usage errors
        fail(2, str(e))
    except WriteError as e:
        fail(2, str(e))
    except review.EditError as e:  # the reviewer left without a valid decision
        fail(3, str(e))
    except click.Abort:  # end of input at a review prompt
        fail(3, "the review ended without a decision; nothing written")
    except review.Rejected:
        fail(
            3,
            "the Reflexion lesson was rejected; no report written (cached drafts kept for a rerun)",
        )
    except review.ReviewNeeded as e:
        fail(3, str(e))
    except llm.LLMError as e:
        fail(1, f"{e} (cached sections are kept; rerun to resume)")
    except (KeyboardInterrupt, _Sigterm):
        fail(130, "interrupted; nothing written, cached answers kept for a rerun")
    except Exception as e:  # a bug of ours: one line, details only when asked
        if os.environ.get("DRAFT_INCIDENT_DEBUG"):
            raise
        fail(1, f"internal error: {type(e).__name__}: {e} (set DRAFT_INCIDENT_DEBUG=1 for details)")


def _dump(paths: list[str], opts: api.Options) -> None:
    loaded = api.load(paths, opts)
    for w in loaded.warnings:
        err.print(f"warning: {w}", markup=False, soft_wrap=True)
    for e in loaded.norm.events:
        sys.stdout.write(json.dumps(e.model_dump(mode="json"), ensure_ascii=False) + "\n")


def _mode(o: dict[str, Any]) -> review.ReviewMode:
    if o["approve_reflexion"]:
        return "approve"
    if o["reject_reflexion"]:
        return "reject"
    if o["reflexion_mode"] == "pending":
        return "pending"
    if o["dry_run"]:
        return "pending"
    if o["review_ui"] == "web":
        return "web"
    if o["review_ui"] == "terminal" or sys.stdin.isatty():
        return "interactive"
    return "none"


def _reviewer(o: dict[str, Any], mode: review.ReviewMode) -> api.Reviewer:
    def reviewer(d: Draft) -> ReviewDecision:
        if mode in ("interactive", "web"):  # asked once drafting is over and the spinner gone
            return ReviewDecision(status="pending")
        decision = review.decide_by_flag(
            d, mode, approver=o["approver"], pending_fallback=bool(o["reflexion_mode"])
        )
        if decision.status == "rejected":
            raise review.Rejected()
        return decision

    return reviewer


def _review_live(
    report: Report, prep: api.Prepared, mode: str, o: dict[str, Any], write: Any
) -> tuple[Path, Report]:
    """The human review of a fresh draft; the session writes the file as below."""
    from .cache import Cache

    session = review.ReviewSession(
        report=report, known=prep.evidence.by_id(), write=write, events=prep.events
    )
    review.run(session, web=mode == "web", console=err, approver=o["approver"], cache=Cache(None))
    if session.outcome is None or session.outcome.status == "rejected" or not session.written:
        raise review.Rejected()
    return session.written, session.report


def _run(paths: list[str], opts: api.Options, o: dict[str, Any], out_dir: Path) -> None:
    mode = _mode(o)
    with llm.open_backend(
        o["backend"],
        model=o["model"],
        base_url=o["base_url"],
        model_path=o["model_path"],
        structured_output=o["structured_output"],
        api_version=o["api_version"],
    ) as backend:
        prep = api.prepare(paths, opts, budget_tokens=backend.profile.budget_tokens)
        for w in prep.warnings:
            err.print(f"warning: {w}", markup=False, soft_wrap=True)
        if prep.redactions:
            counts = ", ".join(f"{k}: {v}" for k, v in sorted(prep.redactions.items()))
            err.print(f"redacted {sum(prep.redactions.values())} items ({counts})", markup=False)
        if o["show_redactions"]:
            for kind, masked, where in prep.redaction_listing:
                err.print(f"  {where}: {kind} {masked}", markup=False)
        err.print(
            f"{len(prep.events)} events -> {len(prep.evidence.items)} evidence items "
            f"({prep.evidence.tokens} tokens); drafting with {backend.name}",
            markup=False,
        )
        started = datetime.now(UTC)
        with err.status("drafting...") as status:

            def progress(section: str) -> None:
                u = backend.usage
                secs = (datetime.now(UTC) - started).total_seconds()
                rate = u.output_tokens / u.seconds if u.seconds else 0.0
                status.update(f"drafting {section} ({secs:.0f} s, {rate:.1f} tok/s)")

            reviewer = _reviewer(o, mode)
            report = api.draft_report(
                paths, backend, options=opts, reviewer=reviewer, progress=progress, prepared=prep
            )
        u = backend.usage
        err.print(
            f"model calls: {u.calls} ({u.cached} cached), tokens in/out: "
            f"{u.input_tokens}/{u.output_tokens}",
            markup=False,
        )
        if not backend.offline and provenance.drafted_offline(report.draft):
            err.print(
                f"warning: no section was drafted by {backend.name}; the report is drafted "
                "offline (see its Review Notes; --require-model makes this an error)",
                markup=False,
            )
    if o["dry_run"]:
        from .render import render

        click.echo(render(report, file_name=api.report_name(report)))
        return

    def write(r: Any) -> Path:
        return api.write_report(
            r, out_dir, force=o["force"], json_out=Path(o["json_out"]) if o["json_out"] else None
        )

    if mode in ("interactive", "web"):
        if not o["force"] and (out_dir / api.report_name(report)).exists():
            fail(2, f"{out_dir / api.report_name(report)} exists; pass --force to overwrite")
        target, report = _review_live(report, prep, mode, o, write)
    else:
        target = write(report)
    err.print(f"wrote {target} (Reflexion: {report.review.status})", markup=False)
    click.echo(str(target))


@main.command()
@click.argument("report", type=click.Path(dir_okay=False))
@click.option("--approver", required=True, help="Login recorded with the decision.")
@click.option("--reject", is_flag=True, help="Reject instead of approving.")
def approve(report: str, approver: str, reject: bool) -> None:
    """Approve (or reject) the Reflexion lesson of a written report."""
    from .review import ApproveError, set_status

    try:
        changed = set_status(Path(report), approver=approver, reject=reject)
    except ApproveError as e:
        fail(2, str(e))
    state = "rejected" if reject else "approved"
    err.print(f"{report}: {state}" + ("" if changed else " (already)"), markup=False)


@main.command("review")
@click.argument("report", type=click.Path(dir_okay=False))
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    help="The report's --json-out file: adds the facts and full evidence to the page.",
)
@click.option("--terminal", is_flag=True, help="Review in the terminal instead of the page.")
@click.option("--approver", help="Name recorded with the decision (else asked).")
@click.option("--no-browser", is_flag=True, help="Print the page's address only.")
def review_cmd(
    report: str, json_path: str | None, terminal: bool, approver: str | None, no_browser: bool
) -> None:
    """Review a written (e.g. pending) report: on a local page, or in the terminal."""
    from .review.load import LoadError, session

    try:
        s = session(Path(report), json_path=Path(json_path) if json_path else None)
    except LoadError as e:
        fail(2, str(e))
    try:
        review.run(s, web=not terminal, console=err, approver=approver, open_browser=not no_browser)
    except (KeyboardInterrupt, _Sigterm):
        fail(130, f"interrupted; {report} unchanged")
    except click.Abort:
        fail(3, f"the review ended without a decision; {report} unchanged")
    except (WriteError, review.ApproveError) as e:
        fail(2, str(e))
    if s.outcome is None:
        fail(3, f"no decision; {report} unchanged")
    err.print(f"{report}: {s.outcome.status}", markup=False, soft_wrap=True)
