"""Detector table for :mod:`pipeline.redact`.

Python's ``re`` has no multi-pattern prefilter: one big alternation of ~40
detectors runs well under 1 MB/s. So each rule names cheap *triggers* — literals
found with ``str.find`` (or a regex with a literal prefix) — and its own regex
only runs where a trigger fired: ``anchored`` rules try ``pattern.match`` right
at the trigger, the others search the trigger's line. Clean log lines cost a
few C-speed substring scans and nothing else.

detect-secrets supplies the key-word list, the entropy maths and the regexes for
the rarer token kinds; its scanner only reports values per line, and we need
exact spans, so we reuse its parts rather than its scan loop.
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

# (value, key) -> is this hit really a finding? key: the key name for "keyword" rules.
Validator = Callable[[str, str], bool]
WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class Rule:
    kind: str  # "keyword": the kind is named after the key (see keyword_kind)
    pattern: str  # names the part to replace (?P<v>..) (or w/x/y); else the whole match
    lits: tuple[str, ...] = ()  # literal triggers
    trig: str = ""  # regex trigger, for kinds without a usable literal
    group: str = "secrets"  # secrets | emails | phones | ips | names
    validate: Validator | None = None
    nocase: bool = False  # triggers are lower-case and the pattern ignores case
    anchored: bool = True  # match at the trigger (+offset); else search the trigger's line
    offset: int = 0
    bound: bool = False  # the match must not start in the middle of a word
    reach: int = 0  # unanchored: scan this far past the line's start (multi-line PEM)

    def compile(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.ASCII | (re.IGNORECASE if self.nocase else 0))


# --- validators: they only see regex hits, which are rare, so Python cost is fine.

_B64 = Base64HighEntropyString()
_HEX = HexHighEntropyString()
_HEXISH = re.compile(r"[0-9a-fA-F]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# Words that follow "password:"/"token=" in prose and logs but are not secrets.
_STOPWORD_TEXT = (
    "reset changed rotated expired invalid incorrect required missing none null nil true false "
    "empty redacted hidden masked set unset ok yes no undefined default wrong failed denied "
    "refreshed revoked error valid present absent disabled enabled"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_PASSWORD_KEYS = ("password", "passwd", "pwd", "pass", "passphrase", "contrase")


def _is_reference(v: str) -> bool:
    # ${VAR}, {{ var }}, <token>, %s, ****: points at a secret, is not one.
    return v.startswith(("${", "{{", "<", "%", "$(", "[REDACTED")) or set(v) <= set("*xX.#-")


def entropy(v: str) -> float:
    calc = _HEX if _HEXISH.fullmatch(v) else _B64
    return float(calc.calculate_shannon_entropy(v))


# Names, not values: "secret: payments/payments-api-tls" (a Kubernetes Secret),
# "auth: builder@project.iam.gserviceaccount.com" (an identity; emails are PII),
# "password :upside_down_face:" (a chat emoji).
_RESOURCE_NAME = re.compile(r"(?:[a-z]+\d{0,2}|\d{1,3})(?:[-./_](?:[a-z]+\d{0,2}|\d{1,3}))+")
_EMAIL = re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_EMOJI = re.compile(r"[a-z0-9_+-]+:")  # the rest of ":upside_down_face:" after "password :"


def _a_name(v: str) -> bool:
    return bool(_RESOURCE_NAME.fullmatch(v) or _EMAIL.fullmatch(v) or _EMOJI.fullmatch(v))


def _high_entropy(v: str) -> bool:
    """Random-looking enough to be a credential; only ever asked next to a key word."""
    if len(v) < 8 or v.lower() in _STOPWORDS or _is_reference(v) or _a_name(v):
        return False
    if any(c.isdigit() for c in v) and any(c.isalpha() for c in v):
        return True
    return entropy(v) >= 3.0


_KEY_NAME = re.compile(
    rf"(?:{'|'.join(DENYLIST)}|pass|passphrase|token|access_?key|secret_?key|signing_?key"
    r"|encryption_?key|master_?key|app_?key|credentials?|auth)s?$",
    re.IGNORECASE,
)


def _keyword_value(v: str, key: str) -> bool:
    key = key.lower().lstrip("-").replace("-", "_")
    if not _KEY_NAME.search(key):
        return False  # "cache key=", "secret_name=": the key word must end the key
    if not v or _is_reference(v) or v.lower() in _STOPWORDS:
        return False
    if re.search(r"[a-z]pass$", key):
        return False  # bypass=, compass:
    if key.endswith("pwd") and v.startswith("/"):
        return False  # $PWD in an environment dump is a directory
    if any(p in key for p in _PASSWORD_KEYS):  # human passwords are short, low-entropy
        return len(v) >= 3 and not v.isdigit() and not _EMOJI.fullmatch(v)
    return _high_entropy(v)


def _near_value(v: str, key: str) -> bool:
    if _UUID.fullmatch(v) or (_HEXISH.fullmatch(v) and len(v) in (7, 8, 9, 10, 11, 12, 40, 64)):
        return False  # commit hashes / digests / ids mentioned near the word "token"
    return len(v) >= 16 and _high_entropy(v)


def _has_digit(v: str, key: str) -> bool:
    return any(c.isdigit() for c in v) and not v.startswith("[REDACTED")


def _not_placeholder(v: str, key: str) -> bool:
    return not v.startswith("[REDACTED")


def _basic_creds(v: str, key: str) -> bool:
    try:
        raw = base64.b64decode(v + "=" * (-len(v) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in raw and raw.isascii()


def _cookie(v: str, key: str) -> bool:
    return "=" in v and not v.startswith("[REDACTED")


def _email(v: str, key: str) -> bool:
    return v.split("@", 1)[0].lower() not in {"git", "hg"}  # ssh remotes, not people


_DECIMAL = re.compile(r"\+\d+\.\d{5,}")  # "m=+42208.256292221": Go's monotonic clock


def _phone(v: str, key: str) -> bool:
    return 8 <= sum(c.isdigit() for c in v) <= 15 and not _DECIMAL.fullmatch(v)


# Private and loopback addresses are topology the post-mortem needs and name no
# person or customer; public ones can, so only those are masked.
_KEEP_NETS = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
        "169.254.0.0/16", "0.0.0.0/32", "::1/128", "::/128", "fc00::/7", "fe80::/10",
    )
]  # fmt: skip


def _public_ip(v: str, key: str) -> bool:
    try:
        ip = ipaddress.ip_address(v)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not any(ip in net for net in _KEEP_NETS if net.version == ip.version)


_SEP = r"(?:\\?[\"'])?[ \t]*(?:=>|:=|=|:)[ \t]*"
_AUTH = r"authorization(?:\\?[\"'])?[ \t]*[:=][ \t]*(?:\\?[\"'])?"
_E = r"(?![A-Za-z0-9_])"
_KW_LITS = ("pass", "pwd", "secret", "token", "key", "auth", "credential", "contrase")


def _ds(detector: type, idx: int = 0) -> str:
    return str(detector.denylist[idx].pattern)  # type: ignore[attr-defined]


# Order breaks ties between hits that start at the same place: first wins.
SECRET_RULES: list[Rule] = [
    Rule(
        "private_key",
        r"-----BEGIN[A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]{0,16000}?-----END[A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----"
        r"|(?:\\[nr]|[A-Za-z0-9+/=\s:,.-]){0,16000})",  # truncated block: eat the base64 body
        lits=("PRIVATE KEY",),
        anchored=False,
        reach=17000,
    ),
    Rule(
        "aws_access_key",
        rf"A(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z0-9]{{16}}{_E}",
        ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
        bound=True,
    ),
    Rule(
        "aws_secret_key",
        r"(?:aws_?secret_?(?:access_?)?key|aws_?secret|secret_?access_?key)"
        rf"{_SEP}(?:\\?[\"'])?(?P<v>[A-Za-z0-9/+]{{40}})(?![A-Za-z0-9/+=])",
        ("aws_secret", "awssecret", "secret_access", "secretaccess"),
        nocase=True,
    ),
    Rule(
        "gcp_private_key_id",
        r"private_key_id\\?\"\s*:\s*\\?\"(?P<v>[0-9a-f]{40})",
        ("private_key_id",),
    ),
    Rule(
        "azure_storage_key",
        r"(?:account|sharedaccess)key\s*=\s*(?P<v>[A-Za-z0-9+/=]{20,})",
        ("accountkey", "sharedaccesskey"),
        nocase=True,
    ),
    Rule(
        "azure_sas",
        r"SharedAccessSignature\s*=\s*(?P<v>[^;\s\"']+)",
        ("SharedAccessSignature",),
        validate=_not_placeholder,
    ),
    Rule("azure_sas", r"[?&]sig=(?P<v>[A-Za-z0-9%+/=]{16,})", ("sig=",), offset=-1),
    Rule(
        "signed_url",
        r"x-(?:amz|goog)-(?:signature|credential|security-token)=(?P<v>[^&\s\"']+)",
        ("x-amz-", "x-goog-"),
        nocase=True,
        validate=_not_placeholder,
    ),
    Rule(
        "github_token",
        rf"(?:gh[pousr]_[A-Za-z0-9]{{36,251}}|github_pat_\w{{22,255}}){_E}",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        bound=True,
    ),
    Rule(
        "gitlab_token",
        r"(?:gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-|GR1348941)[A-Za-z0-9_-]{20,}",
        ("GR1348941",),
        trig=r"gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-",
        bound=True,
    ),
    Rule(
        "slack_webhook",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[\w/-]+",
        ("hooks.slack.com",),
        offset=-8,
    ),
    Rule(
        "slack_token",
        r"x(?:ox[abposr]-|app-\d-)[A-Za-z0-9-]{10,}",
        trig=r"x(?:ox[abposr]|app)-",
        bound=True,
    ),
    Rule(
        "stripe_key",
        r"(?:[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,})",
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"),
        bound=True,
    ),
    Rule("anthropic_key", r"sk-ant-[A-Za-z0-9_-]{20,}", ("sk-",), bound=True),
    Rule("openai_key", r"sk-[A-Za-z0-9_-]{20,}", ("sk-",), validate=_has_digit, bound=True),
    Rule("google_api_key", rf"AIza[0-9A-Za-z_-]{{35}}{_E}", ("AIza",), bound=True),
    Rule("twilio_key", rf"(?:AC|SK)[0-9a-f]{{32}}{_E}", ("AC", "SK"), bound=True),
    Rule(
        "sendgrid_key",
        rf"SG\.[A-Za-z0-9_-]{{22}}\.[A-Za-z0-9_-]{{43}}{_E}",
        ("SG.",),
        bound=True,
    ),
    Rule("npm_token", rf"npm_[A-Za-z0-9]{{36}}{_E}", ("npm_",), bound=True),
    Rule("pypi_token", _ds(PypiTokenDetector), ("pypi-",)),
    Rule("square_token", _ds(SquareOAuthDetector), ("sq0csp-",)),
    Rule(
        "mailchimp_key",
        rf"(?<![A-Za-z0-9_]){_ds(MailchimpDetector)}{_E}",
        trig=r"-us\d",
        anchored=False,
    ),
    Rule(
        "telegram_token",
        rf"(?<![A-Za-z0-9_]){_ds(TelegramBotTokenDetector)}{_E}",
        trig=r":[0-9A-Za-z_-]{35}",
        anchored=False,
    ),
    Rule(
        "discord_token",
        rf"(?<![A-Za-z0-9_]){_ds(DiscordBotTokenDetector)}{_E}",
        trig=r"\.[a-zA-Z0-9_-]{6}\.",
        anchored=False,
    ),
    Rule(
        "jwt",
        r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_=-]*){0,3}",
        ("eyJ",),
        bound=True,
    ),
    # Header name present: whatever follows the scheme is the credential, tame-looking or not.
    Rule(
        "auth_header",
        rf"{_AUTH}(?:digest|aws4-hmac-sha256|hmac)\s+(?P<v>[^\r\n\"'\\]+)",
        ("authorization",),
        nocase=True,
        validate=_not_placeholder,
    ),
    Rule(
        "auth_header",
        rf"{_AUTH}(?:(?:bearer|basic|token|bot|apikey|sso-key|negotiate|ntlm)\s+)?"
        r"(?P<v>[^\s\"'\\,;]+)",
        ("authorization",),
        nocase=True,
        validate=_not_placeholder,
    ),
    Rule(
        "bearer_token",
        r"bearer\s+(?P<v>[A-Za-z0-9._~+/-]{16,}=*)",
        ("bearer",),
        nocase=True,
        validate=_has_digit,
        bound=True,
    ),
    Rule(
        "basic_auth",
        r"basic\s+(?P<v>[A-Za-z0-9+/]{8,}={0,2})",
        ("basic",),
        nocase=True,
        validate=_basic_creds,
        bound=True,
    ),
    Rule(
        "url_password",
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/?#@\"'<>\[\]]{0,128}:"
        r"(?P<v>[^\s@/?#\"'<>]{1,256})@",
        ("://",),
        anchored=False,
        validate=_not_placeholder,
    ),
    Rule(
        "cookie",
        r"cookie[ \t]*:[ \t]*(?P<v>[^\r\n]+)",
        ("cookie",),
        nocase=True,
        validate=_cookie,
    ),
    # key=value, key: value, "key": "value", \"key\": \"value\" (JSON in JSON), key='value'.
    # The key word is matched where found; the validator sees the whole key name.
    Rule(
        "keyword",
        r"(?:password|passwd|passphrase|pass|pwd|secret|token|key|auth|credentials?|contrase.a)"
        rf"s?{_SEP}(?:"
        r"\"(?P<v>(?:[^\"\\\r\n]|\\.){1,16000})\""
        r"|\\\"(?P<w>[^\"\\\r\n]{1,4000})\\\""
        r"|'(?P<x>[^'\r\n]{1,4000})'"
        r"|(?P<y>[^\s\"'`,;&)}\]<>\\]+))",
        _KW_LITS,
        nocase=True,
        validate=_keyword_value,
    ),
    Rule(  # --password hunter2
        "keyword",
        r"(?:password|passwd|token|secret|key)\s+(?P<v>[^\s\"'-][^\s\"']*)",
        _KW_LITS,
        nocase=True,
        validate=lambda v, key: key.startswith("--") and _keyword_value(v, key),
    ),
    # Key word in prose right before a long random token: "the api key is Zx81...".
    Rule(
        "secret",
        r"(?:token|secret|password|passwd|api[ _-]?key|access[ _-]key|credentials?)"
        r"(?:\s+(?:is|was|of))?[\s:=]+[\"'`]?(?P<v>[A-Za-z0-9+/_=.-]{16,})",
        ("token", "secret", "pass", "api", "access", "credential"),
        nocase=True,
        validate=_near_value,
        bound=True,
    ),
]

PII_RULES: list[Rule] = [
    Rule(
        "email",
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]++@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
        r"\.[A-Za-z]{2,24}(?![A-Za-z0-9-])",
        ("@",),
        group="emails",
        validate=_email,
        anchored=False,
    ),
    Rule(
        "phone",
        r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(\d{1,4}\)|[ .-]?\d{1,4}){2,6}(?![\w.:-]?\d)",
        ("+",),
        group="phones",
        validate=_phone,
    ),
    *(
        Rule(  # 415-555-0134, (415) 555-0134, 415.555.0134: triggered by the last group
            "phone",
            r"(?<![\w.+/:-])(?:1[ .-])?(?:\(\d{3}\) ?\d{3}-|\d{3}(?P<s>[-.])\d{3}(?P=s))\d{4}"
            r"(?![\w]|[.:-]\d)",
            trig=trig,
            group="phones",
            validate=_phone,
            anchored=False,
        )
        for trig in (r"-\d{4}(?!\d)", r"\.\d{4}(?!\d)")
    ),
    Rule(
        "ip",
        r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)",
        trig=r"\.\d{1,3}\.\d{1,3}\.",
        group="ips",
        validate=_public_ip,
        anchored=False,
    ),
    Rule(
        "ip",
        r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:|:)[0-9A-Fa-f:]{1,38}(?:\d{1,3}(?:\.\d{1,3}){3})?"
        r"(?![\w:.])",
        trig=r"::|:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:",
        group="ips",
        validate=_public_ip,
        anchored=False,
    ),
]


def name_rule(names: list[str]) -> Rule:
    alts = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    lits = tuple(sorted({n.lower() for n in names}))
    return Rule("name", rf"(?:{alts}){_E}", lits, group="names", nocase=True, bound=True)


def keyword_kind(key: str) -> str:
    """Placeholder kind for a ``key=value`` hit, named after the key."""
    k = key.lower()
    if "private" in k:
        return "private_key"
    if any(p in k for p in _PASSWORD_KEYS):
        return "password"
    if "token" in k or "auth" in k:
        return "token"
    if "secret" in k:
        return "secret"
    return "api_key"
