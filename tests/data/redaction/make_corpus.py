"""Generate corpus.jsonl: planted fake secrets in realistic incident text, plus near-misses.

Deterministic (random.Random(SEED)); rerun with
``.venv/bin/python tests/data/redaction/make_corpus.py`` and commit the output.
Every secret is fake but format-valid: right prefix, length and charset; JWTs
decode as base64url JSON; PEM blocks are multi-line.
Records: {"text", "secrets": [exact substrings], "kind"} or {"text", "keep": [...]}.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from pathlib import Path

SEED = 20240501
PER_KIND = 8
OUT = Path(__file__).with_name("corpus.jsonl")

rng = random.Random(SEED)
UP, LOW, DIG = string.ascii_uppercase, string.ascii_lowercase, string.digits
ALNUM = UP + LOW + DIG
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"


def rand(chars: str, n: int) -> str:
    s = "".join(rng.choice(chars) for _ in range(n))
    if chars in (ALNUM, B64, URLSAFE) and n >= 8:  # guarantee a digit and a letter
        s = rng.choice(LOW) + s[1:-1] + rng.choice(DIG)
    return s


def b64url(obj: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def jwt() -> str:
    head = b64url({"alg": "HS256", "typ": "JWT"})
    body = b64url(
        {"sub": f"user-{rng.randint(1000, 9999)}", "iat": rng.randint(1_600_000_000, 1_800_000_000)}
    )
    sig = base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("=")
    return f"{head}.{body}.{sig}"


def pem(kind: str = "PRIVATE KEY") -> str:
    body = base64.b64encode(rng.randbytes(rng.randint(300, 600))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----"


def human_password() -> str:
    return rng.choice(["Hunter2", "Summer2024!", "p@ssw0rd", "Tr0ub4dor&3", "letmein99"]) + rand(
        DIG, 2
    )


# kind -> (secret factory, templates with {s}); each template is a log line,
# an alert annotation or a chat message.
ts = "2024-05-0{d}T1{h}:{m}:{sec}.{ms}Z"
KINDS: dict[str, tuple[Callable[[], str], list[str]]] = {
    "aws_access_key": (
        lambda: rng.choice(["AKIA", "ASIA"]) + rand(UP + DIG, 16),
        [
            "{ts} ERROR s3-sync AccessDenied for key id {s} on bucket prod-invoices",
            "@oncall the leaked key was {s}, revoking it now",
            '{{"alert": "IAMKeyExposed", "annotations": {{"access_key_id": "{s}"}}}}',
        ],
    ),
    "aws_secret_key": (
        lambda: rand(B64, 40),
        [
            "export AWS_SECRET_ACCESS_KEY={s}",
            'aws_secret_access_key = "{s}"',
            '{{"SecretAccessKey": "{s}", "Expiration": "2024-05-01T12:00:00Z"}}',
        ],
    ),
    "gcp_service_account": (
        lambda: pem().replace("\n", "\\n") + "\\n",
        [
            '{{"type": "service_account", "project_id": "shop-prod", "private_key": "{s}"}}',
            'kubectl logs: loaded creds {{"private_key": "{s}", "client_id": "1234"}}',
        ],
    ),
    "gcp_private_key_id": (
        lambda: rand(HEX, 40),
        ['{{"type": "service_account", "private_key_id": "{s}", "project_id": "shop"}}'],
    ),
    "azure_storage_key": (
        lambda: base64.b64encode(rng.randbytes(64)).decode(),
        [
            "DefaultEndpointsProtocol=https;AccountName=shopprod;AccountKey={s};"
            "EndpointSuffix=core.windows.net",
            "{ts} WARN blob-uploader using connection string AccountName=logs;AccountKey={s}",
        ],
    ),
    "azure_sas": (
        lambda: rand(ALNUM + "%", 43) + "%3D",
        [
            "GET https://shopprod.blob.core.windows.net/exports/a.csv?sv=2022-11-02&ss=b"
            "&srt=o&sp=r&se=2024-05-02&sig={s} 403",
            "BlobEndpoint=https://x.blob.core.windows.net/;SharedAccessSignature=sv=2022&sig={s}",
        ],
    ),
    "github_token": (
        lambda: rng.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + rand(ALNUM, 36),
        [
            "{ts} INFO ci: cloning with https://x-access-token:{s}@github.com/acme/shop.git",
            "bob: oops I pasted my token {s} in #incidents, rotating",
            "GITHUB_TOKEN={s} ./deploy.sh",
        ],
    ),
    "github_pat": (
        lambda: "github_pat_" + rand(ALNUM, 22) + "_" + rand(ALNUM, 59),
        ["{ts} DEBUG gh api called with token={s}", "use this PAT for the hotfix: {s}"],
    ),
    "gitlab_token": (
        lambda: "glpat-" + rand(URLSAFE, 20),
        ["{ts} ERROR runner: 401 for PRIVATE-TOKEN {s}", "CI_JOB_TOKEN fallback {s} expired"],
    ),
    "slack_token": (
        lambda: (
            rng.choice(["xoxb-", "xoxp-", "xoxa-"])
            + f"{rng.randint(10**10, 10**11)}-{rng.randint(10**10, 10**11)}-{rand(ALNUM, 24)}"
        ),
        ["{ts} WARN notifier slack auth failed token {s}", "SLACK_BOT_TOKEN: {s}"],
    ),
    "slack_app_token": (
        lambda: f"xapp-1-A{rand(UP + DIG, 10)}-{rng.randint(10**12, 10**13)}-{rand(HEX, 64)}",
        ["socket mode connect with {s} failed: invalid_auth"],
    ),
    "slack_webhook": (
        lambda: (
            f"https://hooks.slack.com/services/T{rand(UP + DIG, 8)}/B{rand(UP + DIG, 10)}/"
            + rand(ALNUM, 24)
        ),
        ["{ts} ERROR alert-relay POST {s} -> 404 no_service", "webhook_url: {s}"],
    ),
    "stripe_key": (
        lambda: rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + rand(ALNUM, 24),
        ["{ts} ERROR payments: stripe auth failed with key {s}", "STRIPE_SECRET_KEY={s}"],
    ),
    "openai_key": (
        lambda: rng.choice(["sk-", "sk-proj-"]) + rand(URLSAFE, 48),
        ["{ts} WARN summarizer 429 from llm-gateway.example.com key={s}", "OPENAI_API_KEY: '{s}'"],
    ),
    "anthropic_key": (
        lambda: "sk-ant-api03-" + rand(URLSAFE, 93) + "AA",
        ["{ts} INFO llm-gateway using {s}", "ANTHROPIC_API_KEY={s}"],
    ),
    "google_api_key": (
        lambda: "AIza" + rand(URLSAFE, 35),
        [
            "{ts} ERROR maps geocode 403 https://maps.googleapis.com/maps/api/geocode/json"
            "?address=x&key={s}",
            "firebase config apiKey: {s}",
        ],
    ),
    "twilio_key": (
        lambda: rng.choice(["SK", "AC"]) + rand(HEX, 32),
        ["{ts} ERROR sms-sender twilio 20003 for {s}", "twilio sid {s} hit rate limit"],
    ),
    "sendgrid_key": (
        lambda: "SG." + rand(URLSAFE, 22) + "." + rand(URLSAFE, 43),
        ["{ts} ERROR mailer: sendgrid 401 with {s}", "SENDGRID_API_KEY={s}"],
    ),
    "npm_token": (
        lambda: "npm_" + rand(ALNUM, 36),
        ["//registry.npmjs.org/:_authToken={s}", "{ts} ERROR build: npm publish E401 {s}"],
    ),
    "jwt": (
        jwt,
        [
            "{ts} WARN gateway rejected expired session {s}",
            '{{"event": "login", "id_token": "{s}"}}',
            "curl -H 'X-Session: {s}' https://api.internal/v1/me",
        ],
    ),
    "bearer_header": (
        lambda: rng.choice([rand(URLSAFE, 40), jwt()]),
        [
            "{ts} DEBUG http request headers Authorization: Bearer {s}",
            "curl -H 'Authorization: Bearer {s}' https://api.example.com/v1/orders",
            '{{"headers": {{"Authorization": "Bearer {s}"}}}}',
        ],
    ),
    "basic_header": (
        lambda: base64.b64encode(f"svc-{rand(LOW, 5)}:{rand(ALNUM, 14)}".encode()).decode(),
        ["{ts} DEBUG proxy forwarded Authorization: Basic {s}", "header was 'Basic {s}'"],
    ),
    "url_password": (
        lambda: rand(ALNUM, 16),
        [
            "{ts} ERROR orders db connect failed postgres://orders_app:{s}@db-prod.internal:5432/orders",
            "REDIS_URL=redis://:{s}@cache-01.internal:6379/0",
            "amqp://shop:{s}@rabbit.internal:5672/ vhost down",
        ],
    ),
    "db_conn_password": (
        human_password,
        [
            "Server=sql-prod.internal;Database=orders;User Id=app;Password={s};",
            "{ts} ERROR Npgsql Host=db;Username=app;Password={s};Timeout=15",
        ],
    ),
    "password_assign": (
        human_password,
        [
            "{ts} DEBUG config loaded: db_password={s} pool=20",
            "password: {s}",
            "the new staging creds are admin / password={s}",
            "mysql -u root --password {s} -h db-prod",
        ],
    ),
    "json_password": (
        human_password,
        ['{{"user": "svc-batch", "password": "{s}"}}', '{{"smtp": {{"passwd": "{s}"}}}}'],
    ),
    "token_assign": (
        lambda: rand(ALNUM, 32),
        [
            "{ts} INFO webhook registered secret={s}",
            'api_key: "{s}"',
            "client_secret='{s}'",
            "X-Api-Key: {s}",
        ],
    ),
    "private_key_pem": (
        lambda: pem(rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"])),
        ["someone pasted the deploy key:\n{s}\nplease rotate", "{ts} DEBUG tls loaded\n{s}"],
    ),
    "openssh_private_key": (
        lambda: pem("OPENSSH PRIVATE KEY"),
        ["here is the bastion key from the runbook\n{s}"],
    ),
    "high_entropy_near_keyword": (
        lambda: rand(ALNUM, 28),
        ["the api key is {s} if you need to test", "new token: {s} (valid 24h)"],
    ),
}


def ts_now() -> str:
    return ts.format(
        d=rng.randint(1, 9),
        h=rng.randint(0, 9),
        m=rng.randint(10, 59),
        sec=rng.randint(10, 59),
        ms=rng.randint(100, 999),
    )


def planted() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for kind, (make, templates) in KINDS.items():
        for i in range(PER_KIND):
            secret = make()
            text = templates[i % len(templates)].format(s=secret, ts=ts_now())
            out.append({"text": text, "secrets": [secret], "kind": kind})
    return out


def near_misses() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []

    def add(template: str, **vals: str) -> None:
        out.append({"text": template.format(**vals), "keep": list(vals.values())})

    for _ in range(12):
        sha = rand(HEX, 40)
        add("{ts} INFO deploy finished commit {sha} by ci", ts=ts_now(), sha=sha)
        add(
            "rolled back to {short}, see INC-{inc}",
            short=rand(HEX, rng.randint(7, 12)),
            inc=str(rng.randint(1000, 9999)),
        )
        uuid = "-".join(rand(HEX, n) for n in (8, 4, 4, 4, 12))
        add("{ts} ERROR order {uuid} failed", ts=ts_now(), uuid=uuid)
        add("trace_id={trace} span_id={span}", trace=rand(HEX, 32), span=rand(HEX, 16))
        pod = f"checkout-{rand(HEX, 10)}-{rand(LOW + DIG, 5)}"
        add("pod {pod} OOMKilled on node ip-10-2-3-4", pod=pod)
        add("image registry.example.com/shop/api@sha256:{dig}", dig=rand(HEX, 64))
        add(
            "upgraded nginx-ingress to v{ver} (chart {chart})",
            ver=f"{rng.randint(1, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
            chart=f"4.{rng.randint(0, 12)}.{rng.randint(0, 5)}",
        )
        add(
            "{path} line {n}",
            path=f"/var/log/{rng.choice(['nginx', 'app', 'pg'])}/error.log",
            n=str(rng.randint(1, 9999)),
        )
        add(
            "dashboard {url}",
            url=f"https://grafana.example.com/d/{rand(ALNUM, 9)}/checkout?orgId=1",
        )
        add("x-request-id: {rid}", rid=rand(ALNUM, 20))
        add(
            "{ts} WARN db pool exhausted port {port} pid {pid} id {nid}",
            ts=ts_now(),
            port=str(rng.choice([5432, 6379, 8080, 9092])),
            pid=str(rng.randint(1000, 99999)),
            nid=str(rng.randint(10**9, 10**10)),
        )
    phrases = [
        "password reset emails delayed",
        "token bucket refill rate too low",
        "secret rotation job failed at 02:00",
        "api key rotation scheduled for Friday",
        "auth service latency p99 2300ms",
        "the credentials page returned 500",
        "Bearer authentication failing for mobile",
        "Basic auth disabled on admin",
        "cookie consent banner broke checkout",
        "private key rotation runbook updated",
        "password: reset",
        "token=expired",
        "secret: none",
        "api_key: ${API_KEY}",
        "password={{ vault_db_password }}",
        "max_tokens=4096",
        "PWD=/srv/app/current",
        "session_ttl=3600 bypass=true",
    ]
    for p in phrases:
        add("{p}", p=p)
    for _ in range(6):
        add(
            "{ts} latency_ms={a} retries={b} status=503 bytes={c}",
            ts=ts_now(),
            a=str(rng.randint(100, 9999)),
            b=str(rng.randint(0, 5)),
            c=str(rng.randint(10**5, 10**7)),
        )
        add(
            "window 2024-05-0{d} 1{h}:00-1{h}:45 UTC, duration {mins}m",
            d=str(rng.randint(1, 9)),
            h=str(rng.randint(0, 8)),
            mins=str(rng.randint(5, 90)),
        )
    return out


# --- secrets by shape alone (no key word, no known prefix), and their look-alikes.
# A separate generator, so adding these left every record above unchanged.
shape_rng = random.Random(SEED + 15)


def mixed(make: Callable[[], str]) -> Callable[[], str]:
    """Draw until the token has the secret shape: upper, lower and digit (a
    40-character random key lacks one of them about once in a thousand)."""

    def draw() -> str:
        while True:
            s = make()
            classes = (str.isupper, str.islower, str.isdigit)
            if all(any(is_(c) for c in s) for is_ in classes):
                return s

    return draw


B64_STD = UP + LOW + DIG + "+/"
SHAPE_KINDS: dict[str, tuple[Callable[[], str], list[str]]] = {
    "aws_secret_key_bare": (
        mixed(lambda: "".join(shape_rng.choice(B64_STD) for _ in range(40))),
        [
            "app[311]: retrying with {s}",
            "{ts} WARN s3-sync signature mismatch, retrying with {s}",
            "@oncall pasted from the runbook: {s} (rotate it)",
            '{{"event": "retry", "detail": "{s}"}}',
        ],
    ),
    "base64_blob_bare": (
        mixed(lambda: base64.b64encode(shape_rng.randbytes(shape_rng.randint(24, 64))).decode()),
        [
            "{ts} DEBUG session restored from {s}",
            "cache entry {s} evicted after 300s",
            "upload signed as {s} by worker-3",
        ],
    ),
    "base64url_blob_bare": (
        mixed(
            lambda: (
                base64.urlsafe_b64encode(shape_rng.randbytes(shape_rng.randint(24, 48)))
                .decode()
                .rstrip("=")
            )
        ),
        [
            "{ts} INFO device registered with {s}",
            "GET /oauth/callback?code={s}&state=ok 302",
            "mobile client sent {s}, rejecting",
        ],
    ),
}


def shape_cases() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for kind, (make, templates) in SHAPE_KINDS.items():
        for i in range(PER_KIND):
            secret = make()
            text = templates[i % len(templates)].format(s=secret, ts="2024-05-03T10:11:12.131Z")
            out.append({"text": text, "secrets": [secret], "kind": kind})
    hexs, crockford = "0123456789abcdef", "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

    def r(chars: str, n: int) -> str:
        return "".join(shape_rng.choice(chars) for _ in range(n))

    def b64(n: int, url: bool = False) -> str:
        raw = shape_rng.randbytes(n)
        return (
            base64.urlsafe_b64encode(raw).decode().rstrip("=")
            if url
            else base64.b64encode(raw).decode()
        )

    glued = [
        "PaymentGatewayTimeoutExceptionV{n}Handler{m}",
        "HikariPool{n}ConnectionIsNotAvailableRequestTimedOutAfter{m}000ms",
        "OrderServiceReplicaSetControllerV{n}Beta{m}",
        "testCheckoutRetriesOnGateway50{n}AndRecovers{m}",
    ]
    for i in range(8):
        n, m = str(shape_rng.randint(1, 9)), str(shape_rng.randint(1, 99))
        keep = {
            "{ts} INFO deploy {sha} promoted, ETag {etag}": dict(
                sha=r(hexs, 40), etag=r(hexs, 40).upper()
            ),
            "sha256sum {dig}  checkout-{n}.tar.gz": dict(dig=r(hexs, 64), n=n),
            "integrity sha512-{sri} for lodash@4.17.{n}": dict(sri=b64(64), n=n),
            "app/handlers.py,sha256={rec},{size}": dict(
                rec=b64(32, url=True), size=str(shape_rng.randint(100, 99999))
            ),
            "Accepted publickey for deploy from 10.0.0.5 port 50122 ssh2: RSA SHA256:{fp}": dict(
                fp=b64(32).rstrip("=")
            ),
            "comment {node} by octocat": dict(
                node=base64.b64encode(
                    f"012:IssueComment{shape_rng.randint(10**8, 10**10)}".encode()
                ).decode()
            ),
            "{ts} ERROR {cls} thrown in checkout": dict(cls=glued[i % len(glued)].format(n=n, m=m)),
            "job {ulid} queued": dict(ulid="01" + r(crockford, 24)),
            "pod payments-api-{rs}-{pod} Ready": dict(rs=r(hexs, 10), pod=r(LOW + DIG, 5)),
            "{ts} WARN com.shop.payments.v{n}.GatewayClient$Retry{m} gave up": dict(n=n, m=m),
            "span 2026020{n}T140322123Z{a}-{b}-{c}-{d}-{e} closed": dict(
                n=n, a=r(hexs, 8), b=r(hexs, 4), c=r(hexs, 4), d=r(hexs, 4), e=r(hexs, 12)
            ),
            "GET /api/v1/Orders/{seg}/items 200": dict(seg=r(UP + LOW + DIG, 24)),
            "request req-{a}-{b}-{c}-{d}-{e} done": dict(
                a=r(hexs, 8), b=r(hexs, 4), c=r(hexs, 4), d=r(hexs, 4), e=r(hexs, 12)
            ),
            "payload {text} queued": dict(
                text=base64.b64encode(f"checkout-service:v2.{n}.{m}:canary".encode()).decode()
            ),
        }
        for template, vals in keep.items():
            values = {"ts": "2024-05-03T10:11:12.131Z", **vals}
            out.append(
                {
                    "text": template.format(**values),
                    "keep": list(vals.values()),
                    "kind": "lookalike",
                }
            )
    return out


def main() -> None:
    records = planted() + near_misses() + shape_cases()
    with OUT.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    kinds = {r["kind"] for r in records if "secrets" in r}
    print(
        f"{OUT}: {sum('secrets' in r for r in records)} secret records / {len(kinds)} kinds, "
        f"{sum('keep' in r for r in records)} near-miss records"
    )


if __name__ == "__main__":
    main()
