// Sigil console: approvers log in (several identities on one session for dual control), see
// the releases and signing requests they may judge with everything the server records about
// them, and approve or deny (a release in one decision); administrators unlock, disable and
// enable identities. It only calls the JSON API under /api/v1 (docs/https-api.md); the
// session token lives in this page's memory only. Every value from the server is written with
// textContent, never as HTML; the only link made from data is a build URL whose scheme is
// https:.
"use strict";

const api = "/api/v1";
// How often the lists are re-read while logged in, and after how long without any input the
// page stops re-reading (so an unattended console lets its session expire).
const POLL_MS = 4000;
const IDLE_MS = 10 * 60 * 1000;

const NO_SESSION = { identities: [], logins_still_required: 0, pending: [], permissions: [] };

let token = null;
// The last session view: identities, logins_still_required, pending, permissions.
let session = NO_SESSION;
let loginPanelOpen = true;
let poller = null;
let lastInput = Date.now();
let refreshing = false;
let refreshAgain = false;
// Metadata of requests by id (fixed once submitted), for the files of releases: read from
// the lists, and once per file not in them. Forgotten on logout.
const metadataById = new Map();

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

function can(permission) {
  return session.permissions.includes(permission);
}

// Shows who is logged in, what the session still needs, and which panels apply. The login
// panel folds away once every role on the session is complete; "Add a login" reopens it.
function showSession(view) {
  session = view;
  const who = view.identities.join(" + ");
  $("who").textContent = who ? "logged in: " + who : "not logged in";
  const incomplete = view.logins_still_required > 0;
  const waiting = view.pending
    .map((p) => "role " + p.role + " needs " + p.more_logins_needed + " more login(s)")
    .join(", ");
  $("session-incomplete").hidden = !token || !incomplete;
  $("session-incomplete").textContent = "This session is incomplete: " + waiting +
    ". Another holder of the role logs in below, on this same session.";
  if (!token || incomplete) loginPanelOpen = true;
  $("login-panel").hidden = !loginPanelOpen;
  $("login-title").textContent = token ? "Add a login to this session" : "Log in";
  $("login-fold").hidden = !token || incomplete;
  $("add-login").hidden = !token || loginPanelOpen;
  $("logout").hidden = !token;
  $("requests-panel").hidden = !token;
  $("admin-panel").hidden = !token || !can("admin:identities");
  if (!can("admin:identities")) $("identities").replaceChildren();
  $("audit-panel").hidden = !token || !can("audit:read");
  if (!can("audit:read")) $("audit").replaceChildren();
}

function foldLogin(open) {
  loginPanelOpen = open;
  showSession(session);
  if (open) $("identity").focus();
}

function endSession(text, isError) {
  token = null;
  if (poller !== null) clearInterval(poller);
  poller = null;
  // The next person at this browser starts with the default filters and none of the names
  // this session saw.
  for (const id of ["requests", "releases", "identities", "audit", "policies-seen", "requesters-seen"]) {
    $(id).replaceChildren();
  }
  $("filters").reset();
  metadataById.clear();
  $("updated").textContent = "";
  showSession(NO_SESSION);
  say(text, isError);
}

async function login(event) {
  event.preventDefault();
  const identity = $("identity").value.trim();
  const password = $("password").value;
  $("password").value = "";
  try {
    const view = await call("POST", "/login", { identity, password });
    if (view.session) token = view.session;
    $("identity").value = "";
    loginPanelOpen = view.logins_still_required > 0;
    showSession(view);
    say(view.logins_still_required > 0
      ? "Logged in as " + identity + ". The session is not complete yet."
      : "Logged in as " + identity + ".");
    if (poller === null) poller = setInterval(poll, POLL_MS);
    await refresh();
  } catch (error) {
    // Adding a login to a session that has expired meanwhile: start afresh.
    if (error.code === "NOT_LOGGED_IN" && token) endSession(error.message + " Log in again.", true);
    else say(error.message, true);
  }
}

async function logout() {
  try {
    await call("POST", "/logout");
  } catch (_) {
    // The session may have expired already; it is gone either way.
  }
  endSession("Logged out.");
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

// A build URL is a link only when it is https: (never javascript:, data:, http: …); the link
// target is the parsed URL, the text the value as recorded.
function link(node, selector, url) {
  const cell = node.querySelector(selector);
  let parsed = null;
  try {
    parsed = typeof url === "string" ? new URL(url) : null;
  } catch (_) {
    parsed = null;
  }
  if (parsed === null || parsed.protocol !== "https:") {
    field(node, selector, url);
    return;
  }
  const a = document.createElement("a");
  a.href = parsed.href;
  a.rel = "noopener noreferrer";
  a.target = "_blank";
  a.textContent = url;
  cell.replaceChildren(a);
}

function size(bytes) {
  return bytes === undefined || bytes === null ? "" : bytes + " bytes";
}

function approvalsText(item) {
  const approvals = item.approvals
    .map((a) => a.approver + (a.comment ? " (“" + a.comment + "”)" : ""))
    .join(", ");
  return item.approvals.length + " of " + item.approvals_required +
    (approvals ? ": " + approvals : "") +
    (item.approval_group ? " — group " + item.approval_group : "");
}

function stateText(item) {
  if (item.state === "denied" && item.denied_by) {
    return "denied by " + item.denied_by + ": " + (item.reason || "");
  }
  return item.reason ? item.state + ": " + item.reason : item.state;
}

// The approve/deny form of a request or release: one action decides the whole item.
function decision(node, item, path, noun) {
  const form = node.querySelector(".decision");
  form.hidden = item.state !== "pending";
  const actor = form.querySelector(".actor");
  actor.parentElement.hidden = session.identities.length < 2;
  actor.replaceChildren(...session.identities.map((name) => {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    return option;
  }));
  // Enter in the comment would press the first button (Approve): a decision is a click.
  form.querySelector(".comment").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      say("Click Approve or Deny to decide.");
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter ? event.submitter.value : "";
    if (action !== "approve" && action !== "deny") return;
    const comment = form.querySelector(".comment").value;
    if (action === "deny" && !comment.trim()) {
      say("A denial needs a comment: the reason the requester will see.", true);
      return;
    }
    try {
      const body = session.identities.length < 2 ? { comment } : { comment, as: actor.value };
      const updated = await call("POST", path + encodeURIComponent(item.id) + "/" + action, body);
      say(noun + " " + updated.id + " is now " + updated.state + ".");
      await refresh();
    } catch (error) {
      say(error.message, true);
    }
  });
}

function renderRequest(request) {
  const node = $("request-template").content.firstElementChild.cloneNode(true);
  const m = request.metadata || {};
  field(node, ".file", m.file_name || "(no file name)");
  field(node, ".state", stateText(request));
  field(node, ".requester", request.requester);
  field(node, ".policy", request.policy);
  field(node, ".format", request.format + " / " + request.hash);
  field(node, ".digest", request.digest);
  field(node, ".size", size(m.file_size));
  link(node, ".build", m.build_url);
  field(node, ".commit", m.commit);
  // What goes into the signature besides the digest: the approver must see it all.
  field(node, ".description", m.description);
  field(node, ".subject", m.subject);
  field(node, ".program-name", m.program_name);
  field(node, ".program-url", m.program_url);
  field(node, ".signer-name", m.signer_name);
  field(node, ".entry-count", m.entry_count === undefined || m.entry_count === null ? "" : m.entry_count + " entries");
  field(node, ".age", age(request.age_secs) + " (expires " + request.expires + ")");
  field(node, ".approvals", approvalsText(request));
  field(node, ".id", request.id);
  decision(node, request, "/requests/", "Request");
  return node;
}

async function loadMetadata(requests, releases) {
  if (metadataById.size > 5000) metadataById.clear();
  for (const r of requests) metadataById.set(r.id, r.metadata || {});
  const missing = releases.flatMap((release) => release.files.map((f) => f.request_id))
    .filter((id) => !metadataById.has(id));
  await Promise.all(missing.map(async (id) => {
    const request = await call("GET", "/requests/" + encodeURIComponent(id));
    metadataById.set(id, request.metadata || {});
  }));
}

// What goes into a file's signature besides its digest (Authenticode subject, program name and URL,
// JAR signer name and entries).
function signedWith(m = {}) {
  return [
    m.subject ? "Authenticode subject: " + m.subject : "",
    m.program_name ? "program name: " + m.program_name : "",
    m.program_url ? "program URL: " + m.program_url : "",
    m.signer_name ? "JAR signer: " + m.signer_name : "",
    m.entry_count === undefined || m.entry_count === null ? "" : m.entry_count + " JAR entries",
  ].filter((text) => text).join("; ");
}

function renderRelease(release) {
  const node = $("release-template").content.firstElementChild.cloneNode(true);
  // Files still arriving (the client uploads them one by one) are counted, not yet listed.
  const arriving = release.files_received < release.files_declared
    ? " (" + release.files_received + " of " + release.files_declared + " received)" : "";
  field(node, ".count", release.files_declared + (release.files_declared === 1 ? " file" : " files") + arriving);
  field(node, ".state", stateText(release));
  field(node, ".requester", release.requester);
  field(node, ".policy", release.policy);
  field(node, ".description", release.description);
  link(node, ".build", release.build_url);
  field(node, ".commit", release.commit);
  field(node, ".age", age(release.age_secs) + " (expires " + release.expires + ")");
  field(node, ".approvals", approvalsText(release));
  field(node, ".id", release.id);
  node.querySelector(".files tbody").replaceChildren(...release.files.map((file) => {
    const row = document.createElement("tr");
    for (const [text, mono] of [
      [file.file_name || "(no file name)", false],
      [size(file.file_size), false],
      [file.format + " / " + file.hash, false],
      [file.digest, true],
      [file.state, false],
      [file.signed_with, false],
    ]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      if (mono) cell.className = "mono";
      row.append(cell);
    }
    return row;
  }));
  decision(node, release, "/releases/", "Release");
  // A release is approved only once all its files are there; it can be denied before.
  node.querySelector(".decision button[value=approve]").hidden = arriving !== "";
  return node;
}

// Replaces the items of a list, keeping the element of every item whose data did not change
// (so a poll neither wipes a comment being typed nor moves a button being clicked); only the
// age of a kept item is updated.
function sync(container, items, render, idOf = (item) => item.id) {
  const old = new Map([...container.children].map((node) => [node.dataset.id, node]));
  const nodes = items.map((item) => {
    const key = JSON.stringify({ ...item, age_secs: 0, actors: session.identities });
    const kept = old.get(idOf(item));
    if (kept && kept.dataset.key === key) {
      if (item.age_secs !== undefined) {
        field(kept, ".age", age(item.age_secs) + " (expires " + item.expires + ")");
      }
      return kept;
    }
    const node = render(item);
    node.dataset.id = idOf(item);
    node.dataset.key = key;
    return node;
  });
  const same = nodes.length === container.children.length &&
    nodes.every((node, i) => container.children[i] === node);
  if (!same) container.replaceChildren(...nodes);
}

function remember(listId, values) {
  const list = $(listId);
  const known = new Set([...list.options].map((o) => o.value));
  for (const value of values) {
    if (!value || known.has(value)) continue;
    known.add(value);
    const option = document.createElement("option");
    option.value = value;
    list.append(option);
  }
}

function filterQuery() {
  const query = new URLSearchParams();
  for (const [key, id] of [["state", "state-filter"], ["policy", "policy-filter"], ["requester", "requester-filter"]]) {
    const value = $(id).value.trim();
    if (value) query.set(key, value);
  }
  const text = query.toString();
  return text ? "?" + text : "";
}

async function refresh() {
  if (!token) return;
  if (refreshing) {
    // A poll is under way: read once more after it, so what was just decided shows.
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    const query = filterQuery();
    const [view, requests, releases] = await Promise.all([
      call("GET", "/session"),
      call("GET", "/requests" + query),
      call("GET", "/releases" + query),
    ]);
    showSession(view);
    // A file of a release is decided with its release, not on its own; its own request
    // holds the metadata of its signature.
    const single = requests.filter((r) => !r.release_id);
    await loadMetadata(requests, releases);
    const withMetadata = releases.map((release) => ({
      ...release,
      files: release.files.map((file) => ({ ...file, signed_with: signedWith(metadataById.get(file.request_id)) })),
    }));
    sync($("requests"), single, renderRequest);
    sync($("releases"), withMetadata, renderRelease);
    $("empty").hidden = single.length > 0;
    $("releases-empty").hidden = releases.length > 0;
    remember("policies-seen", [...requests, ...releases].map((i) => i.policy));
    remember("requesters-seen", [...requests, ...releases].map((i) => i.requester));
    if (can("admin:identities")) await refreshIdentities();
    if (can("audit:read")) await refreshAudit();
    $("updated").textContent = "Updated " + new Date().toLocaleTimeString() +
      "; new requests appear by themselves.";
  } catch (error) {
    if (error.code === "NOT_LOGGED_IN") endSession(error.message, true);
    else say(error.message, true);
  } finally {
    refreshing = false;
  }
  if (refreshAgain) {
    refreshAgain = false;
    await refresh();
  }
}

function poll() {
  if (document.hidden) return;
  if (Date.now() - lastInput > IDLE_MS) {
    $("updated").textContent = "Updates paused: no input for 10 minutes. Refresh to resume.";
    return;
  }
  refresh();
}

async function identityAction(identity, method, suffix, body, done) {
  try {
    await call(method, "/identities/" + encodeURIComponent(identity.name) + suffix, body);
    say(done);
    await refresh();
  } catch (error) {
    say(error.message, true);
  }
}

function button(text, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

function renderIdentity(identity) {
  const row = document.createElement("tr");
  const status = [identity.enabled ? "enabled" : "disabled"];
  if (identity.locked) status.push("locked");
  if (identity.failed_logins > 0) status.push(identity.failed_logins + " failed login(s)");
  for (const text of [identity.name, identity.kind, identity.roles.join(", "), status.join(", ")]) {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.append(cell);
  }
  const actions = document.createElement("td");
  if (identity.locked) {
    actions.append(button("Unlock", () => identityAction(identity, "POST", "/unlock", {},
      "Identity " + identity.name + " is unlocked.")));
  }
  const enable = !identity.enabled;
  actions.append(button(enable ? "Enable" : "Disable", () => identityAction(identity, "PUT", "",
    { enabled: enable }, "Identity " + identity.name + " is " + (enable ? "enabled." : "disabled."))));
  row.append(actions);
  return row;
}

async function refreshIdentities() {
  const identities = await call("GET", "/identities");
  sync($("identities"), identities, renderIdentity, (identity) => identity.name);
}

function renderEvent(event) {
  const row = document.createElement("tr");
  for (const text of [event.seq, event.time, event.identity, event.action, event.object, event.outcome]) {
    const cell = document.createElement("td");
    cell.textContent = text === undefined || text === null ? "—" : String(text);
    row.append(cell);
  }
  return row;
}

async function refreshAudit() {
  const events = await call("GET", "/audit?last=10");
  sync($("audit"), events, renderEvent, (event) => String(event.seq));
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("add-login").addEventListener("click", () => foldLogin(true));
  $("login-fold").addEventListener("click", () => foldLogin(false));
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  $("state-filter").addEventListener("change", refresh);
  for (const type of ["keydown", "pointerdown"]) {
    document.addEventListener(type, () => { lastInput = Date.now(); }, { capture: true });
  }
  showSession(NO_SESSION);
});
