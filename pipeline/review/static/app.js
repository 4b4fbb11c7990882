// The review page. Evidence is hostile text: it only ever goes into the page
// through textContent and input values, never as HTML.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const HORIZONS = [["immediate", "Immediate"], ["medium", "Medium term"], ["long", "Long term"]];
const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function parseIds(value) {
  return value.split(/[\s,;]+/).map((s) => s.trim().toUpperCase()).filter(Boolean);
}

function showEvidence(id) {
  const row = $("ev-" + id);
  document.querySelectorAll("tr.highlight").forEach((r) => r.classList.remove("highlight"));
  if (!row) {
    say("Evidence " + id + " is not in this report.");
    return;
  }
  row.classList.add("highlight");
  // scroll the evidence pane only: the draft being edited stays where it is
  const box = $("evidence-box");
  if (box.scrollHeight > box.clientHeight) {
    const offset = row.getBoundingClientRect().top - box.getBoundingClientRect().top;
    box.scrollTo({ top: box.scrollTop + offset - box.clientHeight / 2, behavior: "smooth" });
  }
  const r = row.getBoundingClientRect();
  if (r.top < 0 || r.bottom > innerHeight) row.scrollIntoView({ behavior: "smooth", block: "center" });
}

// citation buttons under an entry, kept in step with its ids field
function citations(idsInput) {
  const box = el("span", { class: "cites" });
  const draw = () => {
    box.replaceChildren(...parseIds(idsInput.value).map((id) =>
      el("button", { type: "button", class: "cite", text: "[" + id + "]", "data-id": id,
        onclick: () => showEvidence(id) })));
  };
  idsInput.addEventListener("input", draw);
  draw();
  return box;
}

function idsField(ids, label) {
  return el("input", { class: "ids", value: ids.join(", "), "aria-label": label, title: "cited evidence ids" });
}

function timelineItem(t, n) {
  const text = el("textarea", { rows: 2, value: t.text, "aria-label": "timeline entry " + n });
  const ids = idsField(t.evidence, "evidence of timeline entry " + n);
  const verified = el("input", { type: "checkbox", checked: t.verified });
  const li = el("li", { class: t.verified ? "" : "flagged" },
    el("div", { class: "entry-head" }, el("span", { class: "time", text: (t.ts || "").slice(11, 16) }),
      t.verified ? null : el("span", { class: "badge warn", text: "unverified" }),
      el("label", {}, verified, " checked against the evidence"), ids, citations(ids)),
    text);
  li.read = () => ({ text: text.value, evidence: parseIds(ids.value), verified: verified.checked });
  return li;
}

function whyItem(w, n) {
  const q = el("input", { value: w.question, "aria-label": "why " + n + " question" });
  const a = el("textarea", { rows: 2, value: w.answer, "aria-label": "why " + n + " answer" });
  const ids = idsField(w.evidence, "evidence of why " + n);
  const hyp = el("input", { type: "checkbox", checked: w.hypothesis });
  const li = el("li", { class: w.hypothesis ? "flagged" : "" },
    el("div", { class: "entry-head" },
      w.hypothesis ? el("span", { class: "badge warn", text: "hypothesis" }) : null,
      el("label", {}, hyp, " hypothesis (not confirmed)"), ids, citations(ids),
      el("button", { type: "button", class: "small", text: "remove", onclick: () => li.remove() })),
    q, a);
  li.read = () => ({ question: q.value, answer: a.value, evidence: parseIds(ids.value), hypothesis: hyp.checked });
  return li;
}

function actionItem(x, n) {
  const horizon = el("select", { "aria-label": "horizon of action " + n },
    ...HORIZONS.map(([k, label]) => el("option", { value: k, text: label, selected: k === x.horizon })));
  const done = el("input", { type: "checkbox", checked: x.done });
  const text = el("textarea", { rows: 2, value: x.text, "aria-label": "action " + n });
  const ids = idsField(x.evidence, "evidence of action " + n);
  const li = el("li", {},
    el("div", { class: "entry-head" }, horizon, el("label", {}, done, " done"), ids, citations(ids),
      el("button", { type: "button", class: "small", text: "remove", onclick: () => li.remove() })),
    text);
  li.read = () => ({ text: text.value, horizon: horizon.value, done: done.checked, owner: x.owner || null,
    evidence: parseIds(ids.value) });
  return li;
}

function fill(state) {
  const d = state.draft;
  $("page-title").textContent = "Review: " + d.title;
  $("target").textContent = (state.target ? state.target + " · " : "") + d.severity + " · " + state.date +
    " · drafted by " + state.generated_by;
  $("title").value = d.title;
  $("severity").value = d.severity;
  $("status").textContent = "Reflexion: " + state.status;
  $("impact").value = d.impact;
  $("summary").value = d.summary;
  $("timeline").replaceChildren(...d.timeline.map(timelineItem));
  $("whys").replaceChildren(...d.whys.map(whyItem));
  $("actions").replaceChildren(...d.actions.map(actionItem));
  $("context").value = d.reflexion.context;
  $("lesson").value = d.reflexion.lesson;
  $("adjustment").value = d.reflexion.adjustment;
  const lessonFields = ["context", "lesson", "adjustment"].map($);
  const notePlaceholder = () => {
    $("placeholder-note").hidden = !lessonFields.some((f) => f.value.includes(state.placeholder_marker));
  };
  lessonFields.forEach((f) => f.addEventListener("input", notePlaceholder));
  notePlaceholder();
  $("warnings").replaceChildren(...state.warnings.map((w) => el("p", { text: w })));
  if (!state.facts_known) {
    $("warnings").append(el("p", { text: "Read from the report file alone: no computed milestones " +
      "(give --json with the run's --json-out file for the full picture)." }));
  }
  const rows = state.evidence.map((e) => el("tr", { id: "ev-" + e.id, class: e.cited ? "cited" : "" },
    el("td", { text: e.id }),
    el("td", { class: "src", text: e.ts.slice(11, 19) }),
    el("td", { class: "src", text: shortRef(e.ref), title: e.source + " · " + e.ref }),
    el("td", { class: "text", text: e.text + (e.count > 1 ? "  (x" + e.count + ")" : "") })));
  $("evidence").tBodies[0].replaceChildren(...rows);
  $("picture").src = "/api/picture.svg?token=" + encodeURIComponent(token);
}

function shortRef(ref) {
  // app.log:213 rather than /var/tmp/export/app.log:213
  const cut = ref.split(/[\\/]/);
  return cut[cut.length - 1] || ref;
}

function edits() {
  const read = (id) => Array.from($(id).children).map((li) => li.read());
  return {
    title: $("title").value, severity: $("severity").value, impact: $("impact").value,
    summary: $("summary").value, timeline: read("timeline"), whys: read("whys"), actions: read("actions"),
    reflexion: { context: $("context").value, lesson: $("lesson").value, adjustment: $("adjustment").value },
  };
}

function say(text) { $("message").textContent = text; }

async function decide(action) {
  const approver = $("approver").value.trim();
  if (action === "approve" && !approver) {
    say("Approving needs your name.");
    $("approver").focus();
    return;
  }
  say("");
  let res;
  try {
    res = await fetch("/api/decide", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Review-Token": token },
      body: JSON.stringify({ action, approver, edits: edits() }),
    });
  } catch (e) {
    say("The review server is not answering (was it stopped?).");
    return;
  }
  const body = await res.json().catch(() => ({ error: "unexpected answer" }));
  if (!res.ok) {
    say(body.error || "refused");
    return;
  }
  $("main").hidden = true;
  $("warnings").hidden = true;
  $("done").hidden = false;
  $("done-title").textContent = { approved: "Approved", pending: "Saved as pending", rejected: "Rejected" }[body.status];
  $("done-text").textContent = body.written ? "Written: " + body.written : "Nothing was written.";
}

async function start() {
  $("approve").addEventListener("click", () => decide("approve"));
  $("pending").addEventListener("click", () => decide("pending"));
  $("reject").addEventListener("click", () => decide("reject"));
  $("add-why").addEventListener("click", () => $("whys").append(
    whyItem({ question: "Why?", answer: "", evidence: [], hypothesis: true }, $("whys").children.length + 1)));
  $("add-action").addEventListener("click", () => $("actions").append(
    actionItem({ text: "", horizon: "medium", done: false, evidence: [] }, $("actions").children.length + 1)));
  const res = await fetch("/api/report", { headers: { "X-Review-Token": token } });
  if (!res.ok) {
    say((await res.json()).error || "cannot load the report");
    return;
  }
  fill(await res.json());
}

document.addEventListener("DOMContentLoaded", start);
