// The presenced wallboard: the floor as a grid of tiles, live.
//
// It loads the floor once (statuses, queues, agent names, presence), then
// follows the event stream from the position the presence read was taken
// at (the read's ETag), so no change falls between the read and the
// stream. Every agents.{id}.* event carries the agent's whole presence
// record: applying one replaces the tile's record. A "reset" event (the
// page was away longer than the server keeps events) reloads the floor.
//
// DOM contract (README.md, "Wallboard"): every tile carries
// data-agent-id and data-status and shows the status label as text.
import { token, APIError, getJSON, getAll, eventsURL, positionFromETag } from "./api.js";

const TOPICS = [
  "agents.*.presence", "agents.*.state", "agents.*.routing", "agents.*.capacity",
  "statuses", "admin",
];
const AGENT_KINDS = ["presence", "state", "routing", "capacity"];

const STATE_LABELS = { ACTIVE: "Active", AWAY: "Away", DISCONNECTED: "Disconnected", OFFLINE: "Offline" };
const ROUTING_LABELS = { OFF_QUEUE: "Off queue", IDLE: "Idle", INTERACTING: "Interacting" };

const $ = (id) => document.getElementById(id);
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

// The floor as this page knows it.
const floor = {
  tiles: new Map(),     // agent id → Tile
  order: [],            // tiles by name
  statuses: new Map(),  // status id → definition, in the server's order
  queues: null,         // queue id → name; null when this server has no queues
  position: "",         // the event id the last load was read at
  skew: 0,              // the server's clock minus ours, in ms
};
const filter = { queue: "", status: "", text: "" };

// ---- tiles -------------------------------------------------------------

const TILE_HTML = `<div class="top"><span class="name"></span><time class="since"></time></div>
<div class="status"><span class="swatch"></span><span class="status-label"></span></div>
<div class="meta"><span class="state"></span><span class="routing"></span><span class="capacity" title="Capacity in use / configured"></span></div>
<div class="message"></div><div class="queues"></div>`;

class Tile {
  constructor(id) {
    this.id = id;
    this.name = id;
    this.record = null;
    this.since = NaN;
    this.shown = true;
    const el = document.createElement("article");
    el.className = "tile";
    el.dataset.agentId = id;
    el.innerHTML = TILE_HTML; // a fixed template; every value below goes in as text
    this.el = el;
    this.parts = {};
    for (const c of ["name", "since", "swatch", "status-label", "state", "routing", "capacity", "message", "queues"]) {
      this.parts[c] = el.querySelector("." + c);
    }
  }

  // update writes the record into the tile.
  update() {
    const r = this.record, p = this.parts, d = this.el.dataset;
    if (!r) return;
    const st = floor.statuses.get(r.status.id) ?? r.status;
    d.status = r.status.id;
    d.presence = st.system_presence;
    d.away = String(!!st.is_away);
    d.state = r.state;
    d.routing = r.routing_status;
    p.name.textContent = this.name;
    p.name.title = this.name === this.id ? this.id : `${this.name} (${this.id})`;
    p["status-label"].textContent = st.label;
    p.state.textContent = STATE_LABELS[r.state] ?? r.state;
    p.routing.textContent = ROUTING_LABELS[r.routing_status] ?? r.routing_status;
    const cap = r.capacity ?? { configured: 0, in_use: 0 };
    p.capacity.textContent = `${cap.in_use}/${cap.configured}`;
    p.message.textContent = r.message ?? "";
    p.message.hidden = !r.message;
    const queues = (r.queues ?? []).map((q) => floor.queues?.get(q) ?? q);
    p.queues.textContent = queues.join(", ");
    p.queues.hidden = queues.length === 0;
    this.since = r.since ? Date.parse(r.since) : NaN;
    p.since.dateTime = r.since ?? "";
    p.since.title = r.since ? `In ${st.label} since ${new Date(r.since).toLocaleString()}` : "";
    this.tick(Date.now() + floor.skew);
  }

  tick(now) {
    this.parts.since.textContent = Number.isNaN(this.since) ? "—" : elapsed(now - this.since);
  }

  matches(ignore) {
    const r = this.record;
    if (!r) return false;
    if (ignore !== "queue" && filter.queue && !(r.queues ?? []).includes(filter.queue)) return false;
    if (ignore !== "status" && filter.status && r.status.id !== filter.status) return false;
    if (filter.text) {
      const t = filter.text;
      if (!this.name.toLowerCase().includes(t) && !this.id.toLowerCase().includes(t)) return false;
    }
    return true;
  }
}

// elapsed renders a time in status: m:ss, h:mm:ss, or days and hours.
function elapsed(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}:${pad(s % 60)}`;
  if (s < 86400) return `${Math.floor(s / 3600)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
  return `${Math.floor(s / 86400)}d ${Math.floor(s / 3600) % 24}h`;
}

// ---- changes and rendering ------------------------------------------------

const dirty = new Set();
let orderDirty = false, optionsDirty = false, renderTimer = 0;

function schedule() {
  // Events arrive one task each; rendering once per burst keeps a busy
  // floor cheap, well within a second of the change.
  if (!renderTimer) renderTimer = setTimeout(render, 16);
}

function upsert(record, name) {
  let t = floor.tiles.get(record.agent_id);
  if (!t) {
    t = new Tile(record.agent_id);
    floor.tiles.set(t.id, t);
    floor.order.push(t);
    orderDirty = true;
    if (name === undefined) fetchName(t);
  }
  if (name !== undefined && name !== t.name) {
    t.name = name;
    orderDirty = true;
  }
  for (const q of record.queues ?? []) {
    if (floor.queues && !floor.queues.has(q)) { // a queue made after the load
      floor.queues.set(q, q);
      optionsDirty = true;
    }
  }
  t.record = record;
  dirty.add(t);
  schedule();
  return t;
}

function remove(id) {
  const t = floor.tiles.get(id);
  if (!t) return;
  floor.tiles.delete(id);
  floor.order = floor.order.filter((x) => x !== t);
  dirty.delete(t);
  t.el.remove();
  schedule();
}

// fetchName asks for the name of an agent first seen in an event. Names
// are read a quarter of a second later, together: one by one for a few new
// agents, through the paged agent list when many arrive at once (a batch
// import), so that the page stays well inside its token's rate limit.
const unnamed = new Set();
let namesTimer = 0;

function fetchName(t) {
  unnamed.add(t.id);
  if (!namesTimer) namesTimer = setTimeout(fetchNames, 250);
}

async function fetchNames() {
  namesTimer = 0;
  const ids = [...unnamed];
  unnamed.clear();
  const named = (id, name) => {
    const t = floor.tiles.get(id);
    if (!t || !name || name === t.name) return;
    t.name = name;
    orderDirty = true;
    dirty.add(t);
  };
  try {
    if (ids.length <= 20) {
      await Promise.all(ids.map(async (id) => {
        try {
          const { body } = await getJSON(`v1/agents/${encodeURIComponent(id)}`);
          named(id, body.name);
        } catch { /* deleted meanwhile, or no right to it: the id stands in */ }
      }));
    } else {
      const want = new Set(ids);
      const { items } = await getAll("v1/agents", 1000);
      for (const a of items) if (want.has(a.id) || floor.tiles.get(a.id)?.name === a.id) named(a.id, a.name);
    }
  } catch { /* the ids stand in until the next load */ }
  schedule();
}

function render() {
  renderTimer = 0;
  const grid = $("grid");
  if (orderDirty) {
    floor.order.sort((a, b) => collator.compare(a.name, b.name) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const frag = document.createDocumentFragment();
    for (const t of floor.order) frag.append(t.el);
    grid.append(frag); // moves every tile into order
    orderDirty = false;
  }
  for (const t of dirty) t.update();
  dirty.clear();
  if (optionsDirty) renderOptions();
  renderFilters();
}

// renderFilters shows the tiles that pass the filters and counts the floor
// per status and per queue, each with the other filters applied.
function renderFilters() {
  const byStatus = new Map(), byQueue = new Map();
  let shown = 0;
  for (const t of floor.order) {
    const show = t.matches();
    if (show !== t.shown) t.el.hidden = !(t.shown = show);
    if (show) shown++;
    const r = t.record;
    if (!r) continue;
    if (t.matches("status")) byStatus.set(r.status.id, (byStatus.get(r.status.id) ?? 0) + 1);
    if (t.matches("queue")) for (const q of r.queues ?? []) byQueue.set(q, (byQueue.get(q) ?? 0) + 1);
  }
  const total = floor.tiles.size;
  $("totals").textContent = `${total} agent${total === 1 ? "" : "s"}` + (shown !== total ? ` · ${shown} shown` : "");
  $("empty").hidden = shown > 0;
  $("empty").textContent = total === 0 ? "No agents yet: create some with POST /v1/agents." : "No agent matches the filters.";

  const statusChips = [];
  for (const st of floor.statuses.values()) {
    statusChips.push(chip("status", st.id, st.label, byStatus.get(st.id) ?? 0, st.system_presence));
  }
  for (const [id, n] of byStatus) { // a status deleted while agents are still in it
    if (!floor.statuses.has(id)) statusChips.push(chip("status", id, id, n, ""));
  }
  $("status-counts").replaceChildren(...statusChips);

  const queueIDs = floor.queues ? [...floor.queues.keys()] : [];
  const qc = $("queue-counts");
  qc.hidden = queueIDs.length === 0;
  qc.replaceChildren(...queueIDs.map((q) => chip("queue", q, floor.queues.get(q), byQueue.get(q) ?? 0, "")));
}

// chip is a count that filters by its value when clicked.
function chip(kind, value, label, n, presence) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "chip";
  // Not data-status: that attribute marks agent tiles only (the DOM contract).
  b.dataset.filter = kind;
  b.dataset.value = value;
  if (presence) b.dataset.presence = presence;
  const on = filter[kind] === value;
  b.setAttribute("aria-pressed", String(on));
  if (n === 0) b.classList.add("zero");
  const sw = document.createElement("span");
  sw.className = "swatch";
  const l = document.createElement("span");
  l.className = "chip-label";
  l.textContent = label;
  const c = document.createElement("b");
  c.className = "count";
  c.textContent = n;
  b.append(sw, l, c);
  b.addEventListener("click", () => setFilter(kind, on ? "" : value));
  return b;
}

// renderOptions fills the filter menus.
function renderOptions() {
  optionsDirty = false;
  const fill = (sel, first, entries) => {
    const opts = [new Option(first, "")];
    for (const [v, label] of entries) opts.push(new Option(label, v));
    sel.replaceChildren(...opts);
  };
  const statuses = [...floor.statuses.values()].map((s) => [s.id, s.label]);
  if (filter.status && !floor.statuses.has(filter.status)) statuses.push([filter.status, filter.status]);
  fill($("status-filter"), "All statuses", statuses);
  $("status-filter").value = filter.status;
  $("queue-filter-label").hidden = !floor.queues;
  if (floor.queues) {
    const queues = [...floor.queues];
    if (filter.queue && !floor.queues.has(filter.queue)) queues.push([filter.queue, filter.queue]);
    fill($("queue-filter"), "All queues", queues);
    $("queue-filter").value = filter.queue;
  }
}

function setFilter(kind, value) {
  filter[kind] = value;
  if (kind === "status") $("status-filter").value = value;
  if (kind === "queue") $("queue-filter").value = value;
  const h = new URLSearchParams();
  if (filter.queue) h.set("queue", filter.queue);
  if (filter.status) h.set("status", filter.status);
  if (filter.text) h.set("q", filter.text);
  // The filters live in the fragment, so a reload keeps them; the query
  // string (the token) is left as it is.
  history.replaceState(null, "", h.size ? `#${h}` : location.pathname + location.search);
  renderFilters();
}

function readFilters() {
  const h = new URLSearchParams(location.hash.slice(1));
  filter.queue = h.get("queue") ?? "";
  filter.status = h.get("status") ?? "";
  filter.text = (h.get("q") ?? "").toLowerCase();
  $("search").value = filter.text;
}

// ---- loading -------------------------------------------------------------

// load reads the whole floor and remembers the event position it was read
// at. It rejects with an APIError when the server refuses.
async function load() {
  setConn("connecting", "Loading the floor…");
  const [statuses, queues, agents, presence] = await Promise.all([
    getJSON("v1/statuses"),
    getJSON("v1/queues").catch((e) => {
      if (e instanceof APIError && e.status === 404) return null; // a server without queues
      throw e;
    }),
    getAll("v1/agents", 1000),
    getAll("v1/presence", 10000),
  ]);
  floor.statuses = new Map(statuses.body.items.map((s) => [s.id, s]));
  floor.queues = queues ? new Map(queues.body.items.map((q) => [q.id, q.name || q.id])) : null;
  floor.position = positionFromETag(presence.first.headers.get("ETag"));
  const date = Date.parse(presence.first.headers.get("Date"));
  // The server's clock stamps "since": a page on a clock more than two
  // seconds off counts time in status by the server's.
  floor.skew = !Number.isNaN(date) && Math.abs(date - Date.now()) > 2000 ? date - Date.now() : 0;

  const names = new Map(agents.items.map((a) => [a.id, a.name]));
  const seen = new Set();
  for (const r of presence.items) {
    upsert(r, names.get(r.agent_id) ?? r.agent_id);
    seen.add(r.agent_id);
  }
  for (const id of [...floor.tiles.keys()]) if (!seen.has(id)) remove(id);
  for (const t of floor.tiles.values()) dirty.add(t); // status labels may have changed
  optionsDirty = true;
  $("notice").hidden = true;
  $("filters").hidden = false;
  render();
}

// ---- the event stream ------------------------------------------------------

let source = null, lastEventId = "", retryTimer = 0, retryDelay = 1000;

function connect(after) {
  disconnect();
  const es = new EventSource(eventsURL(TOPICS, after));
  source = es;
  setConn("connecting", "Connecting…");
  es.onopen = () => {
    retryDelay = 1000;
    setConn("live", "Live");
  };
  es.onerror = () => {
    if (source !== es) return;
    if (es.readyState === EventSource.CLOSED) {
      // Refused with an HTTP error: the browser does not retry by itself.
      disconnect();
      recover();
    } else {
      // The connection dropped; the browser reconnects with Last-Event-ID
      // and the server resumes right after the last event we applied.
      setConn("reconnecting", "Reconnecting…");
    }
  };
  const on = (kind, fn) => es.addEventListener(kind, (e) => {
    if (source !== es) return;
    if (e.lastEventId) lastEventId = e.lastEventId;
    let env;
    try { env = JSON.parse(e.data); } catch { return; }
    fn(env.body ?? {}, env);
  });
  for (const k of AGENT_KINDS) on(k, onAgent);
  on("status", onStatus);
  on("admin", onAdmin);
  on("reset", onReset);
}

function disconnect() {
  clearTimeout(retryTimer);
  if (source) source.close();
  source = null;
}

function onAgent(record) {
  if (record.agent_id && record.status) upsert(record);
}

function onStatus(s) {
  if (!s.id) return;
  if (s.action === "delete") floor.statuses.delete(s.id);
  else floor.statuses.set(s.id, s);
  for (const t of floor.tiles.values()) if (t.record?.status.id === s.id) dirty.add(t);
  optionsDirty = true;
  schedule();
}

async function onAdmin(a) {
  if (a.type !== "agent" || !a.id) return;
  if (a.action === "delete") return remove(a.id);
  if (a.action === "restore") {
    try {
      const { body } = await getJSON(`v1/agents/${encodeURIComponent(a.id)}`);
      // An event that came while this read was on its way is newer than
      // the read: then only the name is taken from it.
      const t = floor.tiles.get(a.id);
      if (!t && body.presence) upsert(body.presence, body.name || body.id);
      else if (t && body.name && body.name !== t.name) {
        t.name = body.name;
        orderDirty = true;
        dirty.add(t);
        schedule();
      }
    } catch { /* deleted again meanwhile */ }
  }
}

// onReset: events after our last one are gone from the server's log, so
// the floor is read afresh and the stream follows from that read.
async function onReset() {
  disconnect();
  lastEventId = "";
  start();
}

// recover runs when the stream was refused. A refused token stops the page
// with a message; anything else (a node shutting down, too many streams)
// is retried with a growing delay, resuming after the last event applied.
async function recover() {
  try {
    await getJSON("v1/statuses");
  } catch (e) {
    if (e instanceof APIError && (e.status === 401 || e.status === 403)) return authProblem(e);
  }
  const wait = retryDelay;
  retryDelay = Math.min(retryDelay * 2, 30000);
  setConn("offline", `Offline · retrying in ${Math.round(wait / 1000)} s`);
  retryTimer = setTimeout(() => connect(lastEventId || floor.position), wait);
}

// start loads the floor and follows it; on failure it says why, and
// retries unless the server refused the token.
async function start() {
  try {
    await load();
  } catch (e) {
    if (e instanceof APIError && (e.status === 401 || e.status === 403)) return authProblem(e);
    const wait = retryDelay;
    retryDelay = Math.min(retryDelay * 2, 30000);
    setConn("offline", `Offline · retrying in ${Math.round(wait / 1000)} s`);
    notice("Cannot load the floor", [`${e.message}. Retrying in ${Math.round(wait / 1000)} s.`]);
    retryTimer = setTimeout(start, wait);
    return;
  }
  connect(floor.position);
}

// ---- status line and notices ------------------------------------------

function setConn(state, label) {
  const c = $("conn");
  c.dataset.state = state;
  c.querySelector(".conn-label").textContent = label;
  c.title = lastEventId ? `Last event ${lastEventId}` : "";
}

// notice shows a message over the grid: a title, then paragraphs, where a
// paragraph given as an array mixes text and {code} parts.
function notice(title, paragraphs) {
  const n = $("notice");
  const h = document.createElement("h2");
  h.textContent = title;
  const ps = paragraphs.map((parts) => {
    const p = document.createElement("p");
    for (const part of [].concat(parts)) {
      if (typeof part === "string") p.append(part);
      else {
        const c = document.createElement("code");
        c.textContent = part.code;
        p.append(c);
      }
    }
    return p;
  });
  n.replaceChildren(h, ...ps);
  n.hidden = false;
}

function authProblem(e) {
  disconnect();
  $("filters").hidden = true; // nothing to filter

  setConn("denied", e.status === 401 ? "No valid token" : "Not allowed");
  const example = { code: `${location.origin}${location.pathname}?access_token=<token>` };
  const make = { code: "presenced token create --scope presence:read --name wallboard" };
  if (e.status === 401 && !token) {
    notice("This wallboard needs a read token", [
      "Authentication is on for this presenced. Open the page with a token that may read presence (presence:read) in its address:",
      [example],
      ["An admin makes one with ", make, " or POST /v1/tokens."],
    ]);
  } else if (e.status === 401) {
    notice("The token was not accepted", [
      [`The server said: ${e.message} Check the access_token in the address, or ask for a new presence:read token: `, make],
    ]);
  } else {
    notice("This token may not read the whole floor", [
      [`The server said: ${e.message} The wallboard needs a presence:read token that is not bound to one agent (or has presence:read:all).`],
    ]);
  }
}

// ---- wiring ----------------------------------------------------------------

function init() {
  readFilters();
  $("status-filter").addEventListener("change", (e) => setFilter("status", e.target.value));
  $("queue-filter").addEventListener("change", (e) => setFilter("queue", e.target.value));
  $("search").addEventListener("input", (e) => setFilter("text", e.target.value.trim().toLowerCase()));
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  window.addEventListener("hashchange", () => { readFilters(); optionsDirty = true; render(); });
  // Time in status ticks once a second on the tiles in view.
  setInterval(() => {
    const now = Date.now() + floor.skew;
    for (const t of floor.order) if (t.shown) t.tick(now);
  }, 1000);
  start();
}

init();
