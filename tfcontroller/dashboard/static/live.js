// Live pages (C1): follow the page's server-sent events; on `changed`, fetch the same page with
// `X-Fragment: 1` (the server answers the inner HTML of <main id="main">) and swap it in.
// body[data-live] is "connected" while the stream is open (tests wait on it); every swap increments
// body[data-live-updates]. The live URL carries the resourceVersions the content shows; every fragment
// answer names the live URL of the content swapped in (X-Live-URL), so after an error the stream is reopened
// (with a growing delay, at most 10 s) from what the page shows now, and the server announces at once
// whatever changed while it was away.
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-live-url");
  if (!url || !window.EventSource) { return; }
  var delay = 1000;
  var fetching = false;
  var again = false;
  body.setAttribute("data-live-updates", body.getAttribute("data-live-updates") || "0");

  // The message of what the viewer just did (a flash, shown once by the server) stays until they leave
  // the page, as on a page without live updates: a swap whose content has none keeps the old ones.
  function swap(main, html) {
    var kept = Array.prototype.slice.call(main.querySelectorAll(":scope > .flash"));
    main.innerHTML = html;
    if (kept.length && !main.querySelector(":scope > .flash")) {
      for (var i = kept.length - 1; i >= 0; i--) { main.insertBefore(kept[i], main.firstChild); }
    }
  }

  function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    fetch(window.location.pathname + window.location.search, {
      headers: { "X-Fragment": "1" }, credentials: "same-origin", cache: "no-store"
    }).then(function (response) {
      if (response.status === 401) { window.location.reload(); return null; }
      var next = response.headers.get("X-Live-URL");
      if (next) { url = next; body.setAttribute("data-live-url", next); }
      return response.text();
    }).then(function (html) {
      if (html === null || html === undefined) { return; }
      var main = document.getElementById("main");
      if (main) { swap(main, html); }
      var n = parseInt(body.getAttribute("data-live-updates") || "0", 10) + 1;
      body.setAttribute("data-live-updates", String(n));
      document.dispatchEvent(new CustomEvent("tfcontroller:updated"));
    }).catch(function () { /* the next change or reconnect tries again */ })
      .then(function () {
        fetching = false;
        if (again) { again = false; refresh(); }
      });
  }

  // A stream also ends with the session; then the page must go to the login, not reconnect forever.
  function loggedOutCheck() {
    fetch(window.location.pathname + window.location.search, {
      method: "HEAD", headers: { "X-Fragment": "1" }, credentials: "same-origin", cache: "no-store"
    }).then(function (response) {
      if (response.status === 401) { window.location.reload(); }
    }).catch(function () { /* the server is away: keep reconnecting */ });
  }

  function connect() {
    var source = new EventSource(url, { withCredentials: true });
    source.onopen = function () {
      delay = 1000;
      body.setAttribute("data-live", "connected");
    };
    source.addEventListener("changed", refresh);
    source.onerror = function () {
      body.setAttribute("data-live", "disconnected");
      source.close();
      loggedOutCheck();
      window.setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
}());
