"""Deterministic synthetic mixed log (JSON lines + syslog + access log) with an
incident buried in it, for the bulk-condense benchmark and tests.

    .venv/bin/python bench/gen_logs.py OUT.log --lines 1000000 [--seed 7]

The incident (times in UTC, independent of the size): a deploy of checkout
v2.14.0, then a burst of ``ERROR ... connection pool exhausted`` JSON lines, a
burst of 503s in the access log (rate spike) and one ``OOMKilled`` line.
Background lines carry high-cardinality values (ids, IPs, latencies) so they
collapse into a few dozen templates, as real logs do.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 3, 14, 9, 0, 0, tzinfo=UTC)
SPAN = timedelta(hours=4)
DEPLOY_AT = START + timedelta(hours=2, minutes=24, seconds=5)
POOL_AT = DEPLOY_AT + timedelta(minutes=3)
POOL_SPAN = timedelta(minutes=10)
SPIKE_AT = POOL_AT + timedelta(minutes=2)
SPIKE_SPAN = timedelta(minutes=5)
OOM_AT = POOL_AT + timedelta(minutes=6, seconds=30)

DEPLOY_MARK = "deploy checkout v2.14.0"
POOL_MARK = "connection pool exhausted"
OOM_MARK = "OOMKilled"
SPIKE_MARK = "POST /api/checkout -> 503"

_SERVICES = ("checkout", "cart", "search", "auth", "billing", "inventory")
_USERS = ("alice", "bob", "carol", "dave", "erin")
_TERMS = tuple(
    f"{a}+{b}"
    for a in ("red", "blue", "tall", "cheap", "new")
    for b in ("shoes", "lamp", "desk", "phone", "bag", "coat")
)


@dataclass
class Truth:
    """What a reader of the evidence pack must be able to find."""

    lines: int
    deploy_line: int
    deploy_ts: str
    pool_count: int
    pool_first: str
    pool_last: str
    spike_count: int
    oom_line: int
    oom_ts: str


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _z(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sys(ts: datetime) -> str:
    return f"{ts:%b} {ts.day:2d} {ts:%H:%M:%S}"


def _clf(ts: datetime) -> str:
    return ts.strftime("%d/%b/%Y:%H:%M:%S +0000")


def _ip(r: random.Random) -> str:
    return f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"


def _hex(r: random.Random, n: int = 16) -> str:
    return f"{r.getrandbits(4 * n):0{n}x}"


def _json(ts: datetime, level: str, service: str, msg: str, **extra: object) -> str:
    rec: dict[str, object] = {"ts": _iso(ts), "level": level, "service": service, "msg": msg}
    rec.update(extra)
    return json.dumps(rec, separators=(",", ":"))


def background(r: random.Random, ts: datetime) -> str:
    """One ordinary line; the mix is about 45% JSON, 25% syslog, 30% access."""
    k = r.randrange(100)
    svc = _SERVICES[k % len(_SERVICES)]
    if k < 45:
        if k < 15:
            return _json(
                ts,
                "info",
                svc,
                f"request completed in {r.randrange(2, 900)} ms",
                trace_id=_hex(r),
                status=200,
            )
        if k < 25:
            return _json(ts, "info", svc, f"user u{r.randrange(100000)} logged in", ip=_ip(r))
        if k < 32:
            return _json(
                ts, "debug", svc, f"cache hit ratio {r.random():.3f}", keys=r.randrange(10**6)
            )
        if k < 37:
            return _json(
                ts,
                "info",
                svc,
                f"job {r.randrange(10**6)} finished",
                duration_ms=r.randrange(50000),
            )
        if k < 40:
            return _json(
                ts, "warning", svc, f"slow query took {r.randrange(500, 5000)} ms", table="orders"
            )
        if k < 43:  # another timestamp key and a non-UTC offset, as ECS writes them
            local = (ts + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000+01:00")
            return json.dumps(
                {
                    "@timestamp": local,
                    "log.level": "info",
                    "message": f"gc pause {r.randrange(1, 80)} ms",
                    "service.name": svc,
                },
                separators=(",", ":"),
            )
        return _json(ts, "info", svc, f"user {r.choice(_USERS)} updated settings")
    if k < 70:
        host = f"web-{k % 4}"
        if k < 52:
            return (
                f"{_sys(ts)} {host} sshd[{r.randrange(1000, 65000)}]: Accepted publickey "
                f"for deploy from {_ip(r)} port {r.randrange(1024, 65535)} ssh2"
            )
        if k < 58:
            return f"{_sys(ts)} {host} CRON[{r.randrange(1000, 65000)}]: (root) CMD (run-parts /etc/cron.hourly)"
        if k < 64:
            return (
                f"{_sys(ts)} {host} systemd[1]: Started Session {r.randrange(10**5)} "
                "of user ubuntu."
            )
        if k < 67:
            return f"{_sys(ts)} {host} kernel: [{r.random() * 1e5:.6f}] eth0: link up"
        return (
            f"{_sys(ts)} {host} nginx[{r.randrange(1000, 9000)}]: upstream response time "
            f"{r.random():.3f}s for {_hex(r, 8)}"
        )
    path, status = r.choice(
        (
            (f"/api/items/{r.randrange(10**5)}", 200),
            ("/health", 200),
            ("/api/cart", 201),
            (f"/api/search?q={r.choice(_TERMS)}", 200),
            ("/favicon.ico", 404),
            (f"/static/app.{_hex(r, 8)}.js", 304),
        )
    )
    method = "POST" if path == "/api/cart" else "GET"
    return (
        f'{_ip(r)} - - [{_clf(ts)}] "{method} {path} HTTP/1.1" {status} '
        f'{r.randrange(100, 50000)} "-" "Mozilla/5.0 (X11; Linux x86_64)"'
    )


def generate(path: Path, lines: int, seed: int = 7) -> Truth:
    """Write ``lines`` lines to ``path``; return where the incident is."""
    r = random.Random(seed)
    pool_n = max(20, lines // 500)
    spike_n = max(40, lines // 200)
    # incident lines, each with its time; the rest is background at a steady rate
    special: list[tuple[datetime, str, str]] = [
        (
            DEPLOY_AT,
            "deploy",
            f"{_sys(DEPLOY_AT)} ci-1 deployd[4242]: {DEPLOY_MARK} started by pipeline 8812",
        ),
        (
            OOM_AT,
            "oom",
            json.dumps(
                {
                    "time": _z(OOM_AT),
                    "level": "warning",
                    "source": "kubelet",
                    "msg": f"container checkout-7d9f {OOM_MARK} (limit 512Mi, usage 530Mi)",
                },
                separators=(",", ":"),
            ),
        ),
    ]
    for i in range(pool_n):
        ts = POOL_AT + POOL_SPAN * i / pool_n
        special.append(
            (
                ts,
                "pool",
                _json(
                    ts,
                    "error",
                    "checkout",
                    f"ERROR db: {POOL_MARK} (active=50, idle=0, waiting={r.randrange(20, 400)})",
                    pool="pg-main",
                ),
            )
        )
    for i in range(spike_n):
        ts = SPIKE_AT + SPIKE_SPAN * i / spike_n
        special.append(
            (
                ts,
                "spike",
                f'{_ip(r)} - - [{_clf(ts)}] "POST /api/checkout HTTP/1.1" '
                f'503 {r.randrange(50, 200)} "-" "okhttp/4.9.3"',
            )
        )
    special.sort(key=lambda s: s[0])
    n_bg = lines - len(special)
    step = SPAN / max(n_bg, 1)
    truth: dict[str, object] = {}
    pool_times: list[datetime] = []
    si = 0
    with path.open("w", encoding="utf-8", newline="\n") as f:
        buf: list[str] = []
        for i in range(n_bg):
            ts = START + step * i
            while si < len(special) and special[si][0] <= ts:
                sts, kind, text = special[si]
                no = i + si + 1
                if kind in ("deploy", "oom"):
                    truth[f"{kind}_line"] = no
                    truth[f"{kind}_ts"] = _z(sts)
                elif kind == "pool":
                    pool_times.append(sts)
                buf.append(text)
                si += 1
            buf.append(background(r, ts.replace(microsecond=ts.microsecond // 1000 * 1000)))
            if len(buf) >= 10000:
                f.write("\n".join(buf) + "\n")
                buf.clear()
        buf.extend(s[2] for s in special[si:])  # only if the span ended first
        if buf:
            f.write("\n".join(buf) + "\n")
    return Truth(
        lines=lines,
        deploy_line=int(truth["deploy_line"]),  # type: ignore[call-overload]
        deploy_ts=str(truth["deploy_ts"]),
        pool_count=pool_n,
        pool_first=_iso(pool_times[0]),
        pool_last=_iso(pool_times[-1]),
        spike_count=spike_n,
        oom_line=int(truth["oom_line"]),  # type: ignore[call-overload]
        oom_ts=str(truth["oom_ts"]),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    print(json.dumps(asdict(generate(a.out, a.lines, a.seed)), indent=2))


if __name__ == "__main__":
    main()
