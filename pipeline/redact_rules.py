"""Detector table for :mod:`pipeline.redact`.

Every detector is one regex alternative; :func:`build` joins the enabled ones
into a single compiled pattern so a text is scanned once, not once per kind.
Each alternative is wrapped in a named group ``_a<i>`` so ``match.lastgroup``
says which detector fired (the outer group closes last), and may name the part
to replace ``(?P<v>...)``; without it the whole match is replaced.

detect-secrets supplies the keyword list, the entropy maths and the regexes for
the rarer token kinds; its own scanner only reports values per line, and we
need exact spans, so we reuse its parts rather than its scan loop.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.high_entropy_strings import (
    Base64HighEntropyString,
    HexHighEntropyString,
)
from detect_secrets.plugins.keyword import DENYLIST
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector

# (value, key) -> is this really a finding? key is "" unless the rule captures one.
Validator = Callable[[str, str], bool]

PLACEHOLDER_RE = re.compile(r"\[REDACTED:[a-z0-9_]+\]")


@dataclass(frozen=True)
class Rule:
    kind: str  # "" = matched but never replaced (existing placeholders)
    pattern: str
    group: str  # secrets | emails | phones | ips | names
    validate: Validator | None = None


# --- validators: run only on regex hits, which are rare, so Python cost is fine.

_B64 = Base64HighEntropyString()
_HEX = HexHighEntropyString()
_HEXISH = re.compile(r"[0-9a-fA-F]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# Values that follow "password:"/"token=" in prose or logs but are not secrets.
_STOPWORDS = frozenset(
    [
        "reset",
        "changed",
        "rotated",
        "expired",
        "invalid",
        "incorrect",
        "required",
        "missing",
        "none",
        "null",
        "nil",
        "true",
        "false",
        "empty",
        "redacted",
        "hidden",
        "masked",
        "set",
        "unset",
        "ok",
        "yes",
        "no",
        "undefined",
        "default",
        "wrong",
        "failed",
        "denied",
        "refreshed",
        "revoked",
        "error",
        "*****",
        "xxxxx",
    ]
)


def _is_template(v: str) -> bool:
    # ${VAR}, {{ var }}, <token>, %s, ****: a reference to a secret, not the secret itself.
    return v.startswith(("${", "{{", "<", "%", "$(", "***", "xxx", "XXX", "[REDACTED")) or set(
        v
    ) <= {"*", "x", "X", "."}


def entropy(v: str) -> float:
    if _HEXISH.fullmatch(v):
        return float(_HEX.calculate_shannon_entropy(v))
    return float(_B64.calculate_shannon_entropy(v))


def _high_entropy(v: str) -> bool:
    """Random-looking enough to be a credential (only ever asked next to a key word)."""
    if len(v) < 8 or v.lower() in _STOPWORDS or _is_template(v):
        return False
    has_digit = any(c.isdigit() for c in v)
    has_alpha = any(c.isalpha() for c in v)
    return (has_digit and has_alpha) or entropy(v) >= 3.0


_PASSWORD_KEYS = ("password", "passwd", "pwd", "pass", "passphrase", "contrase")


def _keyword_value(v: str, key: str) -> bool:
    key = key.lower()
    if not v or _is_template(v) or v.lower() in _STOPWORDS:
        return False
    if key.endswith("pwd") and v.startswith("/"):
        return False  # $PWD in an environment dump is a directory
    if any(p in key for p in _PASSWORD_KEYS):
        return len(v) >= 3 and not v.isdigit()  # human passwords are short and low-entropy
    return _high_entropy(v)


def _near_value(v: str, key: str) -> bool:
    if _UUID.fullmatch(v) or (_HEXISH.fullmatch(v) and len(v) in (7, 8, 9, 10, 11, 12, 40, 64)):
        return False  # commit hashes / digests mentioned in prose near "token"
    return len(v) >= 16 and _high_entropy(v)


def _has_digit(v: str, key: str) -> bool:
    return any(c.isdigit() for c in v) and not v.startswith("[REDACTED")


def _not_placeholder(v: str, key: str) -> bool:
    return not v.startswith("[REDACTED")


def _basic_creds(v: str, key: str) -> bool:
    try:
        raw = base64.b64decode(v + "==", validate=False)
    except (binascii.Error, ValueError):
        return False
    return b":" in raw and raw.isascii()


def _cookie(v: str, key: str) -> bool:
    return "=" in v and _not_placeholder(v, key)


def _email(v: str, key: str) -> bool:
    return v.split("@", 1)[0].lower() not in {"git", "hg"}  # ssh remotes


def _phone(v: str, key: str) -> bool:
    return 8 <= sum(c.isdigit() for c in v) <= 15


# Internal addresses are topology the post-mortem needs and identify no person;
# public ones can point at customers, so only those are masked.
_KEEP_NETS = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "0.0.0.0/32",
        "::1/128",
        "::/128",
        "fc00::/7",
        "fe80::/10",
    )
]


def _public_ip(v: str, key: str) -> bool:
    try:
        ip = ipaddress.ip_address(v)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not any(ip in net for net in _KEEP_NETS if net.version == ip.version)


# --- patterns

_KW = "|".join(
    [
        *DENYLIST,
        r"(?<![a-z])pass",
        "passphrase",
        "token",
        "access_?key",
        "secret_?key",
        "signing_?key",
        "encryption_?key",
        "master_?key",
        "app_?key",
        "credentials?",
        "auth",
    ]
)
_KEY = rf"(?P<k>[A-Za-z0-9_.-]*?(?i:{_KW}))s?"
_SEP = r"(?:\\?[\"'])?\s*(?:=>|:=|=|:)\s*"
_AUTH = r"(?i:(?:proxy-)?authorization)(?:\\?[\"'])?\s*[:=]\s*(?:\\?[\"'])?"
_B = r"(?<![A-Za-z0-9_])"  # cheaper than \b and lets "_" count as part of a token
_E = r"(?![A-Za-z0-9_])"


def _ds(detector: type, idx: int = 0) -> str:
    return str(detector.denylist[idx].pattern)  # type: ignore[attr-defined]


SECRET_RULES: list[Rule] = [
    # Consume existing placeholders first: this is what makes redact() idempotent.
    Rule("", r"\[REDACTED:[a-z0-9_]+\]", "secrets"),
    Rule(
        "private_key",
        r"-----BEGIN[A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]{0,16000}?-----END[A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----"
        r"|(?:\\[nr]|[A-Za-z0-9+/=\s:,.-]){0,16000})",  # truncated block: eat the base64 body
        "secrets",
    ),
    Rule(
        "aws_access_key", rf"{_B}(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{{16}}{_E}", "secrets"
    ),
    Rule(
        "aws_secret_key",
        r"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key|aws_?secret)"
        rf"{_SEP}(?:\\?[\"'])?(?P<v>[A-Za-z0-9/+]{{40}})(?![A-Za-z0-9/+=])",
        "secrets",
    ),
    Rule("gcp_private_key_id", r"private_key_id\\?\"\s*:\s*\\?\"(?P<v>[0-9a-f]{40})", "secrets"),
    Rule(
        "azure_storage_key",
        r"(?i:AccountKey|SharedAccessKey)\s*=\s*(?P<v>[A-Za-z0-9+/=]{20,})",
        "secrets",
    ),
    Rule(
        "azure_sas", r"SharedAccessSignature\s*=\s*(?P<v>[^;\s\"']+)", "secrets", _not_placeholder
    ),
    Rule("azure_sas", r"[?&]sig=(?P<v>[A-Za-z0-9%+/=]{16,})", "secrets"),
    Rule(
        "signed_url",
        r"(?i:X-(?:Amz|Goog)-(?:Signature|Credential|Security-Token))=(?P<v>[^&\s\"']+)",
        "secrets",
        _not_placeholder,
    ),
    Rule(
        "github_token",
        rf"{_B}(?:gh[pousr]_[A-Za-z0-9]{{36,251}}|github_pat_\w{{22,255}}){_E}",
        "secrets",
    ),
    Rule(
        "gitlab_token",
        rf"{_B}(?:(?:glpat|gldt|glft|glsoat|glrt|glcbt|glimt|glptt|glagent|gloas)-|GR1348941)"
        r"[A-Za-z0-9_-]{20,}",
        "secrets",
    ),
    Rule(
        "slack_webhook",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[\w/-]+",
        "secrets",
    ),
    Rule("slack_token", rf"{_B}(?:xox[abposr]-|xapp-\d-)[A-Za-z0-9-]{{10,}}", "secrets"),
    Rule(
        "stripe_key",
        rf"{_B}(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{{10,}}|whsec_[A-Za-z0-9]{{20,}})",
        "secrets",
    ),
    Rule("anthropic_key", rf"{_B}sk-ant-[A-Za-z0-9_-]{{20,}}", "secrets"),
    Rule(
        "openai_key",
        rf"{_B}sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{{20,}}",
        "secrets",
        _has_digit,
    ),
    Rule("google_api_key", rf"{_B}AIza[0-9A-Za-z_-]{{35}}{_E}", "secrets"),
    Rule("twilio_key", rf"{_B}(?:AC|SK)[0-9a-f]{{32}}{_E}", "secrets"),
    Rule("sendgrid_key", rf"{_B}SG\.[A-Za-z0-9_-]{{22}}\.[A-Za-z0-9_-]{{43}}{_E}", "secrets"),
    Rule("npm_token", rf"{_B}npm_[A-Za-z0-9]{{36}}{_E}", "secrets"),
    Rule("pypi_token", _ds(PypiTokenDetector), "secrets"),
    Rule("square_token", _ds(SquareOAuthDetector), "secrets"),
    Rule("mailchimp_key", rf"{_B}{_ds(MailchimpDetector)}{_E}", "secrets"),
    Rule("telegram_token", rf"{_B}{_ds(TelegramBotTokenDetector)}{_E}", "secrets"),
    Rule("discord_token", rf"{_B}{_ds(DiscordBotTokenDetector)}{_E}", "secrets"),
    Rule(
        "jwt",
        rf"{_B}eyJ[A-Za-z0-9_-]{{8,}}\.[A-Za-z0-9_-]{{8,}}(?:\.[A-Za-z0-9_=-]*){{0,3}}",
        "secrets",
    ),
    # Header name present: whatever follows the scheme is the credential, even if it looks tame.
    Rule(
        "auth_header",
        rf"{_AUTH}(?i:digest|aws4-hmac-sha256|hmac)\s+(?P<v>[^\r\n\"'\\]+)",
        "secrets",
        _not_placeholder,
    ),
    Rule(
        "auth_header",
        rf"{_AUTH}(?:(?i:bearer|basic|token|bot|apikey|sso-key|negotiate|ntlm)\s+)?"
        r"(?P<v>[^\s\"'\\,;]+)",
        "secrets",
        _not_placeholder,
    ),
    Rule("bearer_token", r"(?i:\bbearer)\s+(?P<v>[A-Za-z0-9._~+/-]{16,}=*)", "secrets", _has_digit),
    Rule("basic_auth", r"(?i:\bbasic)\s+(?P<v>[A-Za-z0-9+/]{8,}={0,2})", "secrets", _basic_creds),
    Rule(
        "url_password",
        r"[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/?#@\"'<>\[\]]{0,128}:(?P<v>[^\s@/?#\"'<>]{1,256})@",
        "secrets",
        _not_placeholder,
    ),
    Rule("cookie", r"(?i:\b(?:set-)?cookie)\s*:\s*(?P<v>[^\r\n]+)", "secrets", _cookie),
    # key=value / "key": "value" / key: value, with the value quoted three ways.
    Rule(
        "keyword",
        rf"{_B}{_KEY}{_SEP}\"(?P<v>(?:[^\"\\\r\n]|\\.){{1,16000}})\"",
        "secrets",
        _keyword_value,
    ),
    Rule(
        "keyword",
        rf"{_B}{_KEY}{_SEP}\\\"(?P<v>[^\"\\\r\n]{{1,4000}})\\\"",
        "secrets",
        _keyword_value,
    ),
    Rule("keyword", rf"{_B}{_KEY}{_SEP}'(?P<v>[^'\r\n]{{1,4000}})'", "secrets", _keyword_value),
    Rule("keyword", rf"{_B}{_KEY}{_SEP}(?P<v>[^\s\"'`,;&)}}\]<>\\]+)", "secrets", _keyword_value),
    Rule(
        "keyword",
        r"--(?P<k>[\w-]*(?i:password|passwd|token|secret|api-key|apikey))\s+"
        r"(?P<v>[^\s\"'-][^\s\"']*)",
        "secrets",
        _keyword_value,
    ),
    # Key word in prose right before a long random token: "the api key is Zx81...".
    Rule(
        "secret",
        r"(?i:\b(?:token|secret|password|passwd|api[ _-]?key|access[ _-]?key|credentials?))"
        r"(?:\s+(?i:is|was|of|for\s+\S+\s+is))?[\s:=]+[\"'`]?(?P<v>[A-Za-z0-9+/_=.-]{16,})",
        "secrets",
        _near_value,
    ),
]

PII_RULES: list[Rule] = [
    Rule(
        "email",
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"
        r"(?![A-Za-z0-9-])",
        "emails",
        _email,
    ),
    Rule(
        "phone",
        r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(\d{1,4}\)|[ .-]?\d{1,4}){2,6}(?![\w.:-]?\d)",
        "phones",
        _phone,
    ),
    Rule(
        "phone",
        r"(?<![\w.+/:-])(?:1[ .-])?(?:\(\d{3}\)[ ]?\d{3}-|\d{3}(?P<s>[-.])\d{3}(?P=s))\d{4}"
        r"(?![\w]|[.:-]\d)",
        "phones",
        _phone,
    ),
    Rule(
        "ip",
        r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
        r"(?![\w]|\.\d)",
        "ips",
        _public_ip,
    ),
    Rule(
        "ip",
        r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:|::?)(?:[0-9A-Fa-f]{0,4}:){1,6}[0-9A-Fa-f]{0,4}"
        r"(?:\d{1,3}(?:\.\d{1,3}){3})?(?![\w:.])",
        "ips",
        _public_ip,
    ),
]

_NAME_RE = re.compile(r"\(\?P<(\w+)>")
_NAME_REF = re.compile(r"\(\?P=(\w+)\)")


def keyword_kind(key: str) -> str:
    """Placeholder kind for a ``key=value`` hit, named after the key."""
    k = key.lower()
    if "private" in k:
        return "private_key"
    if any(p in k for p in _PASSWORD_KEYS) or k.endswith("pwd"):
        return "password"
    if "token" in k or "auth" in k:
        return "token"
    if "secret" in k:
        return "secret"
    return "api_key"


def build(rules: list[Rule], names: list[str]) -> tuple[re.Pattern[str], list[Rule]]:
    """One compiled alternation of ``rules`` (plus a names rule), in priority order."""
    rules = list(rules)
    if names:
        alts = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        rules.append(Rule("name", rf"(?i:{_B}(?:{alts}){_E})", "names"))
    parts = []
    for i, rule in enumerate(rules):
        # Group names must be unique across the alternation: suffix each with its index.
        pat = _NAME_RE.sub(lambda m, i=i: f"(?P<{m.group(1)}{i}>", rule.pattern)  # type: ignore[misc]
        pat = _NAME_REF.sub(lambda m, i=i: f"(?P={m.group(1)}{i})", pat)  # type: ignore[misc]
        parts.append(f"(?P<_a{i}>{pat})")
    return re.compile("|".join(parts), re.ASCII), rules
