"""Evidence and model text as Markdown that reads well and edits well by hand.

Technical tokens (identifiers, versions, paths, ``key=value``, flags, URLs,
and whatever the author already put between backticks) go in code spans:
``statement_timeout`` reads as code, not ``statement\\_timeout``. The rest is
prose, escaped only where CommonMark/GFM would misread a character at that
position (an emphasis run that can open or close, a bracket, a tag-like ``<``,
an entity, a leading list or heading marker, ``|`` in a table cell).

The text stays inert whatever it holds: no raw HTML, links, autolinks,
images, headings, list or table breaks, and no way out of a code span (the
fence is always longer than any backtick run inside). ``plain`` reads it back.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Where = Literal["line", "inline", "cell", "heading"]
"""Where the text lands: ``line`` starts a line (a paragraph or a list item's
content), ``inline`` follows our own markup on the line, ``cell`` is a GFM table
cell, ``heading`` ends an ATX heading."""

_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# controls that are not whitespace, zero-width and bidi-override characters:
# they could hide or visually reorder text for the reviewer (ZWJ/ZWNJ stay: scripts need them)
_HIDDEN = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_TICKS = re.compile(r"`+")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")

# --- what counts as a technical token (a whole word, prose punctuation stripped) ---
# URLs, www. names and e-mail addresses: GFM would turn them into links
_LINKISH = re.compile(r"(?i)://|(?:^|[*_~(])www\.|[^\s@]@[\w-]+\.[\w-]|^(?:mailto|xmpp):")
_MARKUP = re.compile(r"[_*`<>\[\]|\\{}=]|\$[A-Za-z_{]")
_VERSION = re.compile(r"v\d+(?:\.\d+)+[\w.+-]*|\d+(?:\.\d+){2,}(?:[-+][\w.+-]*)?", re.I)
_DOTTED = re.compile(r"[A-Za-z_][\w-]+(?:\.[A-Za-z_][\w-]+)+(?::\d+)?")  # app.log:213, db.query
_HOST_PORT = re.compile(r"[A-Za-z][\w.-]*:\d{2,5}")
_PATH = re.compile(r"(?:~|\.{1,2})?/[\w.@%+~-]|[\w.-]+/[\w./-]*\.[A-Za-z]\w*$|[^/]*/[^/]*/")
_FLAG = re.compile(r"--?[A-Za-z][\w-]*(?:=\S*)?")
_CALL = re.compile(r"[\w.:$]+\(.*\)")
_SHORT_FLAG = re.compile(r"-[A-Za-z]")
_COMMAND = re.compile(r"(?:^| )([a-z][\w.-]*) $")  # a lowercase word right before a flag
_LEAD = "([\"'“‘«*~"
_TRAIL = ".,;:!?)]\"'”’»*~"
_PAIRS = {")": "(", "]": "["}


def clean(text: object) -> str:
    """One line: whitespace runs (newlines included) become one space, hidden characters go."""
    return " ".join(_HIDDEN.sub("", str(text)).split())


def shorten(text: str, limit: int, *, at_word: bool = False) -> str:
    """At most ``limit`` characters, ending in "…" when cut (``at_word``: no half word)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if at_word and text[limit - 1] != " " and " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,.-—" if at_word else " ") + "…"


def technical(word: str) -> bool:
    """True for a token that reads best as code: ``pg_stat_activity``, ``v3.8.1``,
    ``/var/lib/postgresql``, ``max=40``, ``--dry-run``, ``orders(created_at)``, URLs."""
    if not any(c.isalnum() for c in word):
        return False
    return bool(
        _LINKISH.search(word)
        or _MARKUP.search(word)
        or _PATH.match(word)
        or any(r.fullmatch(word) for r in (_VERSION, _DOTTED, _HOST_PORT, _FLAG, _CALL))
    )


def code(text: str, *, cell: bool = False) -> str:
    """A code span holding ``text`` exactly; nothing inside can close it early."""
    body = text.replace("|", "\\|") if cell else text  # GFM splits cells even inside code
    fence = "`" * (max((len(r) for r in _TICKS.findall(body)), default=0) + 1)
    edge = body[:1] + body[-1:]
    pad = " " if "`" in edge or edge == "  " else ""  # CommonMark strips one space each side
    return f"{fence}{pad}{body}{pad}{fence}"


def _authored_spans(text: str) -> list[tuple[bool, str]]:
    """(is_code, text) pieces: the text's own code spans, paired as CommonMark pairs
    backtick runs (a run closes at the next run of the same length)."""
    runs = list(_TICKS.finditer(text))
    out: list[tuple[bool, str]] = []
    pos = i = 0
    while i < len(runs):
        opener = runs[i]
        j = next((k for k in range(i + 1, len(runs)) if len(runs[k][0]) == len(opener[0])), None)
        if j is None:
            i += 1  # an unpaired run is literal text
            continue
        inner = text[opener.end() : runs[j].start()].strip()
        if inner:
            out += [(False, text[pos : opener.start()]), (True, inner)]
            pos = runs[j].end()
        i = j + 1
    return [*out, (False, text[pos:])]


def visible(text: object) -> str:
    """What a reader sees of ``inline(text)``: the clean line minus its own code marks."""
    return "".join(piece for _, piece in _authored_spans(clean(text)))


def _split_word(word: str) -> tuple[str, str, str]:
    """Prose punctuation around a token: ``(v3.8.1,`` -> ``(``, ``v3.8.1``, ``,``.
    A closing bracket stays when it closes one inside the token: ``now()``."""
    start = 0
    while start < len(word) and word[start] in _LEAD:
        start += 1
    end = len(word)
    while end > start:
        c = word[end - 1]
        core = word[start:end]
        if c in _PAIRS and core.count(_PAIRS[c]) >= core.count(c):
            break
        if c not in _TRAIL:
            break
        end -= 1
    return word[:start], word[start:end], word[end:]


def _tokens(text: str) -> list[tuple[bool, str]]:
    """(is_code, text) pieces of one clean line; neighbouring code words merge."""
    out: list[tuple[bool, str]] = []

    def add(is_code: bool, piece: str) -> None:
        if not piece:
            return
        if out and out[-1][0] == is_code:
            out[-1] = (is_code, out[-1][1] + piece)
        elif is_code and len(out) >= 2 and out[-1][1] == " " and out[-2][0]:
            out[-2:] = [(True, out[-2][1] + " " + piece)]  # `max=40 waiting=64`
        elif is_code and _SHORT_FLAG.match(piece) and out and (cmd := _COMMAND.search(out[-1][1])):
            # a short flag takes the command before it: `rm -rf /tmp`, not rm `-rf /tmp`
            before = out.pop()[1][: cmd.start(1)]
            add(False, before)
            add(True, cmd[1] + " " + piece)  # merges with code right before, if any
        else:
            out.append((is_code, piece))

    for is_code, piece in _authored_spans(text):
        if is_code:
            add(True, piece)
            continue
        for word in re.split(r"( )", piece):
            lead, core, trail = _split_word(word)
            if core and technical(core):
                add(False, lead)
                add(True, core)
                add(False, trail)
            else:
                add(False, word)
    return out


def _punct(c: str) -> bool:
    return unicodedata.category(c)[0] in "PS"


def _can_delimit(run: str, before: str | None, after: str | None) -> bool:
    """CommonMark's flanking rules: can this ``*``/``_``/``~`` run open or close emphasis?
    ``None`` is an edge where our own markup may sit: assume the worst."""
    if before is None or after is None:
        return True
    left = not after.isspace() and (not _punct(after) or before.isspace() or _punct(before))
    right = not before.isspace() and (not _punct(before) or after.isspace() or _punct(after))
    if run[0] == "_":
        return (left and (not right or _punct(before))) or (right and (not left or _punct(after)))
    return left or right


def _prose(s: str, before: str | None, after: str | None, *, cell: bool) -> str:
    """Backslash-escape what Markdown would misread in ``s`` between these neighbours."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        nxt = s[i + 1] if i + 1 < n else after
        if c in "*_~":
            j = i
            while j < n and s[j] == c:
                j += 1
            run = s[i:j]
            prev = s[i - 1] if i else before
            out.append(
                re.sub(r"(.)", r"\\\1", run)
                if _can_delimit(run, prev, s[j] if j < n else after)
                else run
            )
            i = j
            continue
        if (
            c in "[]`"
            or (c == "\\" and (nxt is None or nxt in _ASCII_PUNCT))
            or (c == "<" and (nxt is None or nxt.isalpha() or nxt in "/!?"))
            or (c == "&" and _ENTITY.match(s, i))
            or (c == "|" and cell)
        ):
            out.append("\\")
        out.append(c)
        i += 1
    return "".join(out)


# "-" always: after our "- " marker even "--" would make a thematic break
_BLOCK_START = re.compile(r"[#>-]|\+(?= |$)")
_ORDERED = re.compile(r"(\d{1,9})([.)])(?= |$)")


def inline(text: object, *, at: Where = "line", limit: int | None = None) -> str:
    """``text`` as one line of inert Markdown, technical tokens in code spans."""
    one = clean(text)
    if limit is not None:
        one = shorten(one, limit)
    pieces = _tokens(one)
    parts: list[str] = []
    for k, (is_code, piece) in enumerate(pieces):
        if is_code:
            parts.append(code(piece, cell=at == "cell"))
            continue
        before = "`" if k else None  # a prose piece sits between code spans or at an edge
        after = "`" if k + 1 < len(pieces) else None
        parts.append(_prose(piece, before, after, cell=at == "cell"))
    md = "".join(parts)
    if at == "line" and pieces and not pieces[0][0]:
        if _BLOCK_START.match(md):
            md = "\\" + md
        md = _ORDERED.sub(r"\1\\\2", md, count=1) if _ORDERED.match(md) else md
    if at == "heading":
        md = re.sub(r"(?<= )#(?=#*$)", r"\\#", md)  # a closing sequence would be dropped
    return md


def prose(text: object) -> str:
    """``text`` escaped as prose, with no code spans: for the tool's own words
    (the footer's versions and method names read as plain text)."""
    return _prose(clean(text), None, None, cell=False)


def plain(md: str, *, drop_strong: bool = False) -> str:
    """The text of one line of our Markdown: escapes undone, code spans unwrapped
    (the inverse of ``inline``); ``drop_strong`` also drops ``**``/``__`` markers."""
    out: list[str] = []
    i, n = 0, len(md)
    while i < n:
        c = md[i]
        if c == "\\" and i + 1 < n and md[i + 1] in _ASCII_PUNCT:
            out.append(md[i + 1])
            i += 2
        elif c == "`":
            run = _TICKS.match(md, i)
            assert run is not None
            close = next((m for m in _TICKS.finditer(md, run.end()) if m[0] == run[0]), None)
            if close is None:
                out.append(run[0])
                i = run.end()
                continue
            body = md[run.end() : close.start()]
            if len(body) > 1 and body[0] == body[-1] == " " and body.strip():
                body = body[1:-1]
            out.append(body)
            i = close.end()
        elif drop_strong and md.startswith(("**", "__"), i):
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)
