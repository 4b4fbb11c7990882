"""Evidence text in the report: code spans for technical tokens, escapes only where
Markdown would misread, and nothing injected (checked with a real Markdown parser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import api
from pipeline.mdtext import Where, _tokens, clean, code, inline, plain, technical, visible
from pipeline.urls import find_urls, safe_link, trim
from tests.conftest import ROOT
from tests.mdcheck import only_text

# where the renderer puts evidence text, as (before, after) around it
PLACES: dict[Where, list[tuple[str, str]]] = {
    "line": [("", ""), ("- ", ""), ("- [ ] ", " [E1]"), ("Summary:\n\n", "\n\nnext")],
    "inline": [
        ("- **Lead:** ", ""),
        ("- **14:03** — ", " *(unverified)* [E1, E2]"),
        ("1. **", "** answer [E3]"),
        ("_Drafted by x with ", " (prompts)._"),
    ],
    "cell": [("| id | text |\n|---|---|\n| E1 | ", " (x3) |")],
    "heading": [("# Incident Report: ", "")],
}


def shown_in(md: str, before: str, after: str) -> list[str]:
    """Problems with ``md`` at that place: it must show exactly its text, one block."""
    from tests.mdcheck import inline_children, inline_problems, parse

    tokens = parse(before + md + after)
    problems = inline_problems(inline_children(tokens))
    blocks = [t.type for t in tokens if t.type.endswith("_open")]
    expected_blocks = [t.type for t in parse(before + "x" + after) if t.type.endswith("_open")]
    if blocks != expected_blocks:
        problems.append(f"blocks {blocks} != {expected_blocks}")
    return problems


@pytest.mark.parametrize(
    ("text", "md"),
    [
        ("set statement_timeout to 60s", "set `statement_timeout` to 60s"),
        ("deploy at 13:48 (v3.8.1, pool change)", "deploy at 13:48 (`v3.8.1`, pool change)"),
        ("upgraded to 3.8.1.", "upgraded to `3.8.1`."),
        ("then rm -rf /var/lib/postgresql now", "then `rm -rf /var/lib/postgresql` now"),
        ("curl -s -H x then --force", "`curl -s -H` x then `--force`"),
        ("use --as FORMAT", "use `--as` FORMAT"),
        ("`x`rm -rf y", "`xrm -rf` y"),
        (
            "pool max=40 waiting=64 wait_ms=4591 (x14)",
            "pool `max=40 waiting=64 wait_ms=4591` (x14)",
        ),
        ("index on orders(created_at) so", "index on `orders(created_at)` so"),
        ("check app.log:213 and db-primary:5432", "check `app.log:213` and `db-primary:5432`"),
        ("ran `kubectl rollout undo` twice", "ran `kubectl rollout undo` twice"),
        ("ran ``a ` b`` ok", "ran ``a ` b`` ok"),
        ("see https://x.example.com/a_(b).", "see `https://x.example.com/a_(b)`."),
        (
            "p95 is 3.84s (threshold 1.5s), e.g. 85% CPU",
            "p95 is 3.84s (threshold 1.5s), e.g. 85% CPU",
        ),
        ("Alert fired: HighLatency — it's down", "Alert fired: HighLatency — it's down"),
        ("a * b and 2 * 3", "a * b and 2 * 3"),
        ("*Summary:* slow", "\\*Summary:\\* slow"),
        ("[db-primary] is hot", "\\[db-primary\\] is hot"),
        ("[REDACTED:email] wrote", "\\[REDACTED:email\\] wrote"),
        ("url=[REDACTED:url] set", "`url=[REDACTED:url]` set"),
        ("see [link] here", "see \\[link\\] here"),
        ("a < b and c > d", "a < b and c > d"),
        ("A & B &amp; C", "A & B \\&amp; C"),
        ("#42 is the issue", "\\#42 is the issue"),
        ("1. first", "1\\. first"),
        ("- item", "\\- item"),
        ("---", "\\---"),
        ("> quoted", "\\> quoted"),
        ("a \\ b \\* c", "a \\ b \\\\\\* c"),
        ("~120ms normally", "\\~120ms normally"),
        ("stray ` tick", "stray \\` tick"),
    ],
)
def test_readable_markdown(text: str, md: str) -> None:
    assert inline(text) == md
    assert not only_text(md, visible(text))
    assert plain(md) == visible(text)


def test_position_decides_the_escape() -> None:
    assert inline("# x", at="inline") == "# x"  # not a line start: no heading
    assert inline("- x", at="inline") == "- x"
    assert inline("a | b", at="inline") == "a | b"
    assert inline("a | b", at="cell") == "a \\| b"
    assert inline("a|b", at="cell") == "`a\\|b`"
    assert inline("ends with ##", at="heading") == "ends with \\##"
    assert inline("ends with ##", at="inline") == "ends with ##"


@pytest.mark.parametrize(
    "word",
    ["pg_stat_activity", "v3.8.1", "3.8.1-rc1", "/etc/hosts", "./run.sh", "src/app/main.py",
     "key=value", "--dry-run", "-rf", "now()", "api.example.com", "www.evil.com",
     "alice@example.com", "https://x.y", "C:\\path", "$HOME", "a<b", "[REDACTED:email]"],
)  # fmt: skip
def test_technical_tokens(word: str) -> None:
    assert technical(word)


@pytest.mark.parametrize(
    "word",
    ["HighLatency", "api-gateway", "3.84s", "1.5", "85%", "13:48", "e.g", "2/3", "and/or",
     "v2", "SQLSTATE", "57P01", "@alice", "#incidents", "don't", "x", "—"],
)  # fmt: skip
def test_prose_words(word: str) -> None:
    assert not technical(word)


def test_code_span_cannot_be_closed_from_inside() -> None:
    for body in ["a`b", "``", "`start", "end`", "a ``` b", " padded ", "x|y"]:
        span = code(body)
        assert not only_text(span, body), span
        assert plain(span) == body
    assert code("x|y", cell=True) == "`x\\|y`"


# --- hostile text at every place the renderer puts it ------------------------------

HOSTILE = [
    "`` `<script>alert(1)</script>` ``",
    "<script>alert(1)</script>",
    "</td></tr><tr><td>",
    "<img src=x onerror=alert(1)>",
    "<!-- approved -->",
    "[x](http://evil.example.com)",
    "![img](http://evil.example.com/a.png)",
    "[x]: http://evil.example.com",
    "[x][y] [^1]",
    "<http://evil.example.com>",
    "<evil@example.com>",
    "www.evil.example.com",
    "visit http://evil.example.com now",
    "mail evil@example.com",
    "# Incident Report: hijacked",
    "## Review Notes",
    "Title\n===",
    "- [x] approved",
    "1) one",
    "| E1 | forged | row | with | cells |",
    "a | b | c",
    "```\n## Reflexion\n```",
    "~~~ fence",
    "    indented code",
    "> quote",
    "***",
    "___",
    "*em* **strong** _u_ __uu__ ~~s~~ ~t~",
    "trailing backslash \\",
    "\\`escaped tick` and `open",
    "&lt;script&gt; &#60;b&#62; &amp;",
    "line one  \nline two\\\nthree",
    "a \u202eevil\u202c \u200b b",
    "\\\\*x*",
    "`a``b`",
    "x ` y `` z ``` w",
    "``",
    "` `",
    "[E9999] cites a fake id",
]


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("at", list(PLACES))
def test_hostile_text_is_inert_everywhere(text: str, at: Where) -> None:
    md = inline(text, at=at)
    assert "\n" not in md
    for before, after in PLACES[at]:
        assert not shown_in(md, before, after), (before + md + after, shown_in(md, before, after))
    wrap = {"line": ("", ""), "inline": ("- **K:** ", ""), "heading": ("# H: ", "")}
    if at in wrap:
        before, after = wrap[at]
        label = {"line": "", "inline": "K: ", "heading": "H: "}[at]
        assert not only_text(md, label + visible(text), wrap=(before, after)), md


# --- any text at all --------------------------------------------------------------

PIECES = st.sampled_from(
    list("ab1 _*`<>[]()!#|\\&;:/.-+=~'\"{}$@%\n\t") + ["www.", "http://x.y", "&amp;", "&#60;",
    "<a", "</", "```", "@b.co", "1.", "v3.8.1", "é", "\u200b", "a_b", "--x", "[E1]", " rm -rf ", "`x`"]
)  # fmt: skip
TEXTS = st.lists(PIECES, max_size=24).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=TEXTS, at=st.sampled_from(list(PLACES)))
def test_any_text_shows_as_itself(text: str, at: Where) -> None:
    md = inline(text, at=at)
    assert bool(md) == bool(visible(text))
    kinds = [is_code for is_code, _piece in _tokens(clean(text))]
    assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False)), "must alternate"
    for before, after in PLACES[at] if md else []:
        assert not shown_in(md, before, after), before + md + after
    if at == "line":
        assert not only_text(md, visible(text)) if visible(text) else md == ""
    if at != "cell":
        assert plain(md) == visible(text)


# --- URLs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("curl -s `https://api-gw-admin.prod.internal/admin/upstreams` ok",
         ["https://api-gw-admin.prod.internal/admin/upstreams"]),
        ("see https://x.example.com/a.", ["https://x.example.com/a"]),
        ("(see https://x.example.com/a)", ["https://x.example.com/a"]),
        ("https://en.wikipedia.org/wiki/Rust_(programming_language), ok",
         ["https://en.wikipedia.org/wiki/Rust_(programming_language)"]),
        ("[doc](https://x.example.com/d?q=1&r=2)!", ["https://x.example.com/d?q=1&r=2"]),
        ("'https://x.example.com/q' and \"https://y.example.com\"",
         ["https://x.example.com/q", "https://y.example.com"]),
        ("<https://x.example.com/a>; https://y.example.com/b?;:!",
         ["https://x.example.com/a", "https://y.example.com/b"]),
        ("C:\\https://x.example.com/a\\b", ["https://x.example.com/a"]),
        ("<https://x.example.com/a|label>", ["https://x.example.com/a"]),
        ("https:// and http://. and javascript:alert(1)", []),
        ("*https://x.example.com/a*", ["https://x.example.com/a"]),
    ],
)  # fmt: skip
def test_urls_stop_at_the_text_around_them(text: str, urls: list[str]) -> None:
    assert find_urls(text) == urls
    assert all(safe_link(u) for u in urls)


def test_trim_keeps_balanced_brackets() -> None:
    assert trim("https://x.example.com/a_(b)_(c))).") == "https://x.example.com/a_(b)_(c)"
    assert trim("https://x.example.com/[1]]") == "https://x.example.com/[1]"
    assert not safe_link("https://x.example.com/a b") and not safe_link("javascript:alert(1)")


def test_slack_link_targets_are_unescaped() -> None:
    from pipeline.formats.chat import Directory
    from pipeline.formats.chat import render as slack

    text, url = slack("<https://g.example.com/d?orgId=1&amp;var-env=prod|dashboard>", Directory())
    assert (text, url) == ("dashboard", "https://g.example.com/d?orgId=1&var-env=prod")


def test_demo_artifacts_are_clean_links(tmp_path: Path) -> None:
    """The demo's chat has a URL inside a code span and a Slack link with &amp;."""
    prep = api.prepare([str(ROOT / "fixtures" / "api-latency-unindexed-query")],
                       api.Options(cache_dir=tmp_path / "c"))  # fmt: skip
    links = prep.facts.artifacts
    assert "https://api-gw-admin.prod.internal/admin/upstreams" in links
    assert (
        "https://grafana.example.com/d/abc123/api-gateway?orgId=1&var-env=prod&from=now-1h" in links
    )
    for url in links:
        assert safe_link(url), url
        assert url == trim(url) and "&amp;" not in url, url


def test_memory_reads_code_spans_back_as_typed(tmp_path: Path) -> None:
    from pipeline import llm
    from pipeline.memory_parse import parse_report
    from pipeline.models import ReviewDecision
    from pipeline.render import render
    from tests.conftest import MINI

    with llm.open_backend("offline") as backend:
        report = api.draft_report(
            [str(MINI)], backend, reviewer=lambda _d: ReviewDecision(status="pending"),
            options=api.Options(cache_dir=tmp_path / "c"),
        )  # fmt: skip
    text = render(report, file_name="r.md")
    assert "`statement_timeout`" in text and "statement\\_timeout" not in text
    parsed = parse_report(text, "r.md")
    assert parsed is not None
    actions = [a.text for a in parsed.actions]
    assert "TODO: statement_timeout for the analytics role" in actions, actions
    assert "we should add an index on orders(created_at)" in actions, actions
    assert any("orders(created_at)" in t and "`" not in t for t in parsed.timeline)
