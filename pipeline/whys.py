"""The five whys as code keeps them: the model's answers made to rest on the
causal statements of the evidence (``causes.py``), with code's questions.

A model writes answers and citations; code drops repeated and empty steps,
gives a paraphrase its statement's words back, writes each question from the
answer before, and makes the chain always carry the best statements.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from . import causes as causes_mod
from . import moments as moments_mod
from . import offline
from .cues import cut_off, cut_words, similar
from .models import EvidenceItem
from .schemas import WhyAnswerStep, WhyStep

REPEAT = 0.7  # word overlap above which a why repeats an earlier one
MUST_CITE = 3  # the best causal statements every whys chain rests on
_PLACEHOLDER = re.compile(r"<[a-z][a-z ]+>")
_SPEAKER = re.compile(r"”\s*\([^()]*\)$")


def good_steps(
    steps: Sequence[WhyAnswerStep], ids: dict[str, EvidenceItem], symptom: str = ""
) -> list[WhyStep]:
    """Steps with an answer that does not repeat an earlier one; an answer that
    paraphrased away what its statement says gets the statement's words back.
    Code writes each question from the answer before it (the symptom for the first)."""
    kept: list[WhyStep] = []
    said: list[str] = []
    for s in steps:
        short = len(s.answer.split()) < 3 or _PLACEHOLDER.search(s.answer)
        if short or any(similar(s.answer, a) > REPEAT for a in said):
            continue
        said.append(s.answer)
        cited = [ids[i] for i in s.evidence if i in ids]
        answer = moments_mod.keep_key_words(
            cut_off(s.answer, WhyAnswerStep.max_len("answer")), cited
        )
        question = getattr(s, "question", "")
        if _PLACEHOLDER.search(question) or not question.strip():
            prev = about(kept[-1].answer) if kept else cut_words(symptom, 70)
            question = f"What caused “{prev}”?" if prev else "Why?"
        kept.append(
            WhyStep.model_construct(question=question, answer=answer, evidence=list(s.evidence))
        )
    return kept


def fill(steps: list[WhyStep], causes: list[causes_mod.Cause], symptom: str) -> list[WhyStep]:
    """The model's chain, made to rest on the evidence: the best causal statements
    it left out replace its unsupported steps (no citation, or citing no stated
    cause) and complete a short chain, quoted. A failed step never turns the rest
    into placeholders, and the three best statements are always in the chain."""
    stated = {i for c in causes for i in c.ids}
    used = {i for s in steps for i in s.evidence}
    missing = [c for c in causes[:MUST_CITE] if not set(c.ids) & used]
    spare = [c for c in causes[:5] if not set(c.ids) & used and c not in missing]
    for n in reversed(range(len(steps))):
        if missing and not set(steps[n].evidence) & stated:
            c = missing.pop(0)
            steps[n] = offline.quoted_why(c, about(steps[n - 1].answer) if n else symptom)
    # a full chain that left out one of the best statements gives up its least-ranked step
    rank = {i: r for r, c in enumerate(causes) for i in c.ids}
    while missing and len(steps) >= 5:
        n = max(
            range(len(steps)),
            key=lambda k: min((rank.get(i, 99) for i in steps[k].evidence), default=99),
        )
        if min((rank.get(i, 99) for i in steps[n].evidence), default=99) < MUST_CITE:
            break
        c = missing.pop(0)
        steps[n] = offline.quoted_why(c, about(steps[n - 1].answer) if n else symptom)
    for c in missing + spare:
        if len(steps) >= 5:
            break
        steps.append(offline.quoted_why(c, about(steps[-1].answer) if steps else symptom))
    return steps


def about(answer: str) -> str:
    """An answer as the next question quotes it: without the evidence quote code
    appended to it, the quote marks and the "to confirm" note."""
    head = answer.split(" — “", 1)[0].replace(offline.QUOTE_MARK, "").strip()
    head = _SPEAKER.sub("”", head)  # “...” (Chen Wei)
    return cut_words(head.strip(" “”"), 70)
