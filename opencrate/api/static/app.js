/* OpenCrate operator page: the node tree with live values, trends of point
 * history, active alarms, server health, and the devices discovery found
 * (scan, look at their objects, accept or ignore them).
 *
 * Plain browser JavaScript, no build step and no library: plant-room machines
 * are often offline. The file has two halves:
 *
 *   1. ChartMath: pure functions (round tick steps, local-time axis ticks,
 *      downsampling for drawing, value formatting). No DOM; tests run them
 *      under node (tests/api/test_ui.py), which loads this file with
 *      require() and gets them from module.exports.
 *   2. The page: fetch + WebSocket against this server's /api, hand-drawn SVG.
 *
 * Every API path the page uses is in API below; a test matches each one
 * against the server's routes so the page cannot drift from the API.
 */
"use strict";

/* ------------------------------------------------------------------------ */
/* 1. ChartMath                                                              */
/* ------------------------------------------------------------------------ */

const ChartMath = (() => {
  const SECOND = 1000;
  const MINUTE = 60 * SECOND;
  const HOUR = 60 * MINUTE;
  const DAY = 24 * HOUR;

  /** The smallest step of the form {1, 2, 5} x 10^k that splits span into at most maxTicks. */
  function niceStep(span, maxTicks) {
    if (!(span > 0) || !(maxTicks >= 1)) return 1;
    const raw = span / maxTicks;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const factor of [1, 2, 5, 10]) {
      if (factor * magnitude >= raw * (1 - 1e-9)) return factor * magnitude;
    }
    return 10 * magnitude;
  }

  /** Decimals needed to print multiples of step exactly (0.25 -> 2, 5 -> 0). */
  function stepDecimals(step) {
    return Math.max(0, -Math.floor(Math.log10(step) + 1e-9) + (niceMantissa(step) === 2.5 ? 1 : 0));
  }

  function niceMantissa(step) {
    return Number((step / Math.pow(10, Math.floor(Math.log10(step) + 1e-9))).toFixed(6));
  }

  /**
   * A round axis that covers [lo, hi]: {lo, hi, step, ticks}. The axis ends
   * on multiples of step; a flat range (lo == hi) is widened around its value.
   */
  function niceScale(lo, hi, maxTicks) {
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return niceScale(0, 1, maxTicks);
    if (lo > hi) [lo, hi] = [hi, lo];
    if (lo === hi) {
      const pad = lo === 0 ? 1 : Math.abs(lo) * 0.05;
      lo -= pad;
      hi += pad;
    }
    const step = niceStep(hi - lo, maxTicks);
    const decimals = stepDecimals(step);
    const first = Math.floor(lo / step + 1e-9);
    const last = Math.ceil(hi / step - 1e-9);
    const ticks = [];
    for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(decimals)));
    return { lo: ticks[0], hi: ticks[ticks.length - 1], step, ticks };
  }

  // Candidate steps of the time axis: [milliseconds, unit, count of that unit].
  const TIME_STEPS = [
    [1, "s", 1], [2, "s", 1], [5, "s", 1], [10, "s", 1], [15, "s", 1], [30, "s", 1],
    [1, "m", 1], [2, "m", 1], [5, "m", 1], [10, "m", 1], [15, "m", 1], [30, "m", 1],
    [1, "h", 1], [2, "h", 1], [3, "h", 1], [6, "h", 1], [12, "h", 1],
    [1, "d", 1], [2, "d", 1], [7, "d", 1],
  ].map(([count, unit]) => ({
    unit,
    count,
    ms: count * { s: SECOND, m: MINUTE, h: HOUR, d: DAY }[unit],
  }));

  /** The smallest candidate step that splits [t0, t1] into at most maxTicks. */
  function timeStep(t0, t1, maxTicks) {
    const wanted = (t1 - t0) / Math.max(1, maxTicks);
    return TIME_STEPS.find((s) => s.ms >= wanted) || TIME_STEPS[TIME_STEPS.length - 1];
  }

  /**
   * Ticks within [t0, t1] (epoch ms) on round *local* times: minutes and
   * seconds on multiples of the step, hours whose local hour is a multiple
   * of the step (so 00:00, 06:00, 12:00 stay put across a DST change, even
   * when the gap between two ticks is then 5 or 7 hours), days at local
   * midnight (weeks on Mondays). Returns {step, ticks}.
   */
  function timeTicks(t0, t1, maxTicks) {
    const step = timeStep(t0, t1, maxTicks);
    const ticks = [];
    if (!(t1 >= t0)) return { step, ticks };
    const d = new Date(t0);
    if (step.unit === "s" || step.unit === "m") {
      // Zone offsets are whole multiples of 15 minutes, so aligning in local
      // time and then adding absolute milliseconds keeps the ticks round.
      d.setMilliseconds(0);
      if (step.unit === "s") d.setSeconds(Math.floor(d.getSeconds() / step.count) * step.count);
      else d.setMinutes(Math.floor(d.getMinutes() / step.count) * step.count, 0, 0);
      for (let t = d.getTime(); t <= t1; t += step.ms) if (t >= t0) ticks.push(t);
    } else if (step.unit === "h") {
      d.setMinutes(0, 0, 0);
      for (let t = d.getTime(); t <= t1; t += HOUR) {
        if (t >= t0 && new Date(t).getHours() % step.count === 0) ticks.push(t);
      }
    } else {
      d.setHours(0, 0, 0, 0);
      while (d.getTime() <= t1) {
        const keep = step.count === 7 ? d.getDay() === 1 : (d.getDate() - 1) % step.count === 0;
        if (d.getTime() >= t0 && keep) ticks.push(d.getTime());
        d.setDate(d.getDate() + 1); // calendar days: 23 or 25 hours across DST
      }
    }
    return { step, ticks };
  }

  const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const pad2 = (n) => String(n).padStart(2, "0");

  /** A tick label in local time: "Mon 23 Nov" at midnight, "14:30", or "14:30:15" for second steps. */
  function formatTimeTick(t, step) {
    const d = new Date(t);
    if (d.getHours() === 0 && d.getMinutes() === 0 && d.getSeconds() === 0) {
      return `${WEEKDAYS[d.getDay()]} ${d.getDate()} ${MONTHS[d.getMonth()]}`;
    }
    const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
    return step.unit === "s" ? `${hm}:${pad2(d.getSeconds())}` : hm;
  }

  /** A full local timestamp for read-outs: "Mon 23 Nov 14:30:15". */
  function formatTime(t) {
    const d = new Date(t);
    return `${WEEKDAYS[d.getDay()]} ${d.getDate()} ${MONTHS[d.getMonth()]} ` +
      `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }

  /**
   * At most four points per pixel column (first, min, max, last, in time
   * order) of points sorted by t, for columns over [t0, t1]. Keeps every
   * peak a plot of the full data would show; returns the input when small.
   */
  function downsample(points, t0, t1, columns) {
    if (points.length <= 4 * columns || !(t1 > t0)) return points;
    const out = [];
    const width = (t1 - t0) / columns;
    let i = 0;
    while (i < points.length) {
      const column = Math.floor((points[i].t - t0) / width);
      let first = i, min = i, max = i, last = i;
      for (i++; i < points.length && Math.floor((points[i].t - t0) / width) === column; i++) {
        if (points[i].v < points[min].v) min = i;
        if (points[i].v > points[max].v) max = i;
        last = i;
      }
      for (const k of [...new Set([first, min, max, last])].sort((a, b) => a - b)) {
        out.push(points[k]);
      }
    }
    return out;
  }

  /**
   * The min-max band of rollup windows (points with min and max, sorted by
   * t) merged per pixel column over [t0, t1]: the lowest min and highest max
   * of the windows in a column, at their mean time. Returns the input when
   * there are no more windows than columns.
   */
  function bandColumns(points, t0, t1, columns) {
    if (points.length <= columns || !(t1 > t0)) return points;
    const out = [];
    const width = (t1 - t0) / columns;
    let current = null;
    for (const p of points) {
      const column = Math.floor((p.t - t0) / width);
      if (current && current.column === column) {
        current.min = Math.min(current.min, p.min);
        current.max = Math.max(current.max, p.max);
        current.sum += p.t;
        current.n += 1;
      } else {
        current = { column, min: p.min, max: p.max, sum: p.t, n: 1 };
        out.push(current);
      }
    }
    return out.map((c) => ({ t: c.sum / c.n, min: c.min, max: c.max }));
  }

  /** Index of the point nearest to t in points sorted by t (-1 when empty). */
  function nearestIndex(points, t) {
    if (points.length === 0) return -1;
    let lo = 0, hi = points.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (points[mid].t <= t) lo = mid;
      else hi = mid;
    }
    return Math.abs(points[hi].t - t) < Math.abs(points[lo].t - t) ? hi : lo;
  }

  /** A point value for people: "13.5", "258", "1 250", "On"/"Off"; "–" when there is none. */
  function formatValue(v, kind) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "boolean" || kind === "bool") return v === true || v === 1 ? "On" : "Off";
    if (typeof v !== "number") return String(v);
    if (kind === "enum") return String(Math.round(v));
    const a = Math.abs(v);
    const decimals = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 1 ? 2 : 3;
    const text = String(Number(v.toFixed(decimals)));
    // Thin groups of thousands: 125000 -> "125 000", readable without locale surprises.
    return a >= 10000 ? text.replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f") : text;
  }

  /** An axis label for a multiple of step. */
  function formatTick(v, step) {
    return v.toFixed(stepDecimals(step));
  }

  return {
    niceStep, niceScale, timeStep, timeTicks, formatTimeTick, formatTime,
    downsample, bandColumns, nearestIndex, formatValue, formatTick, HOUR, DAY,
  };
})();

if (typeof module === "object" && module.exports) {
  module.exports = ChartMath; // under node (the tests): the maths only, no page
}

/* ------------------------------------------------------------------------ */
/* 2. The page                                                               */
/* ------------------------------------------------------------------------ */

const API = {
  health: "/api/health",
  me: "/api/me",
  login: "/api/login",
  logout: "/api/logout",
  nodes: "/api/nodes",
  history: "/api/history/",
  alarms: "/api/alarms",
  discoveryScan: "/api/discovery/scan",
  discoveryDevices: "/api/discovery/devices",
  ws: "/api/ws",
};

const RANGES = { "1h": ChartMath.HOUR, "6h": 6 * ChartMath.HOUR, "24h": ChartMath.DAY, "7d": 7 * ChartMath.DAY };
const COLORS = ["#2f6fb0", "#d4822a", "#2e9a6b", "#8a5cb8", "#c2514e", "#3e9ea5", "#9a7b3c", "#5b6b7c"];
const MAX_HISTORY_PAGES = 10;
const LIVE_TYPES = "ValueChanged,StatusChanged,AlarmRaised,AlarmCleared,DiscoveryScanComplete,DeviceAccepted,ObjectListChanged";
const SVG_NS = "http://www.w3.org/2000/svg";
const LANE_H = 18; // height of an on/off lane under the plot, px
const LANE_GAP = 5;
const PLOT_INSET = 6; // px between the frame and the axis's first and last tick

const state = {
  nodes: new Map(), // id -> node (without children)
  rows: new Map(), // point id -> its tree row element
  series: [], // the charted points, see newSeries()
  rangeKey: "6h",
  alarmNodes: new Set(),
  alarmsAvailable: true,
  discoveryAvailable: true,
  discovered: new Map(), // device key -> discovered device, as listed
  expanded: new Set(), // device keys whose point objects are shown
  hoverT: null,
  me: null, // who is logged in: {user, role, csrf_token}, see whoAmI()
  started: false,
};

const ROLE_RANK = { viewer: 0, operator: 1, admin: 2 };
/** Whether the logged-in user may do what needs this role (the server checks again). */
const mayDo = (role) => state.me !== null && (ROLE_RANK[state.me.role] ?? -1) >= ROLE_RANK[role];

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v; // CSSOM: allowed by the page's CSP
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child !== null) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** An Error carrying the HTTP status and the server's message. */
async function failure(response) {
  const body = await response.json().catch(() => null);
  const message = body && body.error ? body.error.message : response.statusText;
  const error = new Error(message);
  error.status = response.status;
  return error;
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (response.status === 401 && state.started) showLogin("Your session has ended; please log in again.");
  if (!response.ok) throw await failure(response);
  return response.json();
}

/**
 * A write. The session cookie is SameSite=Strict and HttpOnly; cookie-carried
 * writes must also send the session's CSRF token, which only this page knows.
 */
async function postJSON(url, body = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      Accept: "application/json",
      "Content-Type": "application/json",
      ...(state.me && state.me.csrf_token ? { "X-CSRF-Token": state.me.csrf_token } : {}),
    },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

/** A node id in a URL path: ids contain "/", which the routes match as a path. */
const idPath = (id) => id.split("/").map(encodeURIComponent).join("/");
/** A point's name with its equipment's: "VAV-101 Zone Air Temp" (four rooms have a Zone Air Temp). */
function pointLabel(id) {
  const node = state.nodes.get(id);
  if (!node) return id;
  const parent = node.parent_id ? state.nodes.get(node.parent_id) : null;
  return parent && parent.node_type === "equip" ? `${parent.dis} ${node.dis}` : node.dis;
}

const isPoint = (node) => node.node_type === "point" || node.node_type === "virtual_point";
const unitOf = (node) => (node && node.unit ? node.unit : "");

/* -- header: health and clock --------------------------------------------- */

async function refreshHealth() {
  const pill = $("health");
  try {
    const health = await getJSON(API.health);
    pill.dataset.state = health.status;
    pill.textContent = `${health.status === "ok" ? "Healthy" : health.status} · level ${health.level}`;
    const down = (health.services || []).filter((s) => s.state !== "running");
    pill.title = down.length ? `Not running: ${down.map((s) => s.name).join(", ")}` : "All services running";
  } catch (error) {
    pill.dataset.state = "offline";
    pill.textContent = "Server unreachable";
  }
}

function tickClock() {
  $("clock").textContent = ChartMath.formatTime(Date.now()).slice(0, -3);
}

let lagTimer = null;
function showNotice(text) {
  const notice = $("lag-notice");
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(lagTimer);
  lagTimer = setTimeout(() => { notice.hidden = true; }, 10000);
}

/* -- the node tree --------------------------------------------------------- */

async function loadTree() {
  const body = await getJSON(`${API.nodes}?view=tree`);
  state.nodes.clear();
  state.rows.clear();
  const tree = $("tree");
  tree.replaceChildren(...body.items.map((node) => treeBranch(node, 0)));
  if (!body.items.length) tree.append(el("p", { class: "muted pad" }, "No nodes yet."));
  applyFilter();
  markSelection();
  markAlarms();
}

/**
 * Reload values and statuses in place (after a reconnect or a Lagged), so
 * the tree keeps its collapsed groups and scroll position; rebuilds only
 * when the set of points changed.
 */
async function refreshValues() {
  const body = await getJSON(`${API.nodes}?view=tree`);
  const fresh = [];
  const walk = (node) => { if (isPoint(node)) fresh.push(node); node.children.forEach(walk); };
  body.items.forEach(walk);
  if (fresh.length !== state.rows.size || fresh.some((n) => !state.rows.has(n.id))) {
    await loadTree();
    return;
  }
  for (const { children, ...node } of fresh) {
    state.nodes.set(node.id, node);
    showValue(node.id);
  }
  renderLegend();
}

function treeBranch(node, depth) {
  const { children, ...plain } = node;
  state.nodes.set(node.id, plain);
  if (isPoint(node)) return pointRow(plain, depth);
  const kids = el("div", { class: "kids" }, ...children.map((child) => treeBranch(child, depth + 1)));
  const head = el("div", {
    class: `row group ${node.node_type}`, style: `--depth:${depth}`, title: node.id,
    onclick: () => branch.classList.toggle("collapsed"),
  }, el("span", { class: "caret" }), el("span", { class: "name" }, node.dis));
  const branch = el("div", { class: "branch", role: "treeitem" }, head, kids);
  return branch;
}

function pointRow(node, depth) {
  const row = el("div", {
    class: "row point", role: "treeitem", style: `--depth:${depth}`, title: node.id,
    "data-id": node.id, "data-status": node.status || "unknown", tabindex: "0",
    onclick: (event) => selectPoint(node.id, event.ctrlKey || event.metaKey || event.shiftKey),
    onkeydown: (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        selectPoint(node.id, event.ctrlKey || event.metaKey || event.shiftKey);
      }
    },
  },
  el("span", { class: "dot" }),
  el("span", { class: "name" }, node.dis),
  el("span", { class: "value" }, ""));
  state.rows.set(node.id, row);
  showValue(node.id);
  return row;
}

function showValue(id) {
  const node = state.nodes.get(id);
  const row = state.rows.get(id);
  if (!node || !row) return;
  const unit = unitOf(node);
  const text = ChartMath.formatValue(node.value, node.kind);
  row.querySelector(".value").textContent = node.value == null || node.kind === "bool" || !unit ? text : `${text} ${unit}`;
  row.dataset.status = node.status || "unknown";
  row.title = node.ts_ms ? `${id} · ${node.status || "unknown"} · ${ChartMath.formatTime(node.ts_ms)}` : id;
}

/** Tint a changed value briefly (Web Animations: no forced layout per event). */
function flash(id) {
  const row = state.rows.get(id);
  if (row) row.querySelector(".value").animate([{ color: "#2f6fb0" }, { color: "inherit" }], 1200);
}

function applyFilter() {
  const words = $("filter").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  for (const [id, row] of state.rows) {
    // A point matches on its own name, id and tags and on its ancestors'
    // names, so "vav-101 temp" finds the temperatures of that box.
    let hay = `${id} ${(state.nodes.get(id).tags || []).join(" ")}`;
    for (let node = state.nodes.get(id); node; node = state.nodes.get(node.parent_id)) hay += ` ${node.dis}`;
    hay = hay.toLowerCase();
    row.hidden = !words.every((w) => hay.includes(w));
  }
  // A group stays visible when any point below it does.
  for (const branch of [...document.querySelectorAll("#tree .branch")].reverse()) {
    branch.hidden = words.length > 0 && !branch.querySelector(".row.point:not([hidden])");
  }
}

function markSelection() {
  for (const [id, row] of state.rows) {
    const series = state.series.find((s) => s.id === id);
    row.classList.toggle("selected", Boolean(series));
    row.style.setProperty("--series", series ? series.color : "transparent");
  }
}

function markAlarms() {
  for (const [id, row] of state.rows) row.classList.toggle("alarm", state.alarmNodes.has(id));
}

/* -- selection, range and history ------------------------------------------ */

/** A charted point: its samples {t, v, min?, max?} oldest first, and its load state. */
function newSeries(id, color) {
  return { id, color, points: [], pending: [], resolution: null, loading: true, error: null, request: 0 };
}

function selectPoint(id, add) {
  const existing = state.series.findIndex((s) => s.id === id);
  if (add && existing >= 0) {
    state.series.splice(existing, 1);
  } else if (add) {
    const used = new Set(state.series.map((s) => s.color));
    const color = COLORS.find((c) => !used.has(c)) || COLORS[state.series.length % COLORS.length];
    state.series.push(newSeries(id, color));
  } else {
    if (state.series.length === 1 && existing === 0) return;
    state.series = [newSeries(id, COLORS[0])];
  }
  markSelection();
  saveHash();
  loadHistory(state.series.filter((s) => s.loading));
  renderLegend();
  renderChart();
}

function setRange(key) {
  state.rangeKey = RANGES[key] ? key : "6h";
  for (const button of document.querySelectorAll("#ranges button")) {
    button.setAttribute("aria-pressed", String(button.dataset.range === state.rangeKey));
  }
  saveHash();
  loadHistory(state.series);
}

function timeWindow() {
  const end = Date.now();
  return [end - RANGES[state.rangeKey], end];
}

/** Points of a history response: rollup buckets (mean with min/max) or raw samples. */
function historyPoints(body) {
  const buckets = body.buckets || [];
  if (buckets.length) {
    return buckets
      .filter((b) => b.mean !== null || b.last !== null)
      .map((b) => ({
        t: b.start_ms + (b.width_ms || 0) / 2, // drawn at the middle of its window
        v: toNumber(b.mean !== null && b.mean !== undefined ? b.mean : b.last),
        min: b.min, max: b.max,
      }));
  }
  return (body.samples || body.items || []).map((s) => ({ t: s.ts_ms, v: toNumber(s.value) }));
}

function toNumber(v) {
  if (typeof v === "boolean") return v ? 1 : 0;
  return typeof v === "number" ? v : null;
}

let historyRequests = 0;
/**
 * (Re)load the history of each series over the current window. Live values
 * that arrive meanwhile are kept in series.pending and appended after the
 * history, so nothing between the query and its answer is lost; an answer
 * overtaken by a newer request (another range button) is dropped.
 */
async function loadHistory(seriesList) {
  const [start, end] = timeWindow();
  await Promise.all(seriesList.map(async (series) => {
    const request = ++historyRequests;
    series.request = request;
    series.loading = true;
    series.pending = [];
    try {
      const points = [];
      let cursor = null;
      let resolution = "raw";
      // Raw pages are capped by the server; a few pages cover a week of a busy point.
      for (let page = 0; page < MAX_HISTORY_PAGES; page++) {
        const query = `start=${start}&end=${end}&resolution=auto&limit=10000` +
          (cursor ? `&cursor=${encodeURIComponent(cursor)}` : "");
        const body = await getJSON(`${API.history}${idPath(series.id)}?${query}`);
        for (const p of historyPoints(body)) if (p.v !== null) points.push(p);
        resolution = body.resolution || "raw";
        cursor = body.next_cursor;
        if (!cursor) break;
      }
      if (series.request !== request) return;
      const newest = points.length ? points[points.length - 1].t : -Infinity;
      series.points = points.concat(series.pending.filter((p) => p.t > newest));
      series.resolution = resolution;
      series.error = null;
    } catch (error) {
      if (series.request !== request) return;
      series.points = series.pending;
      series.error = error.status === 404 ? "no history" : error.message;
    }
    series.loading = false;
    series.pending = [];
  }));
  renderLegend();
  renderChart();
}

function saveHash() {
  const ids = state.series.map((s) => encodeURIComponent(s.id).replaceAll("%2F", "/")).join(",");
  history.replaceState(null, "", `#range=${state.rangeKey}${ids ? `&points=${ids}` : ""}`);
}

function loadHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  state.rangeKey = RANGES[params.get("range")] ? params.get("range") : "6h";
  const ids = (params.get("points") || "").split(",").filter(Boolean).map(decodeURIComponent);
  state.series = ids.map((id, i) => newSeries(id, COLORS[i % COLORS.length]));
}

/* -- the chart ---------------------------------------------------------------- */

function renderLegend() {
  const legend = $("legend");
  legend.replaceChildren(...state.series.map((series) => {
    const node = state.nodes.get(series.id) || { dis: series.id };
    const unit = unitOf(node);
    const latest = node.value !== undefined ? ChartMath.formatValue(node.value, node.kind) : "";
    return el("span", { class: "chip", style: `--series:${series.color}`, title: series.id },
      el("span", { class: "swatch" }),
      el("span", { class: "chip-name" }, pointLabel(series.id)),
      el("span", { class: "chip-value" }, latest && node.kind !== "bool" && unit ? `${latest} ${unit}` : latest),
      series.error ? el("span", { class: "chip-error" }, series.error) : null,
      el("button", {
        type: "button", class: "chip-close", title: "Remove from chart", "aria-label": "Remove",
        onclick: () => selectPoint(series.id, true),
      }, "×"));
  }));
}

/** Axis groups: series sharing a unit share a scale; the first two groups get an axis each. */
function axisGroups(seriesList) {
  const groups = new Map();
  for (const series of seriesList) {
    const node = state.nodes.get(series.id) || {};
    const key = node.kind === "bool" ? "bool" : unitOf(node) || node.kind || "";
    if (!groups.has(key)) groups.set(key, { key, kind: node.kind, unit: unitOf(node), series: [] });
    groups.get(key).series.push(series);
  }
  return [...groups.values()];
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; renderChart(); });
}

function renderChart() {
  const box = $("chart");
  const message = $("chart-message");
  const old = box.querySelector("svg");
  if (old) old.remove();
  const drawable = state.series.filter((s) => s.points.length);
  if (!state.series.length) {
    message.textContent = "Select a point in the tree to see its trend.";
  } else if (!drawable.length) {
    message.textContent = state.series.some((s) => s.loading) ? "Loading history…" : "No history in this time range.";
  }
  message.hidden = drawable.length > 0;
  renderFoot();
  if (!drawable.length) return;

  // On/off points next to analog ones get a lane each under the plot (as in
  // a BMS trend), rather than squashing a 0..1 step into a scale of °C.
  const isBool = (s) => (state.nodes.get(s.id) || {}).kind === "bool";
  const analog = drawable.filter((s) => !isBool(s));
  const lanes = analog.length ? drawable.filter(isBool) : [];
  const width = box.clientWidth;
  const height = box.clientHeight;
  const groups = axisGroups(analog.length ? analog : drawable);
  const margin = { top: 30, right: groups.length > 1 ? 58 : 20, bottom: 30, left: 58 };
  const lanesH = lanes.length ? 8 + lanes.length * (LANE_H + LANE_GAP) : 0;
  const plotW = Math.max(10, width - margin.left - margin.right);
  const plotH = Math.max(10, height - margin.top - margin.bottom - lanesH);
  const [t0, t1] = timeWindow();
  const x = (t) => margin.left + ((t - t0) / (t1 - t0)) * plotW;
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "plot" });
  const tracks = []; // [{series, y}]: where each series' value sits, for the hover

  // Time axis: vertical grid (through the lanes) and local-time labels.
  const { step, ticks } = ChartMath.timeTicks(t0, t1, Math.max(2, Math.floor(plotW / 90)));
  const grid = svg("g", { class: "grid" });
  const labels = svg("g", { class: "axis" });
  for (const t of ticks) {
    const px = x(t);
    const midnight = new Date(t).getHours() === 0 && new Date(t).getMinutes() === 0;
    grid.append(svg("line", { x1: px, x2: px, y1: margin.top, y2: margin.top + plotH + lanesH, class: midnight ? "major" : "" }));
    // Labels near an edge are anchored inwards, so "Mon 23 Nov" is not cut off.
    const anchor = px > width - 40 ? "end" : px < 40 ? "start" : "middle";
    const label = svg("text", { x: px, y: height - 10, "text-anchor": anchor, class: midnight ? "major" : "" });
    label.textContent = ChartMath.formatTimeTick(t, step);
    labels.append(label);
  }

  // One scale per unit group; axes for the first two.
  groups.forEach((group, index) => {
    let lo = Infinity, hi = -Infinity;
    for (const series of group.series) {
      for (const p of series.points) {
        lo = Math.min(lo, p.min ?? p.v, p.v);
        hi = Math.max(hi, p.max ?? p.v, p.v);
      }
    }
    const scale = group.kind === "bool"
      ? { lo: -0.1, hi: 1.1, ticks: [0, 1], step: 1 }
      : ChartMath.niceScale(lo, hi, Math.max(2, Math.floor(plotH / 48)));
    // Inset a few pixels, so a line on the axis's end does not vanish into the frame.
    group.y = (v) => margin.top + PLOT_INSET + (1 - (v - scale.lo) / (scale.hi - scale.lo)) * (plotH - 2 * PLOT_INSET);
    for (const series of group.series) tracks.push({ series, y: group.y });
    if (index > 1) return;
    const axisX = index === 0 ? margin.left - 8 : margin.left + plotW + 8;
    const anchor = index === 0 ? "end" : "start";
    for (const tick of scale.ticks) {
      const py = group.y(tick);
      if (index === 0) grid.append(svg("line", { x1: margin.left, x2: margin.left + plotW, y1: py, y2: py }));
      const label = svg("text", { x: axisX, y: py + 4, "text-anchor": anchor });
      label.textContent = group.kind === "bool" ? (tick ? "On" : "Off") : ChartMath.formatTick(tick, scale.step);
      labels.append(label);
    }
    if (group.unit) {
      const unit = svg("text", { x: axisX, y: margin.top - 14, "text-anchor": anchor, class: "unit" });
      unit.textContent = group.unit;
      labels.append(unit);
    }
  });
  root.append(grid, labels);

  const clip = svg("clipPath", { id: "plot-area" });
  clip.append(svg("rect", { x: margin.left, y: margin.top - 2, width: plotW, height: plotH + lanesH + 4 }));
  const defs = svg("defs");
  defs.append(clip);
  root.prepend(defs);
  const layer = svg("g", { "clip-path": "url(#plot-area)" });
  for (const group of groups) {
    for (const series of group.series) drawSeries(layer, series, group.y, x, t1, plotW);
  }
  lanes.forEach((series, i) => {
    const top = margin.top + plotH + 8 + i * (LANE_H + LANE_GAP);
    drawLane(layer, labels, series, top, x, margin, t1);
    tracks.push({ series, y: () => top + LANE_H / 2 });
  });
  root.append(layer, svg("rect", { x: margin.left, y: margin.top, width: plotW, height: plotH, class: "frame" }));

  const hover = svg("g", { class: "hover" });
  const overlay = svg("rect", { x: margin.left, y: margin.top, width: plotW, height: plotH + lanesH, class: "overlay" });
  const view = { tracks, x, top: margin.top, bottom: margin.top + plotH + lanesH, width };
  overlay.addEventListener("mousemove", (event) => {
    const bounds = root.getBoundingClientRect();
    state.hoverT = t0 + ((event.clientX - bounds.left - margin.left) / plotW) * (t1 - t0);
    drawHover(hover, view);
  });
  overlay.addEventListener("mouseleave", () => { state.hoverT = null; drawHover(hover, view); });
  root.append(hover, overlay);
  box.append(root);
  if (state.hoverT !== null) drawHover(hover, view);
}

function drawSeries(layer, series, y, x, t1, plotW) {
  const [t0] = timeWindow();
  const node = state.nodes.get(series.id) || {};
  const stepped = node.kind === "bool" || node.kind === "enum";
  const banded = ChartMath.bandColumns(
    series.points.filter((p) => p.min != null && p.max != null), t0, t1, Math.ceil(plotW / 2));
  if (banded.length > 1) {
    const upper = banded.map((p) => `${x(p.t).toFixed(1)},${y(p.max).toFixed(1)}`);
    const lower = banded.map((p) => `${x(p.t).toFixed(1)},${y(p.min).toFixed(1)}`).reverse();
    layer.append(svg("polygon", { points: [...upper, ...lower].join(" "), fill: series.color, class: "band" }));
  }
  const points = ChartMath.downsample(series.points, t0, t1, Math.ceil(plotW));
  let d = "";
  points.forEach((p, i) => {
    const px = x(p.t).toFixed(1), py = y(p.v).toFixed(1);
    if (i === 0) d += `M${px},${py}`;
    else d += stepped ? `H${px}V${py}` : `L${px},${py}`;
  });
  // Values are held until the next sample: carry the newest one to now.
  const last = points[points.length - 1];
  if (last && last.t < t1) d += `H${x(t1).toFixed(1)}`;
  layer.append(svg("path", { d, stroke: series.color, class: "line" }));
}

/** An on/off point as a lane: a filled bar wherever it was On. */
function drawLane(layer, labels, series, top, x, margin, t1) {
  layer.append(svg("rect", { x: margin.left, y: top, width: x(t1) - margin.left, height: LANE_H, class: "lane" }));
  // One bar per run of On samples (adjacent bars would show seams).
  const points = series.points;
  let runStart = null;
  points.forEach((p, i) => {
    const on = p.v >= 0.5;
    if (on && runStart === null) runStart = p.t;
    const runEnds = runStart !== null && (!on || i === points.length - 1);
    if (!runEnds) return;
    const x0 = x(runStart);
    const x1 = x(on ? t1 : p.t);
    layer.append(svg("rect", { x: x0, y: top + 2, width: Math.max(1, x1 - x0), height: LANE_H - 4, fill: series.color, class: "on" }));
    runStart = null;
  });
  const label = svg("text", { x: margin.left - 8, y: top + LANE_H / 2 + 4, "text-anchor": "end", class: "lane-label" });
  label.textContent = "on/off";
  labels.append(label);
}

function drawHover(hover, view) {
  hover.replaceChildren();
  if (state.hoverT === null) {
    hideReadout();
    return;
  }
  const rows = [];
  let anchorT = state.hoverT;
  for (const { series, y } of view.tracks) {
    const i = ChartMath.nearestIndex(series.points, state.hoverT);
    if (i < 0) continue;
    const p = series.points[i];
    if (rows.length === 0) anchorT = p.t;
    hover.append(svg("circle", { cx: view.x(p.t), cy: y(p.v), r: 3.5, fill: series.color, class: "marker" }));
    rows.push({ series, p });
  }
  const px = view.x(anchorT);
  hover.prepend(svg("line", { x1: px, x2: px, y1: view.top, y2: view.bottom, class: "crosshair" }));
  renderReadout(rows, anchorT, px, view.width);
}

function renderReadout(rows, t, px, width) {
  let box = $("readout");
  if (!box) {
    box = el("div", { id: "readout", class: "readout" });
    $("chart").append(box);
  }
  box.replaceChildren(el("div", { class: "readout-time" }, ChartMath.formatTime(t)),
    ...rows.map(({ series, p }) => {
      const node = state.nodes.get(series.id) || { dis: series.id };
      const unit = unitOf(node);
      let text = ChartMath.formatValue(node.kind === "bool" ? p.v === 1 : p.v, node.kind);
      if (unit && node.kind !== "bool") text += ` ${unit}`;
      const range = p.min != null && p.max != null && p.min !== p.max
        ? ` (${ChartMath.formatValue(p.min, node.kind)}–${ChartMath.formatValue(p.max, node.kind)})` : "";
      return el("div", { class: "readout-row", style: `--series:${series.color}` },
        el("span", { class: "swatch" }), el("span", { class: "readout-name" }, pointLabel(series.id)),
        el("span", { class: "readout-value" }, text + range));
    }));
  box.hidden = false;
  const left = px + 16 + box.offsetWidth > width ? px - 16 - box.offsetWidth : px + 16;
  box.style.left = `${Math.max(4, left)}px`;
}

function hideReadout() {
  const box = $("readout");
  if (box) box.hidden = true;
}

function renderFoot() {
  hideReadout();
  const resolutions = [...new Set(state.series.filter((s) => s.resolution).map((s) => s.resolution))];
  const text = resolutions.length
    ? `Resolution: ${resolutions.map((r) => (r === "raw" ? "raw samples" : `${r} windows (mean, band = min–max)`)).join(", ")}`
    : "";
  $("chart-foot").textContent = text;
}

/* -- live values ----------------------------------------------------------- */

let socket = null;
let retryMs = 1000;

function connectLive() {
  const pill = $("live");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}${API.ws}?types=${LIVE_TYPES}`);
  pill.dataset.state = "connecting";
  pill.textContent = "Live: connecting";
  socket.addEventListener("open", () => {
    retryMs = 1000;
    pill.dataset.state = "ok";
    pill.textContent = "Live";
    // Values are read after the stream is open (also the first time: the
    // tree may have been answered before it), so no change falls in between.
    refreshValues().catch(() => {});
  });
  socket.addEventListener("message", (message) => onEvent(JSON.parse(message.data)));
  socket.addEventListener("close", () => {
    pill.dataset.state = "offline";
    pill.textContent = "Live: reconnecting";
    setTimeout(connectLive, retryMs);
    retryMs = Math.min(retryMs * 2, 15000);
  });
}

function onEvent(event) {
  switch (event.type) {
    case "ValueChanged": {
      const node = state.nodes.get(event.node_id);
      if (node) {
        node.value = event.value;
        node.ts_ms = event.ts_ms;
        showValue(event.node_id);
        flash(event.node_id);
      }
      const series = state.series.find((s) => s.id === event.node_id);
      const v = toNumber(event.value);
      if (series && v !== null) {
        appendLive(series, { t: event.ts_ms, v });
        renderLegend();
        scheduleRender();
      }
      break;
    }
    case "StatusChanged": {
      const node = state.nodes.get(event.node_id);
      if (node) {
        node.status = event.new_status;
        showValue(event.node_id);
      }
      break;
    }
    case "AlarmRaised":
    case "AlarmCleared":
      scheduleAlarms();
      break;
    case "DiscoveryScanComplete":
    case "ObjectListChanged":
      scheduleDiscovery();
      break;
    case "DeviceAccepted":
      scheduleDiscovery();
      refreshValues().catch(() => {});
      break;
    case "Lagged":
      showNotice(`Missed ${event.count} live update${event.count === 1 ? "" : "s"}; values reloaded.`);
      refreshValues().catch(() => {});
      loadHistory(state.series);
      scheduleDiscovery();
      break;
    case "error":
      showNotice(`Live stream refused: ${event.error.message}`);
      break;
  }
}

function appendLive(series, point) {
  if (series.loading) {
    series.pending.push(point);
    return;
  }
  series.points.push(point);
  // Drop what slid out of the window, but keep the newest sample before it:
  // its value holds into the window.
  const [t0] = timeWindow();
  let stale = 0;
  while (stale + 1 < series.points.length && series.points[stale + 1].t < t0) stale++;
  if (stale > 0) series.points.splice(0, stale);
}

/* -- who is logged in ------------------------------------------------------ */

/** The logged-in user, or null when this browser has no session (401). */
async function whoAmI() {
  const response = await fetch(API.me, { headers: { Accept: "application/json" } });
  if (response.status === 401) return null;
  if (!response.ok) throw await failure(response);
  return response.json();
}

function showUser() {
  $("who").hidden = state.me === null;
  if (state.me) {
    $("who-name").textContent = `${state.me.user} · ${state.me.role}`;
    $("who-name").title = `Logged in as ${state.me.user} (${state.me.role})`;
  }
}

function showLogin(message = "") {
  state.me = null;
  showUser();
  $("login").hidden = false;
  const error = $("login-error");
  error.hidden = !message;
  error.textContent = message;
  $("login-user").focus();
}

async function submitLogin(event) {
  event.preventDefault();
  const button = $("login-submit");
  button.disabled = true;
  try {
    state.me = await postJSON(API.login, { user: $("login-user").value, password: $("login-password").value });
    $("login-password").value = "";
    $("login").hidden = true;
    showUser();
    if (state.started) {
      loadAlarms();
      loadDiscovery();
    } else {
      startPage();
    }
  } catch (error) {
    // The server's message: it never says whether the user or the password was wrong.
    showLogin(error.message);
  } finally {
    button.disabled = false;
  }
}

async function logout() {
  try {
    await postJSON(API.logout);
  } finally {
    location.reload();
  }
}

/* -- alarms ---------------------------------------------------------------- */

const ALARM_STATES = {
  "active-unacked": "Active, unacknowledged",
  "active-acked": "Active, acknowledged",
  "cleared-unacked": "Cleared, unacknowledged",
};

let alarmTimer = null;
function scheduleAlarms() {
  clearTimeout(alarmTimer);
  alarmTimer = setTimeout(loadAlarms, 300);
}

async function loadAlarms() {
  if (!state.alarmsAvailable) return;
  const panel = $("alarms-panel");
  let body;
  try {
    body = await getJSON(`${API.alarms}?limit=500`);
  } catch (error) {
    // A listing has nothing to be missing: 404 means this server has no
    // alarm routes, so the panel stays hidden for good.
    if (error.status === 404) state.alarmsAvailable = false;
    panel.hidden = true;
    return;
  }
  // Open alarms: active ones, and cleared ones still waiting for an acknowledgement.
  const alarms = body.items || [];
  state.alarmNodes = new Set(alarms.filter((a) => a.active).map((a) => a.node_id));
  markAlarms();
  panel.hidden = false;
  $("alarm-count").textContent = alarms.length ? String(alarms.length) : "";
  const list = $("alarms");
  if (!alarms.length) {
    list.replaceChildren(el("p", { class: "muted pad" }, "No open alarms."));
    return;
  }
  list.replaceChildren(...alarms.map((alarm) => {
    return el("div", {
      class: `alarm ${alarm.active ? "active" : "cleared"}`, "data-severity": alarm.severity, title: "Show this point's trend",
      onclick: () => state.nodes.has(alarm.node_id) && selectPoint(alarm.node_id, false),
    },
    el("span", { class: "severity" }, alarm.severity),
    el("span", { class: "alarm-point", title: alarm.node_id }, pointLabel(alarm.node_id)),
    el("span", { class: "alarm-message" }, alarm.message),
    el("span", { class: "alarm-state" }, ALARM_STATES[alarm.state] || alarm.state),
    el("time", { class: "alarm-time" }, ChartMath.formatTime(alarm.raised_ms).slice(0, -3)),
    ackButton(alarm));
  }));
}

/** "Acknowledge" for an operator on an unacknowledged alarm; the server records who. */
function ackButton(alarm) {
  if (!mayDo("operator") || !String(alarm.state).endsWith("unacked")) return el("span", { class: "alarm-action" });
  return el("button", {
    type: "button", class: "alarm-action ack", title: "Acknowledge this alarm",
    onclick: async (event) => {
      event.stopPropagation(); // the row's click shows the trend
      event.currentTarget.disabled = true;
      try {
        await postJSON(`${API.alarms}/${encodeURIComponent(alarm.id)}/ack`);
      } catch (error) {
        showNotice(`Cannot acknowledge: ${error.message}`);
      }
      loadAlarms();
    },
  }, "Acknowledge");
}

/* -- discovery ------------------------------------------------------------- */

const DEVICE_STATES = { discovered: "Discovered", accepted: "Accepted", ignored: "Ignored" };

let discoveryTimer = null;
function scheduleDiscovery() {
  clearTimeout(discoveryTimer);
  discoveryTimer = setTimeout(loadDiscovery, 300);
}

/** One line of the panel, the status or the error; the other is hidden. */
function discoveryMessage(kind, text) {
  const status = $("discovery-status"), error = $("discovery-error");
  status.hidden = kind !== "status" || !text;
  error.hidden = kind !== "error" || !text;
  (kind === "error" ? error : status).textContent = text;
}

/**
 * The discovered devices (any role may see them). Scan needs an operator,
 * accept and ignore an admin: their controls are only drawn for those roles.
 */
async function loadDiscovery() {
  if (!state.discoveryAvailable) return;
  const panel = $("discovery-panel");
  const query = $("discovery-ignored").checked ? "?include_ignored=true" : "";
  let body;
  try {
    body = await getJSON(`${API.discoveryDevices}${query}`);
  } catch (error) {
    // As with alarms: 404 means this server has no discovery routes at all.
    if (error.status === 404) {
      state.discoveryAvailable = false;
      panel.hidden = true;
    } else {
      discoveryMessage("error", `Cannot list devices: ${error.message}`);
    }
    return;
  }
  panel.hidden = false;
  $("discovery-scan").hidden = !mayDo("operator");
  $("discovery-parent-label").hidden = !mayDo("admin");
  fillParents();
  const devices = body.items || [];
  state.discovered = new Map(devices.map((d) => [d.device_key, d]));
  $("discovery-count").textContent = devices.length ? String(devices.length) : "";
  const rows = $("discovery-rows");
  if (!devices.length) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: "9", class: "muted" },
      mayDo("operator") ? "No devices discovered yet: press Scan." : "No devices discovered yet.")));
    return;
  }
  rows.replaceChildren(...devices.flatMap(deviceRows));
}

/** A device's row, and (when expanded) the row under it with its point objects. */
function deviceRows(device) {
  const key = device.device_key;
  const open = state.expanded.has(key);
  const stale = device.object_list_stale
    ? el("span", { class: "stale", title: "The device's object list changed since it was read: scan and accept it again" }, "stale")
    : null;
  const row = el("tr", {
    class: `device${open ? " open" : ""}`, "data-key": key, "data-state": device.state, tabindex: "0",
    title: "Show this device's point objects", "aria-expanded": String(open),
    onclick: () => toggleDevice(key),
    onkeydown: (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        toggleDevice(key);
      }
    },
  },
  el("td", { class: "disc-caret" }, el("span", { class: "caret" })),
  el("td", { class: "disc-key" }, key),
  el("td", {}, el("span", { class: "device-state" }, DEVICE_STATES[device.state] || device.state), stale),
  el("td", { class: "disc-address" }, device.address || ""),
  el("td", { class: "disc-name" }, device.device_name || "–"),
  el("td", {}, device.vendor_name || (device.vendor_id != null ? `vendor ${device.vendor_id}` : "–")),
  el("td", {}, device.model_name || "–"),
  el("td", { class: "num" }, device.object_count == null ? "–" : String(device.object_count)),
  el("td", { class: "disc-actions" }, ...deviceActions(device)));
  if (!open) return [row];
  const detail = el("td", { colspan: "9" }, el("p", { class: "muted" }, "Loading…"));
  const detailRow = el("tr", { class: "device-points", "data-key": key }, detail);
  loadPoints(key, detail);
  return [row, detailRow];
}

/** Accept (also an ignored device, or a stale one again) and Ignore (a new one), for admins. */
function deviceActions(device) {
  if (!mayDo("admin")) return [];
  const buttons = [];
  const accepted = device.state === "accepted";
  if (!accepted || device.object_list_stale) {
    buttons.push(el("button", {
      type: "button", class: "action accept",
      title: "Create this device's equipment and points in the model and poll them",
      onclick: (event) => deviceCommand(event, device, "accept"),
    }, accepted ? "Accept again" : "Accept"));
  }
  if (device.state === "discovered") { // an accepted one is in the model: delete its nodes instead
    buttons.push(el("button", {
      type: "button", class: "action ignore", title: "Hide this device from later scans",
      onclick: (event) => deviceCommand(event, device, "ignore"),
    }, "Ignore"));
  }
  return buttons;
}

async function deviceCommand(event, device, command) {
  event.stopPropagation(); // the row's click expands it
  event.currentTarget.disabled = true;
  const key = device.device_key;
  const url = `${API.discoveryDevices}/${encodeURIComponent(key)}/${command}`;
  const parent = $("discovery-parent").value;
  try {
    if (command === "accept") {
      const answer = await postJSON(url, parent ? { parent_id: parent } : {});
      const made = answer.created_node_ids.length;
      discoveryMessage("status", `Accepted ${key}: ${made} node${made === 1 ? "" : "s"} created, ` +
        `${answer.polled_points} point${answer.polled_points === 1 ? "" : "s"} polled.`);
      refreshValues().catch(() => {}); // the tree shows the new equipment
    } else {
      await postJSON(url);
      discoveryMessage("status", `Ignored ${key}: later scans leave it out.`);
    }
  } catch (error) {
    discoveryMessage("error", `Cannot ${command} ${key}: ${error.message}`);
  }
  loadDiscovery();
}

function toggleDevice(key) {
  if (state.expanded.has(key)) state.expanded.delete(key);
  else state.expanded.add(key);
  const device = state.discovered.get(key);
  const row = document.querySelector(`#discovery-rows tr.device[data-key="${CSS.escape(key)}"]`);
  if (!device || !row) return;
  const next = row.nextElementSibling;
  if (next && next.classList.contains("device-points")) next.remove();
  row.replaceWith(...deviceRows(device));
}

async function loadPoints(key, cell) {
  let body;
  try {
    body = await getJSON(`${API.discoveryDevices}/${encodeURIComponent(key)}`);
  } catch (error) {
    cell.replaceChildren(el("p", { class: "discovery-error" }, `Cannot load objects: ${error.message}`));
    return;
  }
  const points = body.points || [];
  if (!points.length) {
    cell.replaceChildren(el("p", { class: "muted" }, "No point objects read from this device (scan it to read them)."));
    return;
  }
  cell.replaceChildren(el("table", { class: "point-table" },
    el("thead", {}, el("tr", {}, ...["Object", "Name", "Description", "Units", "Present value", "Writable"]
      .map((h) => el("th", h === "Present value" ? { class: "num" } : {}, h)))),
    el("tbody", {}, ...points.map((p) => el("tr", { class: "object" },
      el("td", { class: "disc-key" }, `${p.object_type}-${p.object_instance}`),
      el("td", {}, p.object_name || "–"),
      el("td", { class: "muted" }, p.description || ""),
      el("td", {}, p.units || ""),
      el("td", { class: "num" }, ChartMath.formatValue(p.present_value)),
      el("td", {}, p.writable ? "yes" : p.writable === false ? "no" : "–"))))));
}

/** The sites and spaces of the tree, for "Accept into" (none: the top level). */
function fillParents() {
  const select = $("discovery-parent");
  const chosen = select.value;
  const path = (node) => {
    const names = [];
    for (let n = node; n; n = n.parent_id ? state.nodes.get(n.parent_id) : null) names.unshift(n.dis);
    return names.join(" › ");
  };
  const places = [...state.nodes.values()]
    .filter((n) => n.node_type === "site" || n.node_type === "space")
    .map((n) => ({ id: n.id, label: path(n) }))
    .sort((a, b) => a.label.localeCompare(b.label));
  select.replaceChildren(el("option", { value: "" }, "(top level)"),
    ...places.map((p) => el("option", { value: p.id }, p.label)));
  if (places.some((p) => p.id === chosen)) select.value = chosen;
}

async function scanNetwork() {
  const button = $("discovery-scan");
  button.disabled = true;
  button.textContent = "Scanning…";
  discoveryMessage("status", "Scanning…");
  try {
    const result = await postJSON(API.discoveryScan, {});
    const n = result.devices.length;
    let text = `Scan found ${n} device${n === 1 ? "" : "s"} and ` +
      `${result.point_count} point object${result.point_count === 1 ? "" : "s"} ` +
      `in ${result.duration_s.toFixed(1)} s.`;
    if (result.new_devices.length) text += ` New: ${result.new_devices.join(", ")}.`;
    if (result.failed.length) text += ` Could not read: ${result.failed.join(", ")}.`;
    discoveryMessage("status", text);
  } catch (error) {
    discoveryMessage("error", `Scan failed: ${error.message}`);
  } finally {
    button.disabled = false;
    button.textContent = "Scan";
  }
  loadDiscovery();
}

/* -- start ----------------------------------------------------------------- */

async function start() {
  $("login-form").addEventListener("submit", submitLogin);
  $("logout").addEventListener("click", logout);
  tickClock();
  setInterval(tickClock, 1000);
  refreshHealth(); // public: shows even before anyone logs in
  setInterval(refreshHealth, 10000);
  try {
    state.me = await whoAmI();
  } catch (error) {
    showNotice(`Cannot reach the server: ${error.message}`);
    return;
  }
  if (state.me === null) {
    showLogin();
    return;
  }
  showUser();
  startPage();
}

/** Everything that needs a login: the tree, trends, alarms, discovery and the live stream. */
function startPage() {
  state.started = true;
  loadHash();
  for (const button of document.querySelectorAll("#ranges button")) {
    button.addEventListener("click", () => setRange(button.dataset.range));
  }
  $("filter").addEventListener("input", applyFilter);
  $("discovery-scan").addEventListener("click", scanNetwork);
  $("discovery-ignored").addEventListener("change", loadDiscovery);
  // Draw at once on a resize (before the next paint), so the chart never shows stretched.
  new ResizeObserver(() => renderChart()).observe($("chart"));
  // Slide the window with the clock even when no value changes.
  setInterval(scheduleRender, 5000);
  loadTree()
    .then(() => { renderLegend(); setRange(state.rangeKey); loadAlarms(); loadDiscovery(); })
    .catch((error) => { $("tree").replaceChildren(el("p", { class: "muted pad" }, `Cannot load nodes: ${error.message}`)); });
  connectLive();
}

if (typeof document !== "undefined") document.addEventListener("DOMContentLoaded", start);
