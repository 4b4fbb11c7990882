"""PagerDuty REST API: ``GET /incidents/{id}/log_entries``, paged by
offset/limit while ``more`` is true, built by the ``pagerduty_log_entries``
parser's own builder. ``PAGERDUTY_TOKEN`` (or ``_FILE``) is a REST API key;
``PAGERDUTY_API_URL`` points elsewhere (EU service region, tests)."""

from __future__ import annotations

import os
import re

from ..formats import ParseContext
from ..formats._alertutil import guarded
from ..formats.alerts import _pd_log_entry
from ..models import Event
from . import Fetcher
from ._http import Http, SourceError, expect, token

SOURCE = "pagerduty_log_entries"
API = "https://api.pagerduty.com"
PAGE = 100  # the API's maximum
MAX_PAGES = 200  # 20,000 entries: no incident has more; a loop guard, said if hit
_ID = re.compile(r"^[A-Z0-9]{2,32}$", re.I)


def base_url() -> str:
    return os.environ.get("PAGERDUTY_API_URL", API).rstrip("/")


def display(incident: str) -> str:
    return f"{base_url()}/incidents/{incident}"


def fetcher(incident: str, timeout: float) -> Fetcher:
    def fetch(ctx: ParseContext, out: list[Event]) -> None:
        name = f"pagerduty incident {incident}"
        if not _ID.match(incident):
            raise SourceError(f"{name}: not a PagerDuty incident id (letters and digits)")
        tok = token("PAGERDUTY_TOKEN", required=True, what=name)
        headers = {
            "Authorization": f"Token token={tok}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        }
        with Http(name, base_url(), headers=headers, timeout=timeout) as http:
            offset, n = 0, 0
            for _ in range(MAX_PAGES):
                doc = http.get(
                    f"/incidents/{incident}/log_entries",
                    {"offset": offset, "limit": PAGE, "time_zone": "UTC", "is_overview": "false"},
                )
                entries = doc.get("log_entries") if isinstance(doc, dict) else None
                expect(isinstance(entries, list), name, "no log_entries list")
                for entry in entries or []:
                    n += 1
                    out.extend(guarded(ctx, n, _pd_log_entry, ctx, entry, n, SOURCE))
                if not doc.get("more") or not entries:
                    return
                offset += len(entries or [])
            ctx.warn(f"stopped after {MAX_PAGES} pages ({n} entries)")

    return fetch
