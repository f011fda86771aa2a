// Sigil console: approvers log in (several identities on one session for dual control), see
// the signing requests they may judge with everything the server records about them, and
// approve or deny. It only calls the JSON API under /api/v1 (docs/https-api.md); the session
// token lives in this page's memory only. Every value from the server is written with
// textContent, never as HTML.
"use strict";

const api = "/api/v1";
let token = null;

const $ = (id) => document.getElementById(id);

function say(text, isError) {
  const message = $("message");
  message.textContent = text || "";
  message.className = isError ? "error" : "";
}

async function call(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(api + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (!response.ok) {
    const code = data && data.error ? data.error.code : String(response.status);
    const text = data && data.error ? data.error.message : response.statusText;
    const error = new Error(code + ": " + text);
    error.code = code;
    throw error;
  }
  return data;
}

// The identities on this session: with several, the approver picks who acts (the API's "as").
let identities = [];

function showSession(view) {
  identities = view.identities;
  const who = view.identities.join(" + ");
  let text = who ? "logged in: " + who : "not logged in";
  if (view.logins_still_required > 0) {
    const waiting = view.pending
      .map((p) => p.role + " needs " + p.more_logins_needed + " more")
      .join(", ");
    text += " (" + waiting + ")";
  }
  $("who").textContent = text;
  $("logout").hidden = !token;
  $("login-title").textContent = token ? "Add a login to this session" : "Log in";
  $("requests-panel").hidden = !token;
}

async function login(event) {
  event.preventDefault();
  const identity = $("identity").value.trim();
  const password = $("password").value;
  $("password").value = "";
  try {
    const view = await call("POST", "/login", { identity, password });
    if (view.session) token = view.session;
    showSession(view);
    $("identity").value = "";
    say(view.logins_still_required > 0
      ? "Logged in. Another holder of the role must log in on this session too."
      : "Logged in.");
    await refresh();
  } catch (error) {
    say(error.message, true);
  }
}

async function logout() {
  try {
    await call("POST", "/logout");
  } catch (_) {
    // The session may have expired already; it is gone either way.
  }
  token = null;
  $("requests").replaceChildren();
  showSession({ identities: [], logins_still_required: 0, pending: [] });
  say("Logged out.");
}

function age(seconds) {
  if (seconds < 120) return seconds + " s";
  if (seconds < 7200) return Math.floor(seconds / 60) + " min";
  if (seconds < 172800) return Math.floor(seconds / 3600) + " h";
  return Math.floor(seconds / 86400) + " days";
}

function field(node, selector, text) {
  node.querySelector(selector).textContent = text === undefined || text === null || text === "" ? "—" : String(text);
}

function render(request) {
  const node = $("request-template").content.firstElementChild.cloneNode(true);
  const m = request.metadata || {};
  field(node, ".file", m.file_name || "(no file name)");
  field(node, ".state", request.state);
  field(node, ".requester", request.requester);
  field(node, ".policy", request.policy);
  field(node, ".format", request.format + " / " + request.hash);
  field(node, ".digest", request.digest);
  field(node, ".size", m.file_size === undefined || m.file_size === null ? "" : m.file_size + " bytes");
  field(node, ".build", m.build_url);
  field(node, ".commit", m.commit);
  // What goes into the signature besides the digest: the approver must see it all.
  field(node, ".description", m.description);
  field(node, ".program-name", m.program_name);
  field(node, ".program-url", m.program_url);
  field(node, ".signer-name", m.signer_name);
  field(node, ".entry-count", m.entry_count === undefined || m.entry_count === null ? "" : m.entry_count + " entries");
  field(node, ".age", age(request.age_secs) + " (expires " + request.expires + ")");
  const approvals = request.approvals
    .map((a) => a.approver + (a.comment ? " (“" + a.comment + "”)" : ""))
    .join(", ");
  field(node, ".approvals", request.approvals.length + " of " + request.approvals_required +
    (approvals ? ": " + approvals : "") +
    (request.approval_group ? " — group " + request.approval_group : ""));
  field(node, ".id", request.id);
  if (request.reason) field(node, ".state", request.state + ": " + request.reason);
  const form = node.querySelector(".decision");
  form.hidden = request.state !== "pending";
  const actor = form.querySelector(".actor");
  actor.parentElement.hidden = identities.length < 2;
  actor.replaceChildren(...identities.map((name) => {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    return option;
  }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter ? event.submitter.value : "approve";
    const comment = form.querySelector(".comment").value;
    if (action === "deny" && !comment.trim()) {
      say("A denial needs a comment: the reason the requester will see.", true);
      return;
    }
    try {
      const body = identities.length < 2 ? { comment } : { comment, as: actor.value };
      const updated = await call("POST", "/requests/" + encodeURIComponent(request.id) + "/" + action, body);
      say("Request " + updated.id + " is now " + updated.state + ".");
      await refresh();
    } catch (error) {
      say(error.message, true);
    }
  });
  return node;
}

async function refresh() {
  if (!token) return;
  const state = $("state-filter").value;
  const query = state ? "?state=" + encodeURIComponent(state) : "";
  try {
    const requests = await call("GET", "/requests" + query);
    $("requests").replaceChildren(...requests.map(render));
    $("empty").hidden = requests.length > 0;
  } catch (error) {
    if (error.code === "NOT_LOGGED_IN") {
      token = null;
      showSession({ identities: [], logins_still_required: 0, pending: [] });
    }
    say(error.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("refresh").addEventListener("click", refresh);
  $("state-filter").addEventListener("change", refresh);
});
