"""Draft quality by construction: causal statements, the pinned timeline floor,
title and slug cutting, per-pack id enums, concurrency against an endpoint."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline import api, causes, llm, moments, offline, whys
from pipeline.facts import compute
from pipeline.models import Evidence, EvidenceItem, ReviewDecision, TimelineEntry
from pipeline.schemas import SummaryAnswer, for_pack
from pipeline.slug import MAX_SLUG, slugify
from tests import fakes
from tests.conftest import MINI

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _msg(n: int, minute: int, actor: str, text: str, kind: str = "message") -> EvidenceItem:
    return EvidenceItem(
        id=f"E{n}",
        ts=T0 + timedelta(minutes=minute),
        source="transcript",
        kind=kind,  # type: ignore[arg-type]
        actor=actor,
        text=text,
        ref=f"chat.txt:{n}",
    )


CHAT = [
    _msg(1, 0, "ana", "deploying search-api v4.2 now"),
    _msg(2, 3, "ana", "hmm, search is returning 502 for everyone, this is not right"),
    _msg(3, 4, "bo", "lol"),
    _msg(4, 5, "bo", "thanks!"),
    _msg(5, 6, "ana", "rolling back to v4.1"),
    _msg(6, 9, "bo", "what changed in the config?"),
    _msg(7, 12, "ana", "turns out the new pool size limit was set to 0 in `search.yaml`"),
    _msg(8, 13, "ana", "which is why every request was rejected"),
    _msg(9, 15, "bo", "rollback worked, search is back to normal"),
    _msg(10, 16, "bo", "maybe it was the cache? no, not the cache, rule that out"),
    _msg(11, 20, "ana", "I've closed the incident. we should add a config lint for pool sizes"),
]


def _evidence(items: list[EvidenceItem]) -> Evidence:
    return Evidence(items=items, budget_tokens=6000, tokens=100, total_events=len(items))


def test_causal_statements_are_found_ranked_and_quoted_with_context() -> None:
    ev = _evidence(CHAT)
    found = causes.collect(ev.items, compute(ev))
    texts = [c.text for c in found]
    # the stated cause ranks first; a continuation line carries the line it continues
    assert "turns out the new pool size limit" in texts[0]
    joined = next(c for c in found if "which is why" in c.text)
    assert joined.ids == ("E7", "E8") or "E7" in texts[0]
    # questions, pleasantries and retracted guesses are not causes
    assert not any("what changed" in t or "lol" in t or "not the cache" in t for t in texts)


def test_offline_whys_quote_the_statements_with_citations() -> None:
    ev = _evidence(CHAT)
    found = causes.collect(ev.items, compute(ev))
    whys = offline.offline_whys(found, "search-api returned 502")
    assert whys and all(w.evidence for w in whys)
    assert all(offline.QUOTE_MARK in w.answer for w in whys)
    assert "pool size limit" in " ".join(w.answer for w in whys)
    assert not any(w.answer == offline.OFFLINE_WHY for w in whys)


def test_no_causal_statement_leaves_one_honest_question() -> None:
    whys = offline.offline_whys([], "checkout errors")
    assert len(whys) == 1 and whys[0].answer == offline.OFFLINE_WHY


def test_chat_only_facts_and_pinned_moments() -> None:
    ev = _evidence(CHAT)
    facts = compute(ev)
    # no alert: detection is the first report of the symptom, resolution is stated in chat
    assert facts.detected.evidence == ["E2"]
    assert facts.resolved.evidence == ["E11"]
    chosen = moments.select(ev.items, facts)
    ids = [m.item.id for m in chosen]
    for must in (
        "E1",
        "E2",
        "E5",
        "E7",
        "E9",
        "E11",
    ):  # change, symptom, rollback, cause, fix, close
        assert must in ids
    assert "E3" not in ids and "E4" not in ids  # "lol", "thanks!"
    assert all(m.pinned for m in chosen if m.item.id in ("E5", "E9", "E11"))
    rollback = next(m for m in chosen if m.item.id == "E5")
    assert rollback.label.startswith("Rollback — ana:") and "v4.1" in rollback.label


def test_floor_puts_back_dropped_moments_and_keeps_key_words() -> None:
    ev = _evidence(CHAT)
    chosen = moments.select(ev.items, compute(ev))
    model = [TimelineEntry(ts=CHAT[4].ts, text="Engineer rolled back", evidence=["E5"])]
    out = moments.floor(model, chosen)
    assert {m.item.id for m in chosen} <= {i for e in out for i in e.evidence}
    assert [e.ts for e in out] == sorted(e.ts for e in out)
    # an entry citing a moment 30 minutes away does not stand for it
    far = TimelineEntry(ts=CHAT[0].ts, text="deploy and rollback", evidence=["E1", "E11"])
    assert any(e.evidence == ["E11"] for e in moments.floor([far], chosen))
    # a paraphrase that dropped the specifics gets the quote back; a wrong label does not
    kept = moments.keep_key_words("The pool was misconfigured", [CHAT[6]])
    assert "search.yaml" in kept or "pool size limit" in kept
    assert moments.keep_key_words("Cosmic rays", [CHAT[6]]) == "Cosmic rays"


@pytest.mark.parametrize(
    "title",
    [
        "API latency spike on api-gateway caused by a statement_timeout for the analytics role",
        "x" * 200,
        "short title",
    ],
)
def test_title_and_slug_are_cut_at_a_word(title: str) -> None:
    cut = offline.cut_title(title)
    assert len(cut) <= offline.MAX_TITLE
    assert title.startswith(cut)
    if " " in title[: offline.MAX_TITLE] and len(title) > offline.MAX_TITLE:
        assert title[len(cut)] == " "  # ends where a word ended
    slug = slugify(title)
    assert len(slug) <= MAX_SLUG
    words = "-".join(title.lower().replace("_", "-").split())
    assert words.startswith(slug)
    if len(words) > MAX_SLUG and "-" in words[:MAX_SLUG]:
        assert words[len(slug)] == "-"  # the slug ends where a word ended


def test_slug_of_the_reported_bad_title() -> None:
    slug = slugify(
        "API latency spike on api-gateway caused by a statement_timeout for the analytics"
    )
    assert slug == "api-latency-spike-on-api-gateway-caused-by-a-statement"
    assert not slug.endswith("-b")


def test_summary_prose_has_no_pleasantries() -> None:
    text = "Latency recovered after the query was killed. Resolved in PD too. Thanks all :pray:"
    assert (
        offline.no_pleasantries(text)
        == "Latency recovered after the query was killed. Resolved in PD too."
    )


def test_pack_schemas_enumerate_ids_and_reject_others() -> None:
    pack = for_pack(["E3", "E7"])
    assert pack.whys.__name__ == "WhysAnswer" and pack.timeline.__name__ == "TimelineAnswer"
    ok = {"whys": [{"question": "Why?", "answer": "pool limit 0", "evidence": ["E7"]}]}
    assert pack.whys.model_validate(ok).whys[0].evidence == ["E7"]
    bad = {"whys": [{"question": "Why?", "answer": "pool limit 0", "evidence": ["E9"]}]}
    with pytest.raises(ValueError):
        pack.whys.model_validate(bad)
    schema = json.dumps(pack.actions.model_json_schema())
    assert '"enum": ["E3", "E7"]' in schema


def test_llama_cpp_grammar_really_applies_the_pack_schemas() -> None:
    """llama.cpp falls back to free JSON, silently, when it cannot convert a
    schema: every section schema must convert, with the ids as alternatives."""
    grammar_mod = pytest.importorskip("llama_cpp.llama_grammar", reason="local extra not installed")
    pack = for_pack(["E3", "E7"])
    for model in (pack.summary, pack.timeline, pack.whys, pack.actions, pack.reflexion):
        gbnf = grammar_mod.json_schema_to_gbnf(json.dumps(model.model_json_schema()))
        assert "root ::=" in gbnf
        if '"enum": ["E3", "E7"]' in json.dumps(model.model_json_schema()):
            assert '"\\"E3\\"" | "\\"E7\\""' in gbnf  # an enum, not a free string


def _openai_backend(url: str) -> llm.ChatBackend:
    p = llm.PROFILES["openai"]
    return llm.ChatBackend("openai:fake", llm._openai_chat("fake", url, "fake-test-key", p), p)


def test_sections_run_concurrently_against_an_endpoint(tmp_path: Path) -> None:
    """2 s per call: the whys chain first (it also finds the structured-output
    method), then header, timeline, actions and reflexion at once: two calls."""
    per_call = 2.0
    with fakes.fake_openai_server([fakes.Fault(delay=per_call) for _ in range(20)]) as srv:
        backend = _openai_backend(srv.url)
        started = time.monotonic()
        report = api.draft_report(
            [str(MINI)],
            backend,
            options=api.Options(cache_dir=tmp_path / "c"),
            reviewer=lambda d: ReviewDecision(status="approved", approver="t"),
        )
        wall = time.monotonic() - started
        n = len(srv.requests)
    assert n == 5
    assert wall < 3 * per_call, f"{wall:.1f}s for {n} calls of {per_call}s"
    assert report.draft.whys and report.draft.timeline and not report.draft.notes


def test_local_profile_sends_json_object_schema_with_ids_and_bounds(tmp_path: Path) -> None:
    p = llm.PROFILES["fake-local"]
    bad = fakes.Fault(args={"entries": [{"evidence": ["E999"], "text": "invented"}]})
    with fakes.fake_openai_server(by_schema={"TimelineAnswer": [bad]}) as srv:
        chat = llm._openai_chat("fake", srv.url, "local", p)
        backend = llm.ChatBackend("local:fake", chat, p, llm.RetryPolicy(max_wait_s=0.01))
        report = api.draft_report(
            [str(MINI)],
            backend,
            options=api.Options(cache_dir=tmp_path / "c"),
            reviewer=lambda d: ReviewDecision(status="approved", approver="t"),
        )
        reqs = list(srv.requests)
    assert all("tools" not in r for r in reqs)
    for r in reqs:
        rf = r["response_format"]
        assert rf["type"] == "json_object" and "schema" in rf
        assert 0 < r["max_tokens"] <= 600
    timeline_schema = next(
        json.dumps(r["response_format"]["schema"])
        for r in reqs
        if r["response_format"]["schema"].get("title") == "TimelineAnswer"
    )
    assert '"enum": ["E' in timeline_schema
    # the unknown id was rejected and re-asked; nothing in the report cites it
    assert any("That answer was rejected" in json.dumps(r["messages"]) for r in reqs)
    assert all("E999" not in e.evidence for e in report.draft.timeline)


def test_code_owns_impact_title_and_prose_of_a_weak_header(tmp_path: Path) -> None:
    pasted = "api-gateway upstream timeout after=5000ms; db pool exhausted max=40 waiting=64"

    def responder(schema: str, prompt: str, n: int) -> object:
        if schema == "SummaryAnswer":
            ev = " ".join(t for _i, _k, t in fakes._evidence(prompt)[:6])
            return {
                "title": "Latency of the API went up a lot for everyone caused by a statement timeout",
                "severity": "SEV-2",
                "impact": "Some requests were slow.",
                "summary": (ev + " " + pasted)[:590],
            }
        if schema == "ActionsAnswer":
            return {
                "immediate": [{"text": "<what was done to stop the impact>", "done": True}],
                "medium": [{"text": "Add an index on orders(created_at)", "done": False}],
                "long": [],
            }
        return fakes.answer_for(schema, prompt)

    backend = llm.fake_backend(fakes.ScriptedChat(responder=responder))
    report = api.draft_report(
        [str(MINI)],
        backend,
        options=api.Options(cache_dir=tmp_path / "c"),
        reviewer=lambda d: ReviewDecision(status="approved", approver="t"),
    )
    d = report.draft
    service = offline.user_facing_service(report.facts, report.evidence) or ""
    dur = offline.duration(report.facts) or ""
    assert service and d.impact.startswith(service) and dur in d.impact
    assert len(d.title) <= offline.MAX_TITLE and not d.title.endswith(" a")
    assert "This draft was written by code" in d.summary  # pasted lines: code's summary
    assert [a.text for a in d.actions] == ["Add an index on orders(created_at)"]


def test_auto_takes_the_local_model_only_where_it_was_measured_better(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipeline import local_llm

    monkeypatch.setattr(local_llm, "local_available", lambda: True)
    monkeypatch.setattr(llm, "AUTO_LOCAL", False)
    assert llm.resolve_backend("auto") == "offline"
    monkeypatch.setattr(llm, "AUTO_LOCAL", True)
    assert llm.resolve_backend("auto") == "local"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert llm.resolve_backend("auto") == "openai"


def test_model_chain_always_rests_on_the_best_causal_statements() -> None:
    from pipeline.schemas import WhyStep

    ev = _evidence(CHAT)
    found = causes.collect(ev.items, compute(ev))
    weak = [
        WhyStep(question="Why?", answer="Search broke after the deploy of v4.2", evidence=["E1"]),
        WhyStep(question="Why?", answer="The team was unlucky that day", evidence=[]),
    ]
    chain = whys.fill(list(weak), found, "search-api returned 502")
    cited = {i for w in chain for i in w.evidence}
    assert set(found[0].ids) <= cited  # the stated cause is in the chain
    assert chain[0] == weak[0]  # a step citing evidence stays
    assert not any(
        w.answer == "The team was unlucky that day" for w in chain
    )  # unsupported gave way
    assert len(chain) <= 5


def test_padded_citations_do_not_move_a_moment_in_time() -> None:
    from pipeline import draft

    def responder(schema: str, prompt: str, n: int) -> object:
        if schema == "TimelineAnswer":
            label = "Ana closed the incident and asked for a config lint"
            return {"entries": [{"evidence": ["E1", "E11"], "text": label}]}
        return fakes.answer_for(schema, prompt)

    ev = _evidence(CHAT)
    backend = llm.fake_backend(fakes.ScriptedChat(responder=responder))
    d = draft.draft(ev, compute(ev), backend)
    entry = next(e for e in d.timeline if e.text.startswith("Ana closed"))
    assert entry.evidence == ["E11"] and entry.ts == CHAT[10].ts  # not the deploy at 09:00
    assert any(e.evidence == ["E1"] for e in d.timeline)  # the deploy keeps its own entry


def test_verdicts_back_a_cause_and_questions_do_not_explain_failures() -> None:
    chat = [
        _msg(
            1, 0, "gus", "Defender quarantined `gen_snapshot.exe` after unpacking windows-x64.zip"
        ),
        _msg(
            2, 10, "gus", "I submitted it at normal priority because I didn't have the ID numbers"
        ),
        _msg(
            3,
            20,
            "gus",
            "My money is on Defender falsely flagging the file, and them updating definitions",
        ),
        _msg(4, 30, "gus", "so did I test the right thing?"),
        _msg(5, 31, "gus", "Because this was the original artifact we found the problem in"),
        _msg(
            6,
            90,
            "gus",
            'both the automated "No malware detected" and the analyst "Not malware" verdict',
        ),
    ]
    found = causes.collect(chat, compute(_evidence(chat)))
    ids = [c.ids for c in found]
    assert found[0].ids == ("E3",)  # the stated cause leads
    assert ("E6",) in ids  # the verdict backs it up
    # why someone did something, and a "because" answering one's own question, are not causes
    assert all("E2" not in i and "E5" not in i for i in ids)


def test_one_message_logged_by_two_components_is_one_statement() -> None:
    logs = [
        _msg(
            1,
            0,
            "",
            "UTC [4453] app@orders ERROR: canceling statement due to statement timeout",
            "log",
        ),
        _msg(
            2,
            1,
            "",
            "orders-service pq: canceling statement due to statement timeout (SQLSTATE 57014)",
            "log",
        ),
        _msg(3, 2, "", "orders-service db pool exhausted max=40 waiting=64", "log"),
    ]
    found = causes.collect(logs, compute(_evidence(logs)))
    assert sum("canceling statement" in c.text for c in found) == 1
    assert any("pool exhausted" in c.text for c in found)


def test_stated_causes_are_pinned_and_merges_do_not_hide_a_moment() -> None:
    ev = _evidence(CHAT)
    facts = compute(ev)
    chosen = moments.select(ev.items, facts, causes=["E8"])
    pinned = next(m for m in chosen if m.item.id == "E8")
    assert pinned.pinned and pinned.kind == "cause"
    # a model entry that cites E7 and E9 together but only speaks of the rollback has dropped E7
    merged = TimelineEntry(
        ts=CHAT[8].ts, text="Rollback worked, search back to normal", evidence=["E9", "E7"]
    )
    out = moments.floor([merged], chosen)
    assert any(e.evidence == ["E7"] for e in out)
    # a label with nothing of its moment in it does not cover it either
    wrong = TimelineEntry(ts=CHAT[8].ts, text="very interesting lmao", evidence=["E9"])
    assert any(
        e.evidence == ["E9"] and "back to normal" in e.text for e in moments.floor([wrong], chosen)
    )


def test_a_title_cut_short_does_not_end_on_a_dangling_word() -> None:
    cut = offline.cut_title(
        "gen_snapshot.exe quarantined caused by MS Defender falsely flagging the file again"
    )
    assert not cut.lower().endswith((" the", " by", " caused"))


def test_follow_up_lists_become_action_hints() -> None:
    chat = [
        _msg(1, 0, "go", "One thing: how can we do better in this situation? some thoughts:"),
        _msg(2, 1, "go", "a) Get non corp win machines for the security team."),
        _msg(3, 1, "go", "b) Document the process to audit an artifact"),
        _msg(4, 2, "hx", "signing the binaries would have let us narrow where we were looking"),
        _msg(5, 30, "hx", "a) unrelated list item much later"),
    ]
    hints = [i for i, _ in compute(_evidence(chat)).action_hints]
    assert hints == ["E2", "E3", "E4"]


def test_plans_and_questions_are_not_labelled_as_done() -> None:
    from pipeline.cues import excerpt, kinds

    assert "mitigation" not in [
        k for k, _ in kinds("please don't paste creds, we'll have to rotate that")
    ]
    assert "mitigation" in [k for k, _ in kinds("rotated the key and restarted the pods")]
    question = _msg(1, 0, "gus", "anyone know if the staging k8s upgrade is still on for tomorrow?")
    assert moments.label(question).startswith("Question — gus:")
    # a short cut keeps the telling sentence, not the "ok." that happens to fit
    assert "rollback" in excerpt("ok. noting 14:14 rollback of api-gateway to v3.8.0", None, 40)


def test_a_full_chain_gives_way_to_the_best_statement_it_left_out() -> None:
    from pipeline.schemas import WhyStep

    items = [
        _msg(1, 0, "", "api-gateway upstream timeout upstream=orders after=5000ms", "log"),
        _msg(2, 1, "", "orders-service db pool exhausted max=40 waiting=64", "log"),
        _msg(3, 2, "", "canceling statement due to statement timeout on orders", "log"),
        _msg(
            4,
            20,
            "chen",
            "turns out the report job was pointed at the primary instead of the replica",
        ),
        _msg(5, 30, "chen", "the retry policy retried 57P01 on orders-db, that's why it came back"),
    ]
    found = causes.collect(items, compute(_evidence(items)))
    best = set(found[0].ids)
    assert best == {"E4"}
    # five steps, each citing some stated cause, none the best one
    full = [
        WhyStep(question="", answer=f"step {n} about orders", evidence=[i])
        for n, i in enumerate(["E1", "E2", "E3", "E5", "E2"])
    ]
    chain = whys.fill(list(full), found, "HighLatency on api-gateway")
    assert len(chain) == 5 and best <= {i for w in chain for i in w.evidence}
    # the next question quotes the answer, not the evidence quote or speaker code added
    assert whys.about(
        "“pool size limit set to 0” (ana) (quoted from the evidence, to confirm)"
    ) == ("pool size limit set to 0")
    assert (
        whys.about("pool limit was 0 — “turns out the new pool size limit”") == "pool limit was 0"
    )


def test_proposals_are_not_done_and_log_lines_are_not_titles() -> None:
    from pipeline import draft

    def responder(schema: str, prompt: str, n: int) -> object:
        if schema == "ActionsAnswer":
            item = {"text": "Add a config lint for pool sizes", "done": True, "evidence": ["E11"]}
            done = {"text": "Roll back search-api to v4.1", "done": True, "evidence": ["E5"]}
            return {"immediate": [item, done], "medium": [], "long": []}
        if schema == "SummaryAnswer":
            ans = dict(fakes.answer_for(schema, prompt))  # type: ignore[call-overload]
            ans["title"] = "search caused by UTC [4453] app@orders ERROR: canceling"
            return ans
        return fakes.answer_for(schema, prompt)

    ev = _evidence(CHAT)
    d = draft.draft(ev, compute(ev), llm.fake_backend(fakes.ScriptedChat(responder=responder)))
    acts = {a.text: a.done for a in d.actions}
    assert acts["Add a config lint for pool sizes"] is False  # E11 only proposed it
    assert acts["Roll back search-api to v4.1"] is True
    assert "[4453]" not in (d.title or "") and "ERROR" not in (d.title or "")


def test_a_watchdog_never_keeps_an_incident_open_nor_joins_the_timeline() -> None:
    def alert(n: int, minute: int, kind: str, name: str) -> EvidenceItem:
        it = _msg(n, minute, "", f"{name}: something", kind)
        return it.model_copy(update={"attrs": {"alertname": name}, "severity": "critical"})

    items = [
        alert(1, -600, "alert_firing", "Watchdog"),
        alert(2, 0, "alert_firing", "CoreDNSErrorsHigh"),
        alert(3, 30, "alert_resolved", "CoreDNSErrorsHigh"),
    ]
    facts = compute(_evidence(items))
    assert facts.status == "Resolved" and [a.name for a in facts.alerts] == ["CoreDNSErrorsHigh"]
    assert "E1" not in [m.item.id for m in moments.select(items, facts)]


def test_the_chain_goes_from_failures_down_to_what_ran_out_then_to_what_people_said() -> None:
    items = [
        _msg(1, 0, "", "container coredns OOMKilled (exit code 137, limit 170Mi)", "log"),
        _msg(
            2,
            1,
            "",
            "upstream call failed: lookup search-index on 10.96.0.10:53: i/o timeout",
            "log",
        ),
        _msg(3, 20, "farah", "turns out the query log change in PR #2207 doubled coredns memory"),
    ]
    found = causes.collect(items, compute(_evidence(items)))
    assert [c.ids for c in causes.chain(found)] == [("E2",), ("E1",), ("E3",)]


def test_someone_recognising_the_change_behind_it_states_a_cause() -> None:
    chat = [
        _msg(1, 0, "ali", "coredns is returning SERVFAIL for 6% of requests"),
        _msg(2, 9, "bo", "oh no. that's my PR #2207: it enabled the log plugin and set cache 3600"),
    ]
    found = causes.collect(chat, compute(_evidence(chat)))
    assert [c.ids for c in found][:1] == [("E2",)]


def test_an_answer_cut_by_its_length_bound_ends_on_a_whole_sentence() -> None:
    from pipeline.cues import cut_off

    cut = "The cause was a Defender update. The team signed the binaries. The state is still a"
    assert (
        cut_off(cut, len(cut)) == "The cause was a Defender update. The team signed the binaries."
    )
    # not at the bound: left alone, whatever its last word
    assert cut_off("Latency rose on api-gateway for", 120) == "Latency rose on api-gateway for"
    # one long sentence at the bound: cut at a word, marked
    long = "api-gateway requests timed out because the orders database pool was exhausted by"
    assert cut_off(long, len(long)).endswith("…") and len(cut_off(long, len(long))) < len(long)
    assert SummaryAnswer.max_len("summary") == 420


def test_a_title_that_pastes_a_chat_line_gives_way_to_codes() -> None:
    from pipeline import draft
    from pipeline.cues import cut_off

    item = EvidenceItem(
        id="E1",
        ts=datetime(2026, 2, 10, 14, 25, tzinfo=UTC),
        source="slack",
        kind="message",
        actor="chen",
        text="ugh, that's the new cohort revenue report in analytics-worker",
        ref="chat.txt:1",
    )
    assert draft._pasted(
        "api-gateway HighLatency caused by ugh, that's the new cohort revenue",
        [item],
        run=5,
        share=0,
        min_runs=1,
    )
    assert not draft._pasted(
        "API latency from an unbounded analytics report", [item], run=5, share=0, min_runs=1
    )
    # "e.g." does not end a sentence
    act = "Set a statement_timeout for the analytics role, e.g. `ALTER ROLE analytics SET statement_timeout = 60s`"
    assert not cut_off(act, len(act)).endswith("e.g.")
