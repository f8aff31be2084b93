// One turn on the page: the prompt, the answer as it streams (text and tool calls in the order they came),
// a refused tool call shown as a refusal, errors, the token usage with its estimated cost and the span
// timeline. Everything the agent sent is untrusted and goes in as text (or through renderMarkdown).

import { element, renderMarkdown } from "./markdown.js";

export class TurnView {
  constructor(prompt) {
    this.node = element("li", undefined, "turn");
    this.node.append(element("p", prompt, "prompt"));
    this.answer = element("div", undefined, "answer");
    this.footer = element("footer", undefined, "turn-footer");
    this.node.append(this.answer, this.footer);
    this.text = null; // the text segment being streamed into: {node, source}
    this.pending = []; // tool cards waiting for their result
  }

  add(event) {
    if (typeof event === "string") return this.addText(event);
    switch (event.type) {
      case "text": return this.addText(String(event.text ?? ""));
      case "tool": return this.pending.push(this.toolCard(event.name));
      case "tool_result": return this.fillTool(event);
      case "usage": return this.showUsage(event);
      case "error": return this.showError(event);
      default: return undefined;
    }
  }

  addText(delta) {
    if (!this.text) {
      this.text = { node: element("div", undefined, "text"), source: "" };
      this.answer.append(this.text.node);
    }
    this.text.source += delta;
    this.text.node.replaceChildren(renderMarkdown(this.text.source));
  }

  toolCard(name) {
    this.text = null; // text after the call is a new segment
    const card = element("details", undefined, "tool running");
    card.open = true;
    const summary = element("summary");
    summary.append(element("span", "tool", "label"), element("code", String(name ?? "?"), "tool-name"));
    card.status = element("span", "running…", "badge");
    summary.append(card.status);
    card.append(summary);
    card.toolName = name;
    this.answer.append(card);
    return card;
  }

  fillTool(event) {
    const index = this.pending.findIndex((card) => card.toolName === event.name);
    const card = index >= 0 ? this.pending.splice(index, 1)[0] : this.toolCard(event.name);
    card.classList.remove("running");
    if (event.refusal) {
      card.classList.add("refused");
      card.status.textContent = `refused: ${event.refusal}`;
    } else if (event.failure) {
      card.classList.add("failed");
      card.status.textContent = `failed: ${event.failure}`;
    } else {
      card.classList.add("ok");
      card.status.textContent = "ok";
    }
    card.append(element("h4", "Arguments"), element("pre", pretty(event.input), "arguments"));
    const result = pretty(event.content) + (event.truncated ? "\n… (cut short by the agent)" : "");
    card.append(element("h4", "Result"), element("pre", result, "result"));
  }

  showUsage(event) {
    const cost = Number(event.estimated_usd ?? 0);
    const usage = element("p", undefined, "usage");
    usage.append(
      element("span", `${event.totalTokens} tokens`, "tokens"),
      ` (${event.inputTokens} in, ${event.outputTokens} out) · `,
      element("span", `≈ $${cost.toFixed(6)}`, "cost"),
      " at the stage's configured prices",
    );
    this.footer.prepend(usage);
  }

  showError(event) {
    const problem = element("p", undefined, "problem");
    problem.append(element("strong", String(event.error ?? "error")), `: ${event.message ?? ""}`);
    this.answer.append(problem);
  }

  finish() {
    this.text = null;
    for (const card of this.pending.splice(0)) {
      card.classList.remove("running");
      card.status.textContent = "no result";
    }
  }

  showTimeline(timeline) {
    const box = element("details", undefined, "timeline");
    const summary = element("summary", "Timeline");
    box.append(summary);
    if (timeline.status !== "ready") {
      summary.textContent = `Timeline: ${timeline.reason ?? timeline.status}`;
      this.footer.append(box);
      return;
    }
    const spans = timeline.spans;
    const total = Math.max(1, ...spans.map((s) => s.start_ms + s.duration_ms));
    const tools = spans.filter((s) => s.kind === "tool" && s.name.startsWith("execute_tool")).length;
    const model = spans.filter((s) => s.name === "chat").length; // the agent's span of each model call
    summary.textContent = `Timeline: ${total.toFixed(0)} ms, ${model} model call(s), ${tools} tool call(s), ${spans.length} spans`;
    const rows = element("ol", undefined, "spans");
    for (const span of spans) {
      const row = element("li", undefined, `span ${span.kind}${span.error ? " error" : ""}`);
      const name = element("span", span.name, "span-name");
      name.style.paddingLeft = `${span.depth * 0.9}em`;
      const track = element("span", undefined, "track");
      const bar = element("span", undefined, "bar");
      bar.style.left = `${(100 * span.start_ms) / total}%`;
      bar.style.width = `${Math.max(0.4, (100 * span.duration_ms) / total)}%`;
      track.append(bar);
      row.append(element("span", span.kind, "kind"), name, track, element("span", `${span.duration_ms} ms`, "ms"));
      rows.append(row);
    }
    box.append(rows);
    box.open = true;
    this.footer.append(box);
  }
}

function pretty(value) {
  if (value === undefined || value === null) return "";
  if (typeof value !== "string") return JSON.stringify(value, null, 2);
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}
