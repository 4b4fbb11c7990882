"""URLs found in evidence text, cut where a person would cut them.

A URL in a chat line is usually wrapped: in a sentence (``see https://x/y.``),
in parentheses, quotes or a code span (```curl https://x/y```). Like GFM's
autolink rule, trailing punctuation is not part of the URL, and a closing
bracket only belongs to it when it closes one inside it
(``https://en.wikipedia.org/wiki/Rust_(programming_language)``). Characters that
can never appear unencoded in a URL (space, ``<>"`` and backticks, backslash,
``|``) end it.
"""

from __future__ import annotations

import re

_CANDIDATE = re.compile(r"(?i)\bhttps?://[^\s<>\"`\\|]+")
_TRAILING = ".,;:!?'\"*_~"
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_HOST = re.compile(r"(?i)https?://[^/?#\s]*[a-z0-9]")
# what an autolink ``<...>`` may hold in our report: RFC 3986 characters only
_SAFE = re.compile(r"https?://[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")


def trim(url: str) -> str:
    """Drop trailing punctuation and unbalanced closing brackets."""
    while url:
        last = url[-1]
        if last in _TRAILING or (last in _CLOSERS and url.count(_CLOSERS[last]) < url.count(last)):
            url = url[:-1]
            continue
        break
    return url


def find_urls(text: str) -> list[str]:
    """http(s) URLs in ``text``, in order, each cut at the text around it."""
    out: list[str] = []
    for m in _CANDIDATE.finditer(text):
        url = trim(m.group())
        if _HOST.match(url):
            out.append(url)
    return out


def safe_link(url: str) -> bool:
    """True when ``url`` can be written as a Markdown autolink ``<url>`` as is."""
    return bool(_SAFE.fullmatch(url))
