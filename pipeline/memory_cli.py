"""``incident-memory``: recall lessons from past incidents (CLI and MCP server).

    incident-memory recall "SELECT sum(total) FROM orders" [--dir docs/incidents] [--k 3] [--json]
    incident-memory refresh [--dir docs/incidents]
    incident-memory serve [--dir docs/incidents]      # MCP over stdio

Exit code is 0 when nothing matches: "no lesson" is an answer, not an error.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from pipeline.memory import MemoryIndex, Recall

DEFAULT_DIR = "docs/incidents"
MAX_K = 20
REFRESH_EVERY_S = 2.0  # the server re-scans at most this often: stat() of 10k files ~50 ms

_dir_option = click.option(
    "--dir",
    "memory_dir",
    default=DEFAULT_DIR,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of incident reports.",
)
_db_option = click.option(
    "--db",
    "db_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Index file (default: one per dir under $DRAFT_INCIDENT_CACHE or ~/.cache).",
)


@click.group("incident-memory")
def cli() -> None:
    """Recall approved lessons from past incident reports."""


def _plain(hits: list[Recall], memory_dir: Path) -> None:
    for i, h in enumerate(hits, 1):
        click.echo(f"{i}. [{h.kind}] {h.date} {h.severity} {h.title}  (score {h.score:.2f})")
        click.echo(f"   file: {memory_dir / h.path}")
        if h.lesson:
            click.echo(f"   lesson: {h.lesson}")
        if h.adjustment:
            click.echo(f"   adjustment: {h.adjustment}")
        for note in h.open_action_notes():
            click.echo(f"   open: {note}")


def _table(hits: list[Recall], memory_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=True)
    for col in ("#", "date", "incident", "lesson / adjustment", "open actions"):
        table.add_column(col, overflow="fold")
    for i, h in enumerate(hits, 1):
        lesson = "\n".join(x for x in (h.lesson, h.adjustment and f"→ {h.adjustment}") if x)
        table.add_row(
            str(i),
            h.date,
            f"{h.title}\n[dim]{h.severity} · {memory_dir / h.path}[/dim]",
            lesson or f"[dim]({h.kind}: no approved lesson)[/dim]",
            "\n".join(h.open_actions) or "-",
        )
    Console().print(table)


@cli.command()
@click.argument("query")
@_dir_option
@_db_option
@click.option("--k", default=3, show_default=True, type=click.IntRange(1, MAX_K))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option(
    "--include-incidents",
    is_flag=True,
    help="Also return matching reports that have no approved lesson.",
)
def recall(
    query: str,
    memory_dir: Path,
    db_path: Path | None,
    k: int,
    as_json: bool,
    include_incidents: bool,
) -> None:
    """Lessons from past incidents relevant to QUERY (a question, symptom or command)."""
    with MemoryIndex(memory_dir, db_path=db_path) as idx:
        idx.refresh()
        hits = idx.recall(query, k=k, include_incidents=include_incidents)
    if as_json:
        click.echo(json.dumps([h.model_dump() for h in hits], indent=2))
    elif not hits:
        click.echo("no matching lessons")
    elif sys.stdout.isatty():
        _table(hits, memory_dir)
    else:  # piped or read by an agent: plain lines are easier to consume than a table
        _plain(hits, memory_dir)


@cli.command()
@_dir_option
@_db_option
def refresh(memory_dir: Path, db_path: Path | None) -> None:
    """Update the index from the report files (only changed files are re-parsed)."""
    with MemoryIndex(memory_dir, db_path=db_path) as idx:
        t = time.perf_counter()
        s = idx.refresh()
        ms = (time.perf_counter() - t) * 1000
        n = idx.stats()
    click.echo(
        f"added {s.added}, updated {s.updated}, removed {s.removed}, unchanged {s.unchanged}"
        f" in {ms:.0f} ms; {n['incidents']} incidents, {n['lessons']} approved lessons"
        f" ({idx.db_path})"
    )


def build_server(memory_dir: Path, db_path: Path | None = None) -> Any:
    """The MCP server exposing ``recall_lessons`` and ``get_incident`` for one memory dir."""
    from mcp.server.mcpserver import MCPServer  # mcp>=2: FastMCP was renamed MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    idx = MemoryIndex(memory_dir, db_path=db_path)
    last = [0.0]

    def fresh() -> MemoryIndex:
        # Reports land while the server runs (a new post-mortem is approved): re-scan,
        # but not on every call of a chatty agent.
        if time.monotonic() - last[0] > REFRESH_EVERY_S:
            idx.refresh()
            last[0] = time.monotonic()
        return idx

    server: Any = MCPServer(
        "incident-memory",
        log_level="WARNING",  # stderr is the operator's console: refusals are not news
        instructions=(
            "Lessons learned from past incidents. Before a risky action (a SQL statement on a"
            " production database, kubectl, terraform, a config push), call recall_lessons with"
            " the command or a description of it, and follow any adjustment it returns."
        ),
    )

    @server.tool()
    def recall_lessons(query: str, k: int = 3) -> list[dict[str, Any]]:
        """Approved lessons from past incidents relevant to a question, symptom or command.

        Each hit has the incident title, date, severity, the lesson, the adjustment to make,
        still-open corrective actions, and a path for get_incident.
        """
        k = max(1, min(int(k), MAX_K))
        return [h.model_dump() for h in fresh().recall(query, k=k)]

    @server.tool()
    def get_incident(path: str) -> dict[str, Any]:
        """The full parsed report (timeline, root cause, actions) for a path from recall_lessons.

        Paths are relative to the memory directory; anything outside it is refused.
        """
        try:
            return fresh().get_incident(path)
        except (ValueError, OSError) as exc:
            # An expected refusal (outside the dir, missing, not a report): tell the model
            # why instead of the SDK's generic "Error executing tool" and a server traceback.
            raise ToolError(str(exc)) from exc

    return server


@cli.command()
@_dir_option
@_db_option
def serve(memory_dir: Path, db_path: Path | None) -> None:
    """Run an MCP server over stdio with tools recall_lessons and get_incident."""
    build_server(memory_dir, db_path).run("stdio")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
