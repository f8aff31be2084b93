// The chat page: sign in (a local user by name, or username, password and MFA code), the user's sessions,
// the conversation of one, and each new turn streamed from the page's server (NDJSON, one event a line).
// The server holds the token; the page keeps only the open session's id, in the URL's fragment.

import { element } from "./markdown.js";
import { TurnView } from "./turn.js";

const $ = (id) => document.getElementById(id);
const TIMELINE_POLL_MS = 400;
const TIMELINE_POLLS = 60;
let config = null;
let session = null; // the open session's id; null: the next turn starts a new one

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, { ...init, credentials: "same-origin" });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(data.message || response.statusText), { data, status: response.status });
  return data;
}

async function boot() {
  config = await api("/api/config");
  $("stage").textContent = `· ${config.stage}`;
  $("model").textContent = `model: ${config.model}`;
  if (config.user) await showChat();
  else showSignIn();
}

function showSignIn() {
  $("chat").hidden = true;
  $("sign-out").hidden = true;
  $("user").textContent = "";
  $("sign-in").hidden = false;
  const users = $("local-users");
  users.replaceChildren();
  if (config.users.length) {
    users.append(element("p", "A local user of the local stage (the same login as scripts/invoke.py --local):"));
    for (const name of config.users) {
      const button = element("button", `Sign in as ${name}`, "user");
      button.type = "button";
      button.dataset.user = name;
      button.addEventListener("click", () => signIn({ username: name }));
      users.append(button);
    }
  } else {
    $("sign-in-form").hidden = false;
  }
}

async function signIn(fields) {
  $("sign-in-problem").textContent = "";
  try {
    config = await api("/api/sign-in", fields);
    $("sign-in-form").reset();
    $("code-field").hidden = true;
    await showChat();
  } catch (error) {
    if (error.data?.code_needed) $("code-field").hidden = false;
    $("sign-in-problem").textContent = error.message;
  }
}

// While a session loads, the ask form and "New session" are disabled: a message typed (or a new session
// opened) then would be replaced by the view that is loading.
function loading(busy) {
  $("ask-fields").disabled = busy;
  $("new-session").disabled = busy;
}

async function showChat() {
  $("sign-in").hidden = true;
  $("chat").hidden = false;
  $("user").textContent = `signed in as ${config.user}`;
  $("sign-out").hidden = false;
  loading(true);
  const listed = await refreshSessions();
  const wanted = new URLSearchParams(location.hash.slice(1)).get("session");
  const chosen = listed.find((s) => s.id === wanted) ?? listed[0];
  if (chosen) await openSession(chosen.id);
  else newSession();
}

async function refreshSessions() {
  const { sessions } = await api("/api/sessions");
  const list = $("sessions");
  list.replaceChildren();
  for (const item of sessions) {
    const button = element("button", undefined, "session");
    button.type = "button";
    button.dataset.session = item.id;
    button.append(element("span", item.title || "(no prompt)", "title"),
      element("span", `${item.turns} turn(s) · ${new Date(item.updated_ms).toLocaleString()}`, "meta"));
    if (item.id === session) button.classList.add("current");
    button.addEventListener("click", () => openSession(item.id));
    const entry = element("li");
    entry.append(button);
    list.append(entry);
  }
  return sessions;
}

function setSession(id) {
  session = id;
  $("session-id").textContent = id ? `session ${id}` : "new session (starts with your first message)";
  history.replaceState(null, "", id ? `#session=${encodeURIComponent(id)}` : location.pathname);
  for (const button of document.querySelectorAll("#sessions button")) {
    button.classList.toggle("current", button.dataset.session === id);
  }
}

function newSession() {
  setSession(null);
  $("conversation").replaceChildren();
  loading(false);
  $("ask").elements.prompt.focus();
}

async function openSession(id) {
  loading(true);
  try {
    const { turns } = await api(`/api/sessions/${encodeURIComponent(id)}`);
    setSession(id);
    const conversation = $("conversation");
    conversation.replaceChildren();
    for (const turn of turns) {
      const view = new TurnView(turn.prompt);
      conversation.append(view.node);
      for (const event of turn.events) view.add(event);
      if (turn.done) {
        view.finish();
        loadTimeline(view, id, turn.turn);
      }
    }
  } finally {
    loading(false); // the session is shown (or failed to load): the form is usable again
  }
}

async function ask(prompt) {
  const view = new TurnView(prompt);
  $("conversation").append(view.node);
  view.node.scrollIntoView({ block: "end" });
  const response = await fetch("/api/turns", {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt, session_id: session }),
  });
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    view.add({ type: "error", error: `HTTP ${response.status}`, message: data.message ?? "" });
    return;
  }
  let turn = null;
  let signedOut = false;
  for await (const event of lines(response)) {
    if (event.type === "session") {
      turn = event.turn;
      if (event.id !== session) setSession(event.id);
    } else {
      view.add(event);
      signedOut ||= Boolean(event.signed_out);
    }
  }
  view.finish();
  if (signedOut) {
    config.user = null;
    showSignIn();
    return;
  }
  await refreshSessions();
  if (turn !== null) loadTimeline(view, session, turn);
}

async function* lines(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffered += decoder.decode(value ?? new Uint8Array(), { stream: !done });
    const parts = buffered.split("\n");
    buffered = parts.pop();
    for (const part of parts) if (part.trim()) yield JSON.parse(part);
    if (done) break;
  }
}

async function loadTimeline(view, id, turn) {
  if (!config.timeline) return view.showTimeline({ status: "unavailable", reason: "not available for a deployed stage (its spans are in CloudWatch)" });
  for (let attempt = 0; attempt < TIMELINE_POLLS; attempt += 1) {
    const timeline = await api(`/api/sessions/${encodeURIComponent(id)}/turns/${turn}/timeline`);
    if (timeline.status !== "pending") return view.showTimeline(timeline);
    await new Promise((resolve) => setTimeout(resolve, TIMELINE_POLL_MS)); // spans arrive a moment after the answer
  }
  return view.showTimeline({ status: "unavailable", reason: "no spans yet" });
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn(Object.fromEntries(new FormData(event.target)));
  });
  $("sign-out").addEventListener("click", async () => {
    await api("/api/sign-out", {});
    config.user = null;
    setSession(null);
    showSignIn();
  });
  $("new-session").addEventListener("click", newSession);
  $("ask").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const prompt = form.elements.prompt.value.trim();
    if (!prompt) return;
    form.elements.prompt.value = "";
    form.querySelector("button").disabled = true;
    try {
      await ask(prompt);
    } finally {
      form.querySelector("button").disabled = false;
    }
  });
  $("ask").elements.prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      event.target.form.requestSubmit();
    }
  });
  boot();
});
