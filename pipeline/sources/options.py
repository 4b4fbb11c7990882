"""The command-line options of the sources, as one decorator for ``cli.main``
(so ``cli.py`` only applies it and passes the spec on).

No option takes a token: tokens are read from the environment or a
``*_TOKEN_FILE`` by each source (see the README's "Sources")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from . import SourceSpec

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    click.option(
        "--from-prometheus",
        "prometheus",
        metavar="URL",
        help="Prometheus API: ALERTS over the window.",
    ),
    click.option(
        "--prom-query",
        "prom_queries",
        multiple=True,
        metavar="EXPR",
        help="PromQL summarised as evidence (peak; with 'EXPR ; > 0.05' the first crossing).",
    ),
    click.option(
        "--from-alertmanager",
        "alertmanager",
        metavar="URL",
        help="Alertmanager API v2: alerts and silences.",
    ),
    click.option("--from-loki", "loki", metavar="URL", help="Loki: query_range over the window."),
    click.option("--logql", metavar="QUERY", help="LogQL log query for --from-loki."),
    click.option(
        "--from-elasticsearch",
        "elasticsearch",
        metavar="URL",
        help="Elasticsearch or OpenSearch: PIT + search_after over the window.",
    ),
    click.option(
        "--index", "es_index", metavar="PATTERN", help="Index pattern for --from-elasticsearch."
    ),
    click.option("--query", "es_query", metavar="Q", help="query_string for --from-elasticsearch."),
    click.option(
        "--from-slack", "slack", metavar="CHANNEL", help="Slack channel id or name (SLACK_TOKEN)."
    ),
    click.option(
        "--from-pagerduty",
        "pagerduty",
        metavar="INCIDENT_ID",
        help="PagerDuty incident log entries (PAGERDUTY_TOKEN).",
    ),
    click.option(
        "--source-timeout",
        type=click.FloatRange(1, 600),
        default=30.0,
        show_default=True,
        help="Seconds per request to a source (retries come on top).",
    ),
]
_NAMES = (
    *("prometheus", "prom_queries", "alertmanager", "loki", "logql", "elasticsearch"),
    *("es_index", "es_query", "slack", "pagerduty", "source_timeout"),
)


def source_options(f: F) -> F:
    for opt in reversed(_OPTIONS):
        f = opt(f)
    return f


def spec_from(o: dict[str, Any]) -> SourceSpec | None:
    """The spec from ``main``'s keyword arguments (popped, so the rest is unchanged),
    or None when no source is named. Pairing mistakes are usage errors (ValueError)."""
    v = {k: o.pop(k) for k in _NAMES}
    spec = SourceSpec(
        prometheus=v["prometheus"],
        prom_queries=list(v["prom_queries"]),
        alertmanager=v["alertmanager"],
        loki=v["loki"],
        logql=v["logql"],
        elasticsearch=v["elasticsearch"],
        es_index=v["es_index"],
        es_query=v["es_query"],
        slack=v["slack"],
        pagerduty=v["pagerduty"],
        timeout=v["source_timeout"],
    )
    pairs = [
        (spec.prom_queries and not spec.prometheus, "--prom-query needs --from-prometheus URL"),
        (spec.logql and not spec.loki, "--logql needs --from-loki URL"),
        (spec.loki and not spec.logql, "--from-loki needs --logql QUERY"),
        (
            (spec.es_index or spec.es_query) and not spec.elasticsearch,
            "--index/--query need --from-elasticsearch URL",
        ),
        (spec.elasticsearch and not spec.es_index, "--from-elasticsearch needs --index PATTERN"),
    ]
    for bad, message in pairs:
        if bad:
            raise ValueError(message)
    for url in (spec.prometheus, spec.alertmanager, spec.loki, spec.elasticsearch):
        if url and not url.startswith(("http://", "https://")):
            raise ValueError(f"{url}: a source URL starts with http:// or https://")
    return spec if spec.any() else None
