// Validate Mermaid diagram texts with the real mermaid parser (no browser).
//
//   node check.mjs < diagrams.json      # stdin: JSON array of diagram texts
//   node check.mjs a.mmd report.md ...  # files: a .md file contributes each ```mermaid block,
//                                       # any other file is one diagram
//
// Prints one JSON object per diagram on its own line, in input order:
//   {"index":0,"source":"<stdin>[0]","ok":true,"type":"flowchart-v2"}
//   {"index":1,"source":"<stdin>[1]","ok":false,"error":"Parse error on line 2: ..."}
// A journey also reports what the parser made of it, since a stray ":" still parses
// (as another task split): "journey":{"title":"...","tasks":[{"section","task","score","people"}]}
// Exit status: 0 all parsed, 1 at least one parse error, 2 bad input/usage.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

// mermaid sanitizes labels with DOMPurify, which needs a window at import time:
// install a jsdom window as the global one BEFORE importing mermaid.
const { window } = new JSDOM("<!DOCTYPE html><html><body></body></html>");
globalThis.window = window;
globalThis.document = window.document;
for (const name of ["Element", "HTMLElement", "Node", "DOMParser", "DocumentFragment", "NodeFilter", "NamedNodeMap"]) {
  if (!(name in globalThis) && window[name]) globalThis[name] = window[name];
}
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });

function fences(markdown) {
  const out = [];
  const re = /^```mermaid[ \t]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (let m; (m = re.exec(markdown)); ) out.push(m[1]);
  return out;
}

function inputs() {
  const args = process.argv.slice(2);
  if (args.length === 0) {
    const raw = readFileSync(0, "utf8");
    const data = JSON.parse(raw);
    if (!Array.isArray(data) || !data.every((d) => typeof d === "string")) {
      throw new Error("stdin must be a JSON array of strings");
    }
    return data.map((text, i) => ({ source: `<stdin>[${i}]`, text }));
  }
  const items = [];
  for (const path of args) {
    const text = readFileSync(path, "utf8");
    if (path.endsWith(".md")) {
      fences(text).forEach((t, i) => items.push({ source: `${path}#${i}`, text: t }));
    } else {
      items.push({ source: path, text });
    }
  }
  return items;
}

let items;
try {
  items = inputs();
} catch (e) {
  process.stderr.write(`check.mjs: ${e.message}\n`);
  process.exit(2);
}

let failed = 0;
for (const [index, { source, text }] of items.entries()) {
  let result;
  try {
    const parsed = await mermaid.parse(text);
    result = { index, source, ok: true, type: parsed.diagramType };
    if (parsed.diagramType === "journey") {
      const { db } = await mermaid.mermaidAPI.getDiagramFromText(text);
      const tasks = db.getTasks().map(({ section, task, score, people }) => ({ section, task, score, people }));
      result.journey = { title: db.getDiagramTitle(), tasks };
    }
  } catch (e) {
    failed += 1;
    result = { index, source, ok: false, error: String(e?.message ?? e) };
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}
process.exitCode = failed ? 1 : 0;
