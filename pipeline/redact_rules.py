"""Detector table for :mod:`pipeline.redact`.

Every detector is one regex alternative; :func:`build` joins the enabled ones
into a single compiled pattern so a text is scanned once, not once per kind.

Speed notes (``re`` has no multi-pattern prefilter):
- every alternative starts with a literal or a character class, so the engine's
  per-branch first-character check rejects most branches at most positions;
  leading ``\\b``/lookbehinds would defeat that, so word-boundary checks run in
  Python on the (rare) hits instead (``Rule.bound``);
- a branch's marker group ``(?P<_aN>)`` sits at its *end* for the same reason;
  being the last group to close, ``match.lastgroup`` names the rule.

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
    kind: str  # "" = consumed but never replaced (existing placeholders)
    pattern: str  # may name the part to replace: (?P<v>..), or v/w/x/y in alternatives
    group: str = "secrets"  # secrets | emails | phones | ips | names
    validate: Validator | None = None
    bound: bool = False  # the match must not start in the middle of a word


# --- validators: they only see regex hits, which are rare, so Python cost is fine.

_B64 = Base64HighEntropyString()
_HEX = HexHighEntropyString()
_HEXISH = re.compile(r"[0-9a-fA-F]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# Words that follow "password:"/"token=" in prose and logs but are not secrets.
_STOPWORDS = frozenset(
    "reset changed rotated expired invalid incorrect required missing none null nil true false "
    "empty redacted hidden masked set unset ok yes no undefined default wrong failed denied "
    "refreshed revoked error valid present absent disabled enabled".split()
)
_PASSWORD_KEYS = ("password", "passwd", "pwd", "pass", "passphrase", "contrase")


def _is_reference(v: str) -> bool:
    # ${VAR}, {{ var }}, <token>, %s, ****: points at a secret, is not one.
    return v.startswith(("${", "{{", "<", "%", "$(", "[REDACTED")) or set(v) <= set("*xX.#-")


def entropy(v: str) -> float:
    calc = _HEX if _HEXISH.fullmatch(v) else _B64
    return float(calc.calculate_shannon_entropy(v))


def _high_entropy(v: str) -> bool:
    """Random-looking enough to be a credential; only ever asked next to a key word."""
    if len(v) < 8 or v.lower() in _STOPWORDS or _is_reference(v):
        return False
    if any(c.isdigit() for c in v) and any(c.isalpha() for c in v):
        return True
    return entropy(v) >= 3.0


def _keyword_value(v: str, key: str) -> bool:
    key = key.lower()
    if not v or _is_reference(v) or v.lower() in _STOPWORDS:
        return False
    if re.search(r"[a-z]pass$", key):
        return False  # bypass=, compass:
    if key.endswith("pwd") and v.startswith("/"):
        return False  # $PWD in an environment dump is a directory
    if any(p in key for p in _PASSWORD_KEYS):
        return len(v) >= 3 and not v.isdigit()  # human passwords are short, low-entropy
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


def _phone(v: str, key: str) -> bool:
    return 8 <= sum(c.isdigit() for c in v) <= 15


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


# --- pattern helpers


def ci(words: str) -> str:
    """Case-insensitive by character classes (``[pP][aA]..``), which keep the
    first-character fast path that ``(?i:..)`` loses."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in words)


def _ds(detector: type, idx: int = 0) -> str:
    return str(detector.denylist[idx].pattern)  # type: ignore[attr-defined]


# detect-secrets' key words plus a few it lacks; matched at the END of a key name.
_KW = "|".join(
    ci(w)
    for w in (
        *DENYLIST, "pass", "passphrase", "token", "access_?key", "secret_?key", "signing_?key",
        "encryption_?key", "master_?key", "app_?key", "credentials?", "auth",
    )
)  # fmt: skip
_SEP = r"(?:\\?[\"'])?[ \t]*(?:=>|:=|=|:)[ \t]*"
_AUTH = rf"(?:{ci('proxy-')})?{ci('authorization')}(?:\\?[\"'])?[ \t]*[:=][ \t]*(?:\\?[\"'])?"
_E = r"(?![A-Za-z0-9_])"

SECRET_RULES: list[Rule] = [
    # Consume existing placeholders first: this is what makes redact() idempotent.
    Rule("", r"\[REDACTED:[a-z0-9_]+\]"),
    Rule(
        "private_key",
        r"-----BEGIN[A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]{0,16000}?-----END[A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----"
        r"|(?:\\[nr]|[A-Za-z0-9+/=\s:,.-]){0,16000})",  # truncated block: eat the base64 body
    ),
    Rule("aws_access_key", rf"A(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z0-9]{{16}}{_E}", bound=True),
    Rule(
        "aws_secret_key",
        ci("(?:aws_?secret_?(?:access_?)?key|aws_?secret|secret_?access_?key)")
        +         rf"{_SEP}(?:\\?[\"'])?(?P<v>[A-Za-z0-9/+]{{40}})(?![A-Za-z0-9/+=])",
    ),
    Rule("gcp_private_key_id", r"private_key_id\\?\"\s*:\s*\\?\"(?P<v>[0-9a-f]{40})"),
    Rule(
        "azure_storage_key",
        rf"(?:{ci('account')}|{ci('sharedaccess')}){ci('key')}\s*=\s*(?P<v>[A-Za-z0-9+/=]{{20,}})",
    ),
    Rule("azure_sas", r"SharedAccessSignature\s*=\s*(?P<v>[^;\s\"']+)", validate=_not_placeholder),
    Rule("azure_sas", r"[?&]sig=(?P<v>[A-Za-z0-9%+/=]{16,})"),
    Rule(
        "signed_url",
        r"X-(?:Amz|Goog)-(?:Signature|Credential|Security-Token)=(?P<v>[^&\s\"']+)",
        validate=_not_placeholder,
    ),
    Rule("github_token", rf"(?:gh[pousr]_[A-Za-z0-9]{{36,251}}|github_pat_\w{{22,255}}){_E}", bound=True),
    Rule(
        "gitlab_token",
        r"(?:gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-|GR1348941)[A-Za-z0-9_-]{20,}",
        bound=True,
    ),
    Rule("slack_webhook", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[\w/-]+"),
    Rule("slack_token", r"x(?:ox[abposr]-|app-\d-)[A-Za-z0-9-]{10,}", bound=True),
    Rule("stripe_key", r"(?:[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,})", bound=True),
    Rule("anthropic_key", r"sk-ant-[A-Za-z0-9_-]{20,}", bound=True),
    Rule("openai_key", r"sk-[A-Za-z0-9_-]{20,}", validate=_has_digit, bound=True),
    Rule("google_api_key", rf"AIza[0-9A-Za-z_-]{{35}}{_E}", bound=True),
    Rule("twilio_key", rf"[AS][CK][0-9a-f]{{32}}{_E}", bound=True),
    Rule("sendgrid_key", rf"SG\.[A-Za-z0-9_-]{{22}}\.[A-Za-z0-9_-]{{43}}{_E}", bound=True),
    Rule("npm_token", rf"npm_[A-Za-z0-9]{{36}}{_E}", bound=True),
    Rule("pypi_token", _ds(PypiTokenDetector)),
    Rule("square_token", _ds(SquareOAuthDetector)),
    Rule("mailchimp_key", rf"{_ds(MailchimpDetector)}{_E}", bound=True),
    Rule("telegram_token", rf"{_ds(TelegramBotTokenDetector)}{_E}", bound=True),
    Rule("discord_token", rf"{_ds(DiscordBotTokenDetector)}{_E}", bound=True),
    Rule("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_=-]*){0,3}", bound=True),
    # Header name present: whatever follows the scheme is the credential, tame-looking or not.
    Rule(
        "auth_header",
        rf"{_AUTH}(?:{ci('digest')}|{ci('aws4-hmac-sha256')}|{ci('hmac')})\s+(?P<v>[^\r\n\"'\\]+)",
        validate=_not_placeholder,
    ),
    Rule(
        "auth_header",
        rf"{_AUTH}(?:(?:{ci('bearer|basic|token|bot|apikey|sso-key|negotiate|ntlm')})\s+)?"
        r"(?P<v>[^\s\"'\\,;]+)",
        validate=_not_placeholder,
    ),
    Rule("bearer_token", rf"{ci('bearer')}\s+(?P<v>[A-Za-z0-9._~+/-]{{16,}}=*)", validate=_has_digit),
    Rule("basic_auth", rf"{ci('basic')}\s+(?P<v>[A-Za-z0-9+/]{{8,}}={{0,2}})", validate=_basic_creds),
    Rule(
        "url_password",
        r"[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/?#@\"'<>\[\]]{0,128}:(?P<v>[^\s@/?#\"'<>]{1,256})@",
        validate=_not_placeholder,
    ),
    Rule("cookie", rf"(?:{ci('set-c')}|[cC]){ci('ookie')}[ \t]*:[ \t]*(?P<v>[^\r\n]+)", validate=_cookie),
    # key=value, key: value, "key": "value", \"key\": \"value\" (JSON in JSON), key='value'.
    Rule(
        "keyword",
        rf"(?:{_KW})s?{_SEP}(?:"
        r"\"(?P<v>(?:[^\"\\\r\n]|\\.){1,16000})\""
        r"|\\\"(?P<w>[^\"\\\r\n]{1,4000})\\\""
        r"|'(?P<x>[^'\r\n]{1,4000})'"
        r"|(?P<y>[^\s\"'`,;&)}\]<>\\]+))",
        validate=_keyword_value,
    ),
    Rule(
        "keyword",
        rf"--[\w-]*(?:{ci('password|passwd|token|secret|api-key|apikey')})\s+"
        r"(?P<v>[^\s\"'-][^\s\"']*)",
        validate=_keyword_value,
    ),
    # Key word in prose right before a long random token: "the api key is Zx81...".
    Rule(
        "secret",
        rf"(?:{ci('token|secret|password|passwd|api key|api_key|apikey|access key|credentials')})"
        rf"(?:\s+(?:{ci('is|was|of')}))?[\s:=]+[\"'`]?(?P<v>[A-Za-z0-9+/_=.-]{{16,}})",
        validate=_near_value,
        bound=True,
    ),
]

PII_RULES: list[Rule] = [
    # The lookbehind sits after the first character so the branch keeps its fast
    # first-char check, and only the start of a run of local-part chars is tried.
    Rule(
        "email",
        r"[A-Za-z0-9._%+-](?<![A-Za-z0-9._%+-].)[A-Za-z0-9._%+-]*+@"
        r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])",
        "emails",
        _email,
    ),
    Rule("phone", r"\+\d{1,3}(?:[ .-]?\(\d{1,4}\)|[ .-]?\d{1,4}){2,6}(?![\w.:-]?\d)", "phones", _phone),
    Rule(
        "phone",
        r"(?:1[ .-])?(?:\(\d{3}\)[ ]?\d{3}-|\d{3}(?P<s>[-.])\d{3}(?P=s))\d{4}(?![\w]|[.:-]\d)",
        "phones",
        _phone,
    ),
    Rule(
        "ip",
        r"\d(?<![\w.]\d)\d{0,2}(?:\.\d{1,3}){3}(?![\w]|\.\d)",
        "ips",
        _public_ip,
    ),
    Rule(
        "ip",
        r"[0-9A-Fa-f:](?<![\w:.].)[0-9A-Fa-f]{0,3}:[0-9A-Fa-f:]{1,36}"
        r"(?:\d{1,3}(?:\.\d{1,3}){3})?(?![\w:.])",
        "ips",
        _public_ip,
    ),
]

_GROUP_DEF = re.compile(r"\(\?P<(\w+)>")
_GROUP_REF = re.compile(r"\(\?P=(\w+)\)")


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


def build(rules: list[Rule], names: list[str]) -> tuple[re.Pattern[str], list[Rule]]:
    """One compiled alternation of ``rules`` (plus a rule for ``names``), in priority order."""
    rules = list(rules)
    if names:
        alts = "|".join(ci(re.escape(n)) for n in sorted(names, key=len, reverse=True))
        rules.append(Rule("name", rf"(?:{alts}){_E}", "names", bound=True))
    parts = []
    for i, rule in enumerate(rules):
        # Group names must be unique across the alternation: suffix them with the index.
        pat = _GROUP_DEF.sub(lambda m, i=i: f"(?P<{m.group(1)}{i}>", rule.pattern)  # type: ignore[misc]
        pat = _GROUP_REF.sub(lambda m, i=i: f"(?P={m.group(1)}{i})", pat)  # type: ignore[misc]
        parts.append(f"{pat}(?P<_a{i}>)")
    return re.compile("|".join(parts), re.ASCII), rules
