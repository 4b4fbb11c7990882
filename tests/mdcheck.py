"""Read Markdown the way a renderer does, to check what evidence text turned into.

markdown-it-py with CommonMark, raw HTML on (so injected HTML shows up as HTML
tokens), GFM tables and strikethrough, and GFM's bare-URL and e-mail autolinks
(linkify-it-py; ``www.`` names, which GFM also links, are checked by hand).
"""

from __future__ import annotations

import re
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

MD = MarkdownIt("commonmark", {"html": True, "linkify": True}).enable(
    ["table", "strikethrough", "linkify"]
)
MD.linkify.set({"fuzzy_link": False})  # GFM links scheme URLs, www. and e-mails only
_WWW = re.compile(r"(?:^|[\s*_~(])www\.[\w-]", re.I)
# inline tokens that no evidence text may produce
FORBIDDEN_INLINE = {"html_inline", "image", "link_open", "s_open", "hardbreak"}


def parse(md: str) -> list[Token]:
    return MD.parse(md)


def inline_children(tokens: list[Token]) -> list[Token]:
    return [c for t in tokens if t.type == "inline" for c in (t.children or [])]


def text_of(children: list[Token]) -> str:
    """What a reader sees: text and code, markup dropped."""
    return "".join(c.content for c in children if c.type in ("text", "code_inline", "softbreak"))


def inline_problems(children: list[Token], *, allow: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    out = [
        f"{c.type}: {c.content or c.attrs}" for c in children if c.type in FORBIDDEN_INLINE - allow
    ]
    out += [
        f"www autolink: {c.content}"
        for c in children
        if c.type == "text" and _WWW.search(c.content)
    ]
    return out


def only_text(md: str, expected: str, *, wrap: tuple[str, str] = ("", "")) -> list[str]:
    """Problems when ``md`` (placed between ``wrap``) is not one paragraph/heading/item
    whose visible text is exactly ``expected``."""
    tokens = parse(wrap[0] + md + wrap[1])
    kids = inline_children(tokens)
    problems = inline_problems(kids)
    bad = [t.type for t in tokens if t.type not in _BLOCKS_OK]
    if bad:
        problems.append(f"block tokens {bad}")
    if sum(1 for t in tokens if t.type == "inline") > 1:
        problems.append("split into several blocks")
    shown = text_of([c for c in kids if c.type in ("text", "code_inline")])
    if shown != expected:
        problems.append(f"shows {shown!r}, expected {expected!r}")
    return problems


_BLOCKS_OK = {
    "paragraph_open", "paragraph_close", "inline", "heading_open", "heading_close",
    "bullet_list_open", "bullet_list_close", "list_item_open", "list_item_close",
    "table_open", "table_close", "thead_open", "thead_close", "tbody_open", "tbody_close",
    "tr_open", "tr_close", "th_open", "th_close", "td_open", "td_close",
}  # fmt: skip


def report_problems(text: str) -> list[str]:
    """Structure of a rendered report that evidence text must not be able to change."""
    tokens = parse(text)
    problems: list[str] = []
    kinds = [t.type for t in tokens]
    for kind in ("html_block", "code_block", "blockquote_open"):
        if kind in kinds:
            problems.append(f"{kind} present")
    fences = [t.info for t in tokens if t.type == "fence"]
    if fences not in ([], ["mermaid"]):
        problems.append(f"fences {fences}")
    if kinds.count("hr") != 1:
        problems.append(f"{kinds.count('hr')} thematic breaks")
    # no list inside a list: evidence can't open a nested list
    depth = 0
    for t in tokens:
        if t.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
            if depth > 1:
                problems.append(f"nested list at line {t.map[0] + 1 if t.map else '?'}")
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
    # links: only the Artifacts autolinks
    section = ""
    for t in tokens:
        if t.type == "inline" and tokens[tokens.index(t) - 1].type == "heading_open":
            section = t.content
        if t.type != "inline":
            continue
        kids = t.children or []
        allow = {"link_open"} if section == "Artifacts" else set()
        problems += [f"{section}: {p}" for p in inline_problems(kids, allow=allow)]
        for c in kids:
            if c.type == "link_open" and (
                c.markup != "autolink" or not str(c.attrs.get("href", "")).startswith("http")
            ):
                problems.append(f"{section}: link {c.markup} {c.attrs}")
    # the evidence table keeps six cells in every row
    rows: list[int] = []
    cells = 0
    for t in tokens:
        if t.type == "tr_open":
            cells = 0
        elif t.type in ("td_open", "th_open"):
            cells += 1
        elif t.type == "tr_close":
            rows.append(cells)
    if not rows or set(rows) != {6}:
        problems.append(f"table rows with {sorted(set(rows))} cells")
    return problems


def headings(text: str) -> list[tuple[int, str]]:
    tokens = parse(text)
    return [
        (int(t.tag[1]), tokens[i + 1].content)
        for i, t in enumerate(tokens)
        if t.type == "heading_open"
    ]


def emphasis(text: str) -> dict[str, Any]:
    """How many strong and em spans the report has (ours are counted by the caller)."""
    kids = inline_children(parse(text))
    return {k: sum(1 for c in kids if c.type == f"{k}_open") for k in ("strong", "em", "s")}
