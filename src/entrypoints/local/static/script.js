/*! analytics tracker: privacy-first, dependency-free.
 *
 * <script defer src="https://<your-api>/script.js" data-site-id="<SITE_ID>"></script>
 *
 * - nothing at all is sent when the browser signals Global Privacy Control or Do Not Track;
 * - the first event of a browser session is sent as type "initial" and carries the session's
 *   attributes (referrer, landing URL, screen); the session id lives in sessionStorage only
 *   (no cookies, nothing that outlives the tab);
 * - a pageview on load and on every SPA navigation (history.pushState, popstate);
 * - analytics.track(name, props) for custom events;
 * - sent with navigator.sendBeacon, else fetch with keepalive, as text/plain so that no CORS
 *   preflight is needed.
 * Optional attributes: data-api (the collect endpoint's origin, default: this script's origin).
 * Calls made before the script has loaded can wait in a queue the page sets up:
 *   window.analytics = window.analytics || {q: []}; analytics.q.push(["signup", {plan: "pro"}]);
 */
(function () {
  "use strict";
  var w = window, d = document, n = navigator, loc = w.location;
  var queued = (w.analytics && w.analytics.q) || [];
  var noop = { track: function () {} };

  function optedOut() {
    if (n.globalPrivacyControl === true) return true;
    var dnt = n.doNotTrack || w.doNotTrack || n.msDoNotTrack;
    return dnt === "1" || dnt === "yes";
  }

  var script = d.currentScript || d.querySelector("script[data-site-id]");
  var siteId = script && script.getAttribute("data-site-id");
  if (!siteId || optedOut()) {
    w.analytics = noop;
    return;
  }
  var origin = (script.getAttribute("data-api") || new URL(script.src, loc.href).origin).replace(/\/+$/, "");
  var endpoint = origin + "/ingest?site_id=" + encodeURIComponent(siteId);
  var KEY = "analytics_session";

  function newId() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    var out = "";
    for (var i = 0; i < 32; i++) out += Math.floor(Math.random() * 16).toString(16);
    return out;
  }

  var memorySession = null;
  // [session id, true when this call started the session]
  function session() {
    var id = null;
    try { id = w.sessionStorage.getItem(KEY); } catch (e) { id = memorySession; }
    if (id) return [id, false];
    id = newId();
    memorySession = id;
    try { w.sessionStorage.setItem(KEY, id); } catch (e) { /* storage blocked: this page only */ }
    return [id, true];
  }

  function send(payload) {
    var body = JSON.stringify(payload);
    try {
      if (n.sendBeacon && n.sendBeacon(endpoint, body)) return;
    } catch (e) { /* fall through to fetch */ }
    if (w.fetch) {
      w.fetch(endpoint, {
        method: "POST", body: body, keepalive: true, credentials: "omit",
        headers: { "Content-Type": "text/plain" }
      }).catch(function () {});
    }
  }

  function path() { return loc.pathname + loc.search; }

  function emit(name, props) {
    var s = session();
    var payload = {
      type: s[1] ? "initial" : "event",
      session_id: s[0],
      event: String(name),
      pathname: path(),
      timestamp: Date.now()
    };
    if (props && typeof props === "object") payload.properties = props;
    if (s[1]) {
      payload.referrer = d.referrer || undefined;
      payload.url = loc.href;
      payload.screen = { width: w.screen.width, height: w.screen.height };
    }
    send(payload);
  }

  var lastPath = null;
  function pageview() {
    var current = path();
    if (current === lastPath) return;  // a hash change or a pushState to the same page
    lastPath = current;
    emit("pageview");
  }

  var push = w.history.pushState;
  w.history.pushState = function () {
    var result = push.apply(this, arguments);
    pageview();
    return result;
  };
  w.addEventListener("popstate", pageview);

  w.analytics = {
    track: function (name, props) {
      if (typeof name !== "string" || !name) return;
      emit(name, props);
    }
  };
  function start() {
    pageview();  // first, so that a session starts with its landing page
    for (var i = 0; i < queued.length; i++) w.analytics.track.apply(null, queued[i]);
  }

  if (d.visibilityState === "prerender") {
    d.addEventListener("visibilitychange", function once() {
      if (d.visibilityState !== "visible") return;
      d.removeEventListener("visibilitychange", once);
      start();
    });
  } else {
    start();
  }
})();
