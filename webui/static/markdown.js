// Untrusted text (model output, tool results, stored notes) as DOM, never as HTML: a small Markdown subset
// (paragraphs, headings, lists, code, bold, italics, links) built node by node with textContent, so no
// markup in the text can become an element or run. Links open only http(s) URLs; any other target
// (javascript:, data:, ...) stays text. Why not a library: a Markdown library renders to an HTML string,
// which would then need a sanitizer and an innerHTML sink (the page's Trusted Types policy forbids both).

const SAFE_URL = /^https?:\/\/[^\s]+$/i;
const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|(\[[^\]]+\]\([^)\s]+\))/;

export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const lines = String(text).split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const code = [];
      for (i += 1; i < lines.length && !lines[i].startsWith("```"); i += 1) code.push(lines[i]);
      i += 1;
      const pre = element("pre");
      pre.append(element("code", code.join("\n")));
      fragment.append(pre);
    } else if (/^#{1,4} /.test(line)) {
      const level = line.indexOf(" ");
      const heading = element(`h${Math.min(level + 2, 6)}`);
      heading.append(inline(line.slice(level + 1)));
      fragment.append(heading);
      i += 1;
    } else if (/^\s*([-*]|\d+\.) /.test(line)) {
      const list = element(/^\s*\d/.test(line) ? "ol" : "ul");
      for (; i < lines.length && /^\s*([-*]|\d+\.) /.test(lines[i]); i += 1) {
        const item = element("li");
        item.append(inline(lines[i].replace(/^\s*([-*]|\d+\.) /, "")));
        list.append(item);
      }
      fragment.append(list);
    } else if (line.trim() === "") {
      i += 1;
    } else {
      const paragraph = element("p");
      for (let first = true; i < lines.length && isPlain(lines[i]); i += 1, first = false) {
        if (!first) paragraph.append(element("br"));
        paragraph.append(inline(lines[i]));
      }
      fragment.append(paragraph);
    }
  }
  return fragment;
}

function isPlain(line) {
  return line.trim() !== "" && !line.startsWith("```") && !/^#{1,4} /.test(line) && !/^\s*([-*]|\d+\.) /.test(line);
}

function inline(text) {
  const fragment = document.createDocumentFragment();
  let rest = text;
  for (let match = INLINE.exec(rest); match; match = INLINE.exec(rest)) {
    fragment.append(rest.slice(0, match.index));
    const token = match[0];
    if (match[1]) fragment.append(element("code", token.slice(1, -1)));
    else if (match[2]) fragment.append(wrap("strong", token.slice(2, -2)));
    else if (match[3]) fragment.append(wrap("em", token.slice(1, -1)));
    else fragment.append(link(token));
    rest = rest.slice(match.index + token.length);
  }
  fragment.append(rest);
  return fragment;
}

function link(token) {
  const [, label, url] = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(token);
  if (!SAFE_URL.test(url)) return document.createTextNode(token); // shown as written, never followed
  const anchor = element("a", label);
  anchor.href = url;
  anchor.rel = "noopener noreferrer nofollow";
  anchor.target = "_blank";
  anchor.title = url;
  return anchor;
}

function wrap(tag, text) {
  const node = element(tag);
  node.append(inline(text));
  return node;
}

export function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}
