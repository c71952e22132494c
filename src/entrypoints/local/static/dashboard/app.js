// The dashboard: plain JS module, no build step. State lives in the URL's query string
// (site, range, from, to, filters, utm, pages, goal, prop), so a reload or a shared link shows
// the same view. Values from the API are user data: they only ever reach the page as text
// (textContent, attributes via setAttribute), never as HTML.
// config.json beside this file says where the API is and how to log in: "dev" (the local
// stack: a name, sent as `Bearer dev:<name>`) or "cognito" (the hosted UI, authorization
// code with PKCE).

const app = document.getElementById("app");
const DAY = 86400000;
const METRICS = ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"];
const TOTALS = [
  ["visitors", "Visitors"], ["visits", "Visits"], ["pageviews", "Pageviews"],
  ["bounceRate", "Bounce rate", "%"], ["visitDuration", "Visit duration", "s"],
];
const RANGES = [
  ["today", "Today"], ["7d", "7 days"], ["30d", "30 days"], ["mtd", "Month to date"],
  ["lastmonth", "Last month"], ["6mo", "6 months"], ["12mo", "12 months"], ["custom", "Custom"],
];
const GOAL_TOTALS = [["conversions", "Conversions"], ["conversionRate", "Conversion rate", "%"]];
const PANELS = [
  ["pages", "Pages"], ["referer_domain", "Sources"], ["utm", "UTM"], ["country", "Countries"],
  ["region", "Regions"], ["city", "Cities"], ["device", "Devices"], ["browser", "Browsers"],
  ["os", "Operating systems"], ["event", "Events"], ["property", "Custom properties"],
];
const PAGE_TABS = [["pathname", "Pages"], ["entry_page", "Entry pages"], ["exit_page", "Exit pages"]];
const OPERATORS = [["==", "is"], ["!=", "is not"], ["~=", "contains"], ["!~", "does not contain"]];
const DIMENSIONS = [
  ["pathname", "Page"], ["entry_page", "Entry page"], ["exit_page", "Exit page"], ["event", "Event"],
  ["referer_domain", "Source"], ["utm_source", "UTM source"], ["utm_medium", "UTM medium"],
  ["utm_campaign", "UTM campaign"], ["utm_content", "UTM content"], ["utm_term", "UTM term"],
  ["country", "Country"], ["region", "Region"], ["city", "City"], ["device", "Device"],
  ["browser", "Browser"], ["os", "Operating system"],
];
const PROPERTY = "property:";
const PROPERTY_KEY = /^[A-Za-z0-9_.:-]{1,100}$/;
const REALTIME_MS = 30000;
const UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"];
const OUTCOMES = [
  ["accepted", "Accepted"], ["duplicate", "Duplicate"], ["malformed", "Malformed"],
  ["domainMismatch", "Domain mismatch"], ["bot", "Bot"], ["overAllowance", "Over allowance"],
];

let config = { apiBase: "", trackerUrl: "", auth: { mode: "dev" } };
let token = null;
let renderSeq = 0;
let realtime = null; // { site, timer, refresh } while a site's view shows the counter

// ---------- small helpers ----------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const iso = (d) => d.toISOString().slice(0, 10);
const utcToday = () => new Date(iso(new Date()) + "T00:00:00Z");
// Today in the site's time zone (the API's days are the site's local days), as a UTC midnight.
function todayIn(timezone) {
  try {
    const local = new Intl.DateTimeFormat("en-CA", { timeZone: timezone || "UTC", year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
    return /^\d{4}-\d{2}-\d{2}$/.test(local) ? new Date(local + "T00:00:00Z") : utcToday();
  } catch { return utcToday(); }
}
const addDays = (d, n) => new Date(d.getTime() + n * DAY);
const firstOfMonth = (d, back = 0) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - back, 1));
const fmt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en"));

function getState() {
  const q = new URLSearchParams(location.search);
  return {
    site: q.get("site") || "",
    range: q.get("range") || "7d",
    from: q.get("from") || "",
    to: q.get("to") || "",
    filters: (q.get("filters") || "").split(";").filter((f) => parseFilter(f) !== null),
    utm: UTM.includes(q.get("utm")) ? q.get("utm") : "utm_source",
    pages: PAGE_TABS.some(([k]) => k === q.get("pages")) ? q.get("pages") : "pathname",
    goal: q.get("goal") || "",
    prop: q.get("prop") || "",
  };
}

function setState(changes, { replace = false } = {}) {
  const state = { ...getState(), ...changes };
  const q = new URLSearchParams();
  if (state.site) {
    q.set("site", state.site);
    q.set("range", state.range);
    if (state.range === "custom") { q.set("from", state.from); q.set("to", state.to); }
    if (state.filters.length) q.set("filters", state.filters.join(";"));
    if (state.utm !== "utm_source") q.set("utm", state.utm);
    if (state.pages !== "pathname") q.set("pages", state.pages);
    if (state.goal) q.set("goal", state.goal);
    if (state.prop) q.set("prop", state.prop);
  }
  const url = location.pathname + (q.toString() ? "?" + q.toString() : "");
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  render();
}

// A filter as the API writes it: `dimension<operator>value`, the earliest operator wins (as
// the API reads it); the value may hold alternatives `a|b|c`. Null when there is no operator.
export function parseFilter(text) {
  let found = null;
  for (const [op] of OPERATORS) {
    const at = text.indexOf(op);
    if (at > 0 && (found === null || at < found.at)) found = { at, op };
  }
  if (found === null) return null;
  const dim = text.slice(0, found.at).trim();
  const value = text.slice(found.at + found.op.length);
  if (!dim || !value) return null;
  return { dim, op: found.op, values: value.split("|") };
}

export function dimensionLabel(dim) {
  if (dim.startsWith(PROPERTY)) return `Property ${dim.slice(PROPERTY.length)}`;
  const known = DIMENSIONS.find(([k]) => k === dim);
  return known ? known[1] : dim;
}

export function rangeDates(state, timezone = "UTC") {
  const today = todayIn(timezone);
  switch (state.range) {
    case "today": return { start: today, end: today, interval: "hour" };
    case "30d": return { start: addDays(today, -29), end: today, interval: "day" };
    case "mtd": return { start: firstOfMonth(today), end: today, interval: "day" };
    case "lastmonth": return { start: firstOfMonth(today, 1), end: addDays(firstOfMonth(today), -1), interval: "day" };
    case "6mo": return { start: firstOfMonth(today, 5), end: today, interval: "week" };
    case "12mo": return { start: firstOfMonth(today, 11), end: today, interval: "month" };
    case "custom": {
      const start = new Date((state.from || iso(addDays(today, -6))) + "T00:00:00Z");
      const end = new Date((state.to || iso(today)) + "T00:00:00Z");
      const days = Math.round((end - start) / DAY) + 1;
      return { start, end, interval: days <= 1 ? "hour" : days <= 62 ? "day" : days <= 200 ? "week" : "month" };
    }
    default: return { start: addDays(today, -6), end: today, interval: "day" };
  }
}

// ---------- auth ----------

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

async function cognitoLogin() {
  const auth = config.auth;
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem("pkce_verifier", verifier);
  sessionStorage.setItem("pkce_state", state);
  sessionStorage.setItem("pkce_return", location.search);
  const q = new URLSearchParams({
    response_type: "code", client_id: auth.clientId, redirect_uri: auth.redirectUri,
    scope: (auth.scopes || ["openid", "email"]).join(" "),
    code_challenge_method: "S256", code_challenge: challenge, state,
  });
  location.assign(`${auth.domain}/oauth2/authorize?${q}`);
}

async function cognitoCallback() {
  const q = new URLSearchParams(location.search);
  const code = q.get("code");
  if (!code) return false;
  const expected = sessionStorage.getItem("pkce_state");
  const verifier = sessionStorage.getItem("pkce_verifier");
  const back = sessionStorage.getItem("pkce_return") || "";
  sessionStorage.removeItem("pkce_state"); sessionStorage.removeItem("pkce_verifier");
  if (!expected || q.get("state") !== expected || !verifier) throw new Error("login state mismatch: log in again");
  const answer = await fetch(`${config.auth.domain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", client_id: config.auth.clientId, code,
      redirect_uri: config.auth.redirectUri, code_verifier: verifier,
    }),
  });
  if (!answer.ok) throw new Error(`token exchange failed (${answer.status})`);
  const tokens = await answer.json();
  token = tokens.id_token;
  sessionStorage.setItem("id_token", token);
  history.replaceState(null, "", location.pathname + back);
  return true;
}

function loggedInName() {
  if (config.auth.mode === "dev") return sessionStorage.getItem("dev_name");
  if (!token) return null;
  try {
    const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    if (claims.exp && claims.exp * 1000 < Date.now()) return null;
    return claims.email || claims["cognito:username"] || claims.sub;
  } catch { return null; }
}

function authHeader() {
  if (config.auth.mode === "dev") return `Bearer dev:${sessionStorage.getItem("dev_name")}`;
  return `Bearer ${token}`;
}

function logout() {
  sessionStorage.removeItem("dev_name");
  sessionStorage.removeItem("id_token");
  token = null;
  if (config.auth.mode === "cognito" && config.auth.logoutUri) {
    const q = new URLSearchParams({ client_id: config.auth.clientId, logout_uri: config.auth.logoutUri });
    location.assign(`${config.auth.domain}/logout?${q}`);
    return;
  }
  render();
}

// The API's message and, for a 400, what it says about each parameter.
function errorText(status, body) {
  const error = body && body.error;
  if (!error) return `HTTP ${status}`;
  const fields = error.fields ? Object.entries(error.fields).map(([k, v]) => `${k}: ${v}`).join("; ") : "";
  return fields ? `${error.message}: ${fields}` : error.message || `HTTP ${status}`;
}

class ApiError extends Error {
  constructor(status, body) {
    super(errorText(status, body));
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const init = { method, headers: { Authorization: authHeader() } };
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const answer = await fetch(config.apiBase + path, init);
  const text = await answer.text();
  const parsed = text ? JSON.parse(text) : null;
  if (answer.status === 401) { sessionStorage.removeItem("dev_name"); sessionStorage.removeItem("id_token"); token = null; }
  if (!answer.ok) throw new ApiError(answer.status, parsed);
  return parsed;
}

function renderLogin() {
  if (config.auth.mode === "cognito") {
    app.replaceChildren(h("section", { class: "card" },
      h("h1", { text: "Log in" }),
      h("button", { type: "button", class: "primary", id: "login", onclick: () => cognitoLogin() }, "Log in with Cognito")));
    return;
  }
  const input = h("input", { id: "login-name", name: "name", required: true, autocomplete: "username", maxlength: "100", pattern: "\\S+" });
  app.replaceChildren(h("section", { class: "card" },
    h("h1", { text: "Log in" }),
    h("p", { class: "muted", text: "Local stack: dev login by name (sent as Authorization: Bearer dev:<name>)." }),
    h("form", { id: "login-form", onsubmit: (e) => {
      e.preventDefault();
      sessionStorage.setItem("dev_name", input.value.trim());
      render();
    } }, h("label", {}, "Name ", input), h("button", { type: "submit", class: "primary" }, "Log in"))));
  input.focus();
}

// ---------- sites ----------

async function renderSites(seq) {
  const { sites } = await api("GET", "/api/sites");
  if (seq !== renderSeq) return;
  const error = h("p", { class: "error", role: "alert" });
  const name = h("input", { id: "site-name", required: true, maxlength: "100" });
  const domains = h("input", { id: "site-domains", required: true, placeholder: "example.com, www.example.com" });
  const form = h("form", { id: "create-site", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const site = await api("POST", "/api/sites", {
        name: name.value, domains: domains.value.split(/[\s,]+/).filter(Boolean),
      });
      setState({ site: site.siteId, range: "7d", filters: [] });
    } catch (err) {
      const fields = err.body && err.body.error && err.body.error.fields;
      error.textContent = fields ? Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join("; ") : err.message;
    }
  } },
  h("label", {}, "Name ", name), h("label", {}, "Domains ", domains),
  h("button", { type: "submit", class: "primary" }, "Create site"), error);
  const list = sites.length
    ? h("ul", {}, sites.map((site) => h("li", { "data-site-id": site.siteId },
      h("a", { href: `?site=${encodeURIComponent(site.siteId)}&range=7d`, onclick: (e) => { e.preventDefault(); setState({ site: site.siteId, range: "7d", filters: [] }); } }, site.name),
      h("span", { class: "muted" }, site.domains.join(", ")),
      h("button", { type: "button", class: "danger", "aria-label": `Delete ${site.name}`, onclick: async () => {
        if (!confirm(`Delete ${site.name} and all its data? This cannot be undone.`)) return;
        await api("DELETE", `/api/sites/${encodeURIComponent(site.siteId)}`);
        render();
      } }, "Delete"))))
    : h("p", { class: "muted", text: "No site yet." });
  app.replaceChildren(
    h("section", { class: "card sites" }, h("h1", { text: "Sites" }), list),
    h("section", { class: "card" }, h("h2", { text: "New site" }), form));
}

// ---------- one site ----------

function queryPath(state, dates, extra) {
  const q = new URLSearchParams({ siteId: state.site, startDate: iso(dates.start), endDate: iso(dates.end), ...extra });
  if (state.filters.length) q.set("filters", state.filters.join(";"));
  return `/api/query?${q}`;
}

function change(current, previous) {
  if (current === null || current === undefined || previous === null || previous === undefined) return null;
  if (previous === 0) return current === 0 ? 0 : null;
  return Math.round(((current - previous) / previous) * 100);
}

function totalsView(report, goal) {
  const previous = (report.comparison && report.comparison.totals) || {};
  const shown = goal ? [...TOTALS, ...GOAL_TOTALS] : TOTALS;
  return h("section", { class: "totals", id: "totals", "aria-label": "Totals" },
    shown.map(([key, label, unit]) => {
      const pct = change(report.totals[key], previous[key]);
      const arrow = pct === null ? "" : pct > 0 ? "▲" : pct < 0 ? "▼" : "";
      return h("div", { class: "total", "data-metric": key },
        h("div", { class: "muted", text: key in Object.fromEntries(GOAL_TOTALS) ? `${label} (${goal})` : label }),
        h("div", { class: "value" }, fmt(report.totals[key]), report.totals[key] === null || report.totals[key] === undefined ? "" : unit || ""),
        h("div", { class: `change ${pct > 0 ? "up" : pct < 0 ? "down" : ""}`, title: "against the previous period" },
          pct === null ? (previous[key] === 0 ? "new (previous: 0)" : `previous: ${fmt(previous[key])}`) : `${arrow} ${Math.abs(pct)}% vs previous`));
    }));
}

export function chartSvg(series) {
  const NS = "http://www.w3.org/2000/svg";
  const W = 800, H = 240, L = 44, R = 24, T = 10, B = 28;
  const max = Math.max(1, ...series.flatMap((p) => [p.visitors || 0, p.pageviews || 0]));
  const x = (i) => L + (series.length <= 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (series.length - 1));
  const y = (v) => T + (H - T - B) * (1 - (v || 0) / max);
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  const total = (k) => series.reduce((s, p) => s + (p[k] || 0), 0);
  svg.setAttribute("aria-label", `Visitors and pageviews over ${series.length} buckets: ${total("visitors")} visitor-buckets, ${total("pageviews")} pageviews`);
  const add = (tag, attrs, text) => {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
    return el;
  };
  for (const frac of [0, 0.5, 1]) {
    const v = Math.round(max * frac);
    add("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#d8dde3" });
    add("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#5b6570" }, String(v));
  }
  // Hour buckets carry their local offset (or Z): the label is the local clock time.
  const label = (b) => (b.length > 10 ? b.slice(11, 16) : b.slice(5));
  const step = Math.max(1, Math.ceil(series.length / 8));
  series.forEach((p, i) => {
    if (i % step === 0) add("text", { x: x(i), y: H - 8, "text-anchor": "middle", "font-size": 11, fill: "#5b6570" }, label(p.bucket));
  });
  for (const [key, color] of [["pageviews", "#c2410c"], ["visitors", "#1f6feb"]]) {
    add("polyline", { points: series.map((p, i) => `${x(i)},${y(p[key])}`).join(" "), fill: "none", stroke: color, "stroke-width": 2 });
    series.forEach((p, i) => {
      const dot = add("circle", { cx: x(i), cy: y(p[key]), r: 3, fill: color });
      const title = document.createElementNS(NS, "title");
      title.textContent = `${p.bucket}: ${p[key] || 0} ${key}`;
      dot.append(title);
    });
  }
  return svg;
}

function filterChips(state) {
  if (!state.filters.length) return h("div", { class: "chips", id: "chips" });
  return h("div", { class: "chips", id: "chips", "aria-label": "Filters" }, state.filters.map((f) => {
    const { dim, op, values } = parseFilter(f);
    const verb = OPERATORS.find(([o]) => o === op)[1];
    const text = `${dimensionLabel(dim)} ${verb} ${values.join(" or ")}`;
    return h("button", { type: "button", class: "chip", "data-filter": f, "aria-label": `Remove filter ${text}`,
      onclick: () => setState({ filters: state.filters.filter((x) => x !== f) }) }, `${text} ✕`);
  }));
}

function filterForm(state) {
  const error = h("p", { class: "error", id: "filter-error", role: "alert" });
  const key = h("input", { id: "filter-key", "aria-label": "Property key", placeholder: "property key", maxlength: "100", hidden: true });
  const dim = h("select", { id: "filter-dim", "aria-label": "Filter dimension", onchange: () => { key.hidden = dim.value !== "property"; } },
    DIMENSIONS.map(([k, label]) => h("option", { value: k }, label)), h("option", { value: "property" }, "Custom property…"));
  const op = h("select", { id: "filter-op", "aria-label": "Filter operator" }, OPERATORS.map(([o, label]) => h("option", { value: o }, label)));
  const value = h("input", { id: "filter-value", "aria-label": "Filter value", placeholder: "value, or a|b|c", maxlength: "500" });
  return h("form", { class: "row", id: "filter-form", "aria-label": "Add a filter", onsubmit: (e) => {
    e.preventDefault();
    let dimension = dim.value;
    if (dimension === "property") {
      if (!PROPERTY_KEY.test(key.value.trim())) { error.textContent = "A property key has 1-100 characters from A-Z a-z 0-9 _ . : -"; return; }
      dimension = PROPERTY + key.value.trim();
    }
    const values = value.value.split("|").map((v) => v.trim()).filter(Boolean);
    if (!values.length) { error.textContent = "Type a value (alternatives as a|b|c)."; return; }
    if (values.some((v) => v.includes(";"))) { error.textContent = "A filter value cannot contain ;"; return; }
    const filter = `${dimension}${op.value}${values.join("|")}`;
    setState({ filters: [...state.filters.filter((f) => f !== filter), filter] });
  } }, dim, key, op, value, h("button", { type: "submit" }, "Add filter"), error);
}

function goalPicker(state, events) {
  const names = new Set(((events && events.breakdown) || []).map((r) => r.value).filter((v) => v !== null));
  if (state.goal) names.add(state.goal);
  return h("label", { class: "inline" }, "Goal ",
    h("select", { id: "goal", "aria-label": "Goal", onchange: (e) => setState({ goal: e.target.value }) },
      h("option", { value: "", selected: !state.goal }, "No goal"),
      [...names].sort().map((name) => h("option", { value: name, selected: name === state.goal }, name))));
}

// What each panel groups by, with the metrics of its rows.
function panelQuery(state, key) {
  const groupBy = key === "utm" ? state.utm : key === "pages" ? state.pages
    : key === "property" ? (state.prop ? PROPERTY + state.prop : null) : key;
  if (groupBy === null) return null;
  const extra = { metrics: "visitors,percentage", groupBy, limit: key === "event" ? "100" : "10" };
  if (key === "referer_domain" && state.goal) { extra.metrics += ",conversions"; extra.goal = state.goal; }
  return extra;
}

function panelHeading(state, key, title) {
  if (key === "utm") {
    return h("div", { class: "row" }, h("h3", { text: title }),
      h("select", { "aria-label": "UTM parameter", onchange: (e) => setState({ utm: e.target.value }, { replace: true }) },
        UTM.map((u) => h("option", { value: u, selected: u === state.utm }, u))));
  }
  if (key === "pages") {
    return h("div", { class: "row tabs", role: "group", "aria-label": "Pages" }, PAGE_TABS.map(([k, label]) =>
      h("button", { type: "button", "data-tab": k, "aria-pressed": String(state.pages === k), onclick: () => setState({ pages: k }, { replace: true }) }, label)));
  }
  if (key === "property") {
    const input = h("input", { id: "property-key", "aria-label": "Property key", value: state.prop, placeholder: "key, e.g. plan", maxlength: "100" });
    return h("div", {}, h("h3", { text: title }),
      h("form", { class: "row", id: "property-form", onsubmit: (e) => { e.preventDefault(); setState({ prop: input.value.trim() }, { replace: true }); } },
        input, h("button", { type: "submit" }, "Show")));
  }
  return h("h3", { text: title });
}

function panelView(state, key, title, query, report) {
  const heading = panelHeading(state, key, title);
  const section = (...body) => h("section", { class: "card panel", id: `panel-${key}`, "aria-label": title }, heading, ...body);
  if (query === null) return section(h("p", { class: "muted", text: "Type a property key to see its values." }));
  if (report instanceof Error) return section(h("p", { class: "error", role: "alert", text: report.message }));
  const dimension = query.groupBy;
  const conversions = query.metrics.includes("conversions");
  const rows = ((report && report.breakdown) || []).slice(0, 10);
  const max = Math.max(1, ...rows.map((r) => r.visitors || 0));
  const cells = (r) => [
    h("span", { class: "label", text: r.value === null ? "(unknown)" : r.value }),
    h("span", { class: "num", "data-col": "visitors", text: fmt(r.visitors) }),
    h("span", { class: "num", "data-col": "percentage", text: r.percentage === null || r.percentage === undefined ? "–" : `${r.percentage}%` }),
    conversions ? h("span", { class: "num", "data-col": "conversions", text: fmt(r.conversions) }) : null,
  ];
  const items = rows.map((r) => {
    const bar = h("span", { class: "bar", style: `width:${Math.round(((r.visitors || 0) / max) * 100)}%` });
    const filter = `${dimension}==${r.value}`;
    // A value holding `|` or `;` cannot be written as one filter value.
    if (r.value === null || /[|;]/.test(r.value) || state.filters.includes(filter)) {
      return h("li", { "data-value": r.value ?? "" }, h("div", { class: "static" }, bar, cells(r)));
    }
    return h("li", { "data-value": r.value }, h("button", { type: "button", "data-dimension": dimension, "data-value": r.value, title: `Filter by ${dimensionLabel(dimension)} ${r.value}`,
      onclick: () => setState({ filters: [...state.filters.filter((f) => !f.startsWith(dimension + "==")), filter] }) },
    bar, cells(r)));
  });
  const columns = h("div", { class: "cols muted" }, h("span", { class: "label" }, ""), h("span", { class: "num", text: "Visitors" }),
    h("span", { class: "num", text: "%" }), conversions ? h("span", { class: "num", text: "Conv." }) : null);
  return section(items.length ? [columns, h("ol", {}, items)] : h("p", { class: "muted", text: "No data" }));
}

function realtimeCard() {
  return h("section", { class: "card", id: "realtime", "aria-label": "Realtime", hidden: true },
    h("p", { id: "realtime-visitors", class: "realtime" }), h("ol", { id: "realtime-pages" }));
}

function showRealtime(card, now) {
  card.querySelector("#realtime-visitors").textContent =
    `${fmt(now.visitors)} ${now.visitors === 1 ? "visitor" : "visitors"} in the last 5 minutes`;
  card.querySelector("#realtime-pages").replaceChildren(...(now.pages || []).map((p) =>
    h("li", { "data-value": p.value }, h("span", { text: p.value }), h("span", { class: "num", text: fmt(p.visitors) }))));
  card.hidden = false;
}

function stopRealtime() {
  if (realtime) clearInterval(realtime.timer);
  realtime = null;
}

// The counter refreshes every 30 s while the page is visible (and at once when it becomes
// visible again); a 404 (an API without the realtime route) hides it for good.
function startRealtime(siteId, card) {
  stopRealtime();
  const current = { site: siteId, timer: null, refresh: null };
  current.refresh = async () => {
    try {
      const now = await api("GET", `/api/realtime?siteId=${encodeURIComponent(siteId)}`);
      if (realtime !== current) return;
      showRealtime(card, now);
      card.dataset.state = "shown";
    } catch (err) {
      if (realtime !== current) return;
      card.hidden = true;
      card.dataset.state = err instanceof ApiError && err.status === 404 ? "absent" : "error";
      if (card.dataset.state === "absent") stopRealtime();
    }
    card.dataset.refreshes = String(Number(card.dataset.refreshes || 0) + 1);
  };
  current.timer = setInterval(() => { if (document.visibilityState === "visible") current.refresh(); }, REALTIME_MS);
  realtime = current;
  current.refresh();
}

function settingsView(site) {
  const error = h("p", { class: "error", id: "settings-error", role: "alert" });
  let zones = [];
  try { zones = Intl.supportedValuesOf("timeZone"); } catch { /* older browsers: free text */ }
  const input = h("input", { id: "timezone-input", "aria-label": "Time zone", value: site.timezone || "UTC", list: "timezones", required: true, maxlength: "100" });
  return h("details", { class: "card", id: "settings" }, h("summary", { text: "Site settings" }),
    h("form", { class: "row", id: "timezone-form", onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api("PUT", `/api/sites/${encodeURIComponent(site.siteId)}`, { timezone: input.value.trim() });
        render();
      } catch (err) { error.textContent = err.message; }
    } },
    h("label", { class: "inline" }, "Time zone ", input),
    h("datalist", { id: "timezones" }, ["UTC", ...zones].map((z) => h("option", { value: z }))),
    h("button", { type: "submit", class: "primary" }, "Save")),
    h("p", { class: "muted", text: "Days, hours and date ranges are the site's local ones." }), error);
}

function diagnosticsView(site, diagnostics) {
  const a = site.allowance || {};
  return h("section", { class: "card", id: "diagnostics", "aria-label": "Ingest diagnostics" },
    h("h2", { text: "Ingest diagnostics" }),
    h("p", { class: "muted", text: `What became of the events sent ${diagnostics.startDate} to ${diagnostics.endDate}.` }),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "Outcome" }), h("th", { class: "num", text: "Events" }))),
      h("tbody", {}, OUTCOMES.map(([k, label]) => h("tr", { "data-outcome": k }, h("td", { text: label }), h("td", { class: "num", text: fmt(diagnostics.totals[k]) }))))),
    h("h3", { text: "Allowance", style: "margin-top:1rem" }),
    h("p", { id: "allowance" }, `Plan ${a.plan ?? site.plan}: ${fmt(a.used)} of ${fmt(a.monthlyAllowance)} used, ${fmt(a.remaining)} remaining; period from ${a.periodStart ?? "–"}, resets on ${a.resetsOn ?? "–"}.`));
}

function snippetView(site, isNew) {
  const base = config.trackerUrl || location.origin;
  const api = config.ingestOrigin ? ` data-api="${config.ingestOrigin}"` : "";
  const code = `<script defer src="${base}/script.js" data-site-id="${site.siteId}"${api}></script>`;
  const body = [h("p", { class: "muted", text: `Paste this into the <head> of every page of ${site.domains.join(", ")}:` }), h("pre", { id: "snippet" }, h("code", { text: code }))];
  return isNew
    ? h("section", { class: "card", id: "tracker" }, h("h2", { text: "Start tracking" }), ...body)
    : h("details", { class: "card", id: "tracker" }, h("summary", { text: "Tracker snippet" }), ...body);
}

async function renderSite(seq, state) {
  if (realtime && realtime.site !== state.site) stopRealtime();
  const site = await api("GET", `/api/sites/${encodeURIComponent(state.site)}`);
  const timezone = site.timezone || "UTC";
  const dates = rangeDates(state, timezone);
  const panelQueries = PANELS.map(([key]) => panelQuery(state, key));
  const metrics = state.goal ? [...METRICS, "conversions", "conversion_rate"] : METRICS;
  const main = { metrics: metrics.join(","), interval: dates.interval, compare: "previous_period" };
  if (state.goal) main.goal = state.goal;
  // A 400 (a filter the API refuses, say) is shown in place of the numbers it concerns.
  const [report, diagnostics, ...panels] = await Promise.all([
    api("GET", queryPath(state, dates, main)).catch((e) => e),
    api("GET", `/api/sites/${encodeURIComponent(state.site)}/ingest?startDate=${iso(dates.start)}&endDate=${iso(dates.end)}`),
    ...panelQueries.map((extra) => (extra === null ? null : api("GET", queryPath(state, dates, extra)).catch((e) => e))),
  ]);
  if (seq !== renderSeq) return;
  if (report instanceof ApiError && report.status === 401) throw report;
  const failed = report instanceof Error;
  const isNew = !failed && diagnostics.totals.accepted === 0 && report.totals.visitors === 0;
  const events = panels[PANELS.findIndex(([k]) => k === "event")];
  const from = h("input", { type: "date", id: "custom-from", value: iso(dates.start), "aria-label": "From" });
  const to = h("input", { type: "date", id: "custom-to", value: iso(dates.end), "aria-label": "To" });
  const live = realtimeCard();
  app.replaceChildren(...[
    h("section", { class: "card" },
      h("div", { class: "row" }, h("h1", { id: "site-name", text: site.name }), h("span", { class: "muted", text: site.domains.join(", ") }),
        h("a", { href: "?", onclick: (e) => { e.preventDefault(); setState({ site: "" }); } }, "All sites")),
      h("div", { class: "row ranges", role: "group", "aria-label": "Date range" },
        RANGES.filter(([k]) => k !== "custom").map(([k, label]) => h("button", { type: "button", "data-range": k, "aria-pressed": String(state.range === k),
          onclick: () => setState({ range: k }) }, label))),
      h("form", { class: "row", id: "custom-range", onsubmit: (e) => { e.preventDefault(); setState({ range: "custom", from: from.value, to: to.value }); } },
        from, to, h("button", { type: "submit", "aria-pressed": String(state.range === "custom") }, "Custom range")),
      h("p", { class: "muted", id: "range-label" }, `${iso(dates.start)} to ${iso(dates.end)} (by ${dates.interval}) · time zone `,
        h("strong", { id: "timezone", text: timezone }),
        ` · compared with ${!failed && report.comparison ? `${report.comparison.startDate} to ${report.comparison.endDate}` : "–"} · answered by `,
        h("strong", { id: "source", text: failed ? "–" : report.source })),
      h("div", { class: "row" }, goalPicker(state, events instanceof Error ? null : events)),
      filterChips(state),
      filterForm(state)),
    live,
    isNew ? snippetView(site, true) : null,
    failed ? h("section", { class: "card", id: "query-error" }, h("p", { class: "error", role: "alert", text: report.message })) : totalsView(report, state.goal),
    failed ? null : h("section", { class: "card chart", id: "chart", "aria-label": "Visitors and pageviews" },
      h("div", { class: "legend" }, h("span", { class: "v", text: "Visitors" }), h("span", { class: "p", text: "Pageviews" })),
      chartSvg(report.timeseries || [])),
    h("div", { class: "panels" }, PANELS.map(([key, title], i) => panelView(state, key, title, panelQueries[i], panels[i]))),
    settingsView(site),
    diagnosticsView(site, diagnostics),
    isNew ? null : snippetView(site, false),
  ].filter(Boolean));
  startRealtime(state.site, live);
  app.dataset.ready = JSON.stringify({
    site: state.site, range: state.range, filters: state.filters, goal: state.goal, prop: state.prop,
    pages: state.pages, startDate: iso(dates.start), endDate: iso(dates.end), timezone,
    error: failed ? report.message : null,
  });
}

// ---------- main ----------

async function render() {
  const seq = ++renderSeq;
  delete app.dataset.ready;
  const name = loggedInName();
  document.getElementById("who").textContent = name ? `Logged in as ${name}` : "";
  document.getElementById("logout").hidden = !name;
  if (!name) { stopRealtime(); renderLogin(); return; }
  const state = getState();
  if (!state.site) stopRealtime();
  try {
    if (state.site) await renderSite(seq, state); else await renderSites(seq);
  } catch (err) {
    if (seq !== renderSeq) return;
    stopRealtime();
    if (err instanceof ApiError && err.status === 401) { renderLogin(); return; }
    app.replaceChildren(h("section", { class: "card" }, h("p", { class: "error", role: "alert", text: err.message }),
      h("a", { href: "?", onclick: (e) => { e.preventDefault(); setState({ site: "" }); } }, "Back to the sites")));
  }
}

async function start() {
  try {
    const answer = await fetch(new URL("config.json", import.meta.url));
    if (answer.ok) config = { ...config, ...(await answer.json()) };
  } catch { /* the defaults: the local stack */ }
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("home").addEventListener("click", (e) => { e.preventDefault(); setState({ site: "" }); });
  window.addEventListener("popstate", render);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && realtime) realtime.refresh();
  });
  if (config.auth.mode === "cognito") {
    token = sessionStorage.getItem("id_token");
    try { await cognitoCallback(); } catch (err) {
      app.replaceChildren(h("p", { class: "error", role: "alert", text: err.message }));
      return;
    }
  }
  render();
}

start();
