"""Secrets recognised by their shape alone, with no key word or prefix beside them.

A bare AWS secret access key (``retrying with wJalrXUtnFEMI/K7MDENG/bPxRfiCY...``)
or a random base64 blob pasted into a log line carries nothing but its own look:
a long run of one base64 alphabet mixing upper case, lower case and digits, with
high Shannon entropy, that is neither words nor encoded text. What merely
resembles one stays readable:

- hex of any length (git SHAs, trace/span/request ids, digests, UUIDs), and
  digests in base64 behind their algorithm (``sha256=``, ``sha512-``, ``SHA256:``);
- ids of one case (k8s pod names, ULIDs, PagerDuty/Slack ids, hostnames);
- paths, URLs, Java class names, versions, timestamps: a token must start a
  word (not right after ``.``, ``/``, ``-``, ``_``, ``@``...) and may not mix the
  standard (``+/``) and URL-safe (``-_``) alphabets;
- identifiers glued from words and digits (``HikariPool1ConnectionTimeout30000ms``):
  most of their characters are in lower-case runs with a vowel (``_WORDY``);
- base64 of text (GitHub node ids, pagination cursors): it decodes to printable text.

Entropy limits: under 32 characters, detect-secrets' ``Base64HighEntropyString``
limit (above 4.5; random 24-character tokens rarely reach it, 28-31 often do).
From 32 characters on, 4.0: random 32-character tokens measured 4.04 at the
lowest (2,000 draws), 40-character ones (AWS secret keys) 4.31, so nearly all
are caught; the word and text filters keep the look-alikes readable.
Measured false positives: ``bench/redaction_bench.py``.

Not caught by shape (a key word or prefix still catches them): tokens under 24
characters or of one case, base64 of text (so a bare base64 ``user:password``
without "Basic" before it), and random ids are masked like keys (an OpenAI
``call_...`` id, a WebSocket accept hash): by shape they are the same thing.
"""

from __future__ import annotations

import base64
import binascii
import re

from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

from pipeline.redact_rules import Rule, entropy

BLOB_ENTROPY = float(Base64HighEntropyString().entropy_limit)  # 4.5, detect-secrets' default
LONG_ENTROPY = 4.0  # from LONG characters on
LONG = 32
MIN_BLOB = 24  # below this, random tokens cannot reach the 4.5 limit anyway
_WORDY = 0.6  # share of characters in word runs: random 24-64 char tokens stay under 0.5-0.62

_HEX = re.compile(r"[0-9a-fA-F]+")
_WORD = re.compile(r"[A-Z]?[a-z]*[aeiou][a-z]*")
_SEPARATORS = re.compile(r"[-_/+]")
_PART = re.compile(r"[A-Z]*[a-z]*[0-9]*")  # "Clause", "HAS", "TLSv1", "2014"
_PATH_WORD = re.compile(r"[A-Z]?[a-z]{2,}[0-9]*|v[0-9]{1,2}")
_HEXISH_CHARS = frozenset("0123456789abcdefABCDEF-_")
# Cheap trigger: the start of every run of 24+ base64/base64url characters
# (possessive, so a short word costs one pass); the token regex then checks
# the boundaries at that start only.
_RUN = rf"[A-Za-z0-9+/_-]{{{MIN_BLOB},}}+"
# The token: a maximal run of base64/base64url characters (optional "=" padding)
# that starts a word (or follows a \n-style escape inside JSON text) and is not
# followed by more word characters or ".x" (a domain or file name goes on).
_TOKEN = (
    r"(?:(?<=\\)[nrt])?"  # the trigger's run may start at the letter of a "\n" escape
    r"(?:(?<=\\[nrt])|(?<![A-Za-z0-9+/_.~%@\\-]))"
    # a digest written in base64 is a file hash: sha256=..., sha512-..., SHA256:... (ssh)
    r"(?<!(?i:md5)[-=:])(?<!(?i:sha1)[-=:])(?<!(?i:sha224|sha256|sha384|sha512)[-=:])"
    r"(?!(?i:md5|sha1|sha224|sha256|sha384|sha512)-)"  # ... and sha512-... (SRI)
    rf"(?P<v>[A-Za-z0-9+/_-]{{{MIN_BLOB},4096}}={{0,2}})"
    r"(?![A-Za-z0-9+/=_~%@-]|\.[A-Za-z0-9])"
)


def _wordy(v: str) -> bool:
    """Words, not noise: mostly lower-case runs of 3+ letters holding a vowel
    (``HikariPool1ConnectionTimeout``), or separated parts that each read as a
    word, an acronym or a number (``BSD-3-Clause``, ``Cryptography_HAS_TLSv1_3``)."""
    upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    words = sum(len(w) for w in _WORD.findall(v) if len(w.lstrip(upper)) >= 3)
    if words >= _WORDY * len(v):
        return True
    parts = _SEPARATORS.split(v)
    if len(parts) > 1 and all(_PART.fullmatch(p) for p in parts if p):
        return True
    # a URL path around one random segment: /api/v1/Orders/G5zPdV0k.../items
    return sum(bool(_PATH_WORD.fullmatch(p)) for p in v.split("/")) >= 2


def _id_like(v: str) -> bool:
    """Hex with a few letters or separators (``20230914T2231Z1b64098b-4ab7-...``),
    or a run of consecutive characters (``ABCDEFGH...``): made, not drawn at random."""
    hexish = sum(c in _HEXISH_CHARS for c in v)
    steps = sum(ord(b) - ord(a) == 1 for a, b in zip(v, v[1:], strict=False))
    return hexish >= 0.85 * len(v) or steps >= 0.5 * len(v)


def _encoded_text(v: str) -> bool:
    """Base64 of printable text (an id like ``MDEyOklzc3VlQ29tbWVudDE=``), not of key bytes."""
    body = v.rstrip("=")
    if len(body) % 4 == 1:
        return False
    decode = base64.urlsafe_b64decode if ("-" in body or "_" in body) else base64.b64decode
    try:
        text = decode(body + "=" * (-len(body) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return all(c.isprintable() or c in "\t\r\n" for c in text)


def _random(v: str) -> bool:
    body = v.rstrip("=")
    if ("+" in body or "/" in body) and ("-" in body or "_" in body):
        return False  # paths with dashes, names with slashes: not one alphabet
    if _HEX.fullmatch(body):
        return False
    mixed = (
        any(c.isupper() for c in body)
        and any(c.islower() for c in body)
        and any(c.isdigit() for c in body)
    )
    if not mixed or _wordy(body) or _id_like(body) or _encoded_text(v):
        return False
    return entropy(v) > (LONG_ENTROPY if len(body) >= LONG else BLOB_ENTROPY)


def _aws_secret(v: str, key: str) -> bool:
    """40 characters of the standard alphabet, no padding: an AWS secret access key."""
    return len(v) == 40 and "-" not in v and "_" not in v and "=" not in v and _random(v)


def _blob(v: str, key: str) -> bool:
    return _random(v)


# Last among the secret rules: a known prefix or key word at the same place wins.
SHAPE_RULES: list[Rule] = [
    Rule("aws_secret_key", _TOKEN, trig=_RUN, validate=_aws_secret),
    Rule("secret", _TOKEN, trig=_RUN, validate=_blob),
]
