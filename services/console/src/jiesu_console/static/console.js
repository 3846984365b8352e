// Jiesu console: charts from the options the server built, the drill-down drawer, the live
// countdown and the one SSE connection of the page. No inline scripts (CSP), no eval.
(function () {
  "use strict";

  var maps = {};

  function loadMap(name, url) {
    if (!maps[name]) {
      maps[name] = fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (geo) { echarts.registerMap(name, geo); });
    }
    return maps[name];
  }

  function drawChart(el) {
    if (el._chart) { el._chart.dispose(); }
    var option = JSON.parse(el.getAttribute("data-chart"));
    var ready = el.hasAttribute("data-geojson")
      ? loadMap(el.getAttribute("data-map-name"), el.getAttribute("data-geojson"))
      : Promise.resolve();
    return ready.then(function () {
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option);
      chart.on("click", function (p) {
        var target = p.data && p.data.drill;
        if (target) { openDrill(target); }
      });
      el._chart = chart;
      el.setAttribute("data-chart-ready", "1");
    });
  }

  function drawCharts(root) {
    root.querySelectorAll("[data-chart]").forEach(function (el) { drawChart(el); });
  }

  function drawer() { return document.getElementById("drawer"); }

  function openDrill(url) {
    htmx.ajax("GET", url, { target: "#drawer-body", swap: "innerHTML" });
  }

  function showDrawer() {
    var d = drawer();
    if (d) { d.classList.add("open"); d.setAttribute("aria-hidden", "false"); }
  }

  function hideDrawer() {
    var d = drawer();
    if (d) { d.classList.remove("open"); d.setAttribute("aria-hidden", "true"); }
  }

  function remaining(seconds) {
    var s = Math.abs(seconds);
    var days = Math.floor(s / 86400), hours = Math.floor((s % 86400) / 3600);
    var minutes = Math.floor((s % 3600) / 60), secs = Math.floor(s % 60);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var text = days ? days + "天" + hours + "小时" : pad(hours) + ":" + pad(minutes) + ":" + pad(secs);
    return (seconds < 0 ? "超期 " : "剩余 ") + text;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var seconds = (Date.parse(el.getAttribute("data-deadline")) - now) / 1000;
      var holder = el.querySelector(".tag") || el;
      holder.textContent = remaining(seconds);
    });
  }

  // At most one refresh of the views every two seconds, however fast events come: a busy
  // city sends several a second, and each refresh costs the services a few queries.
  var refreshTimer = null;
  function scheduleRefresh() {
    if (refreshTimer) { return; }
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      htmx.trigger(document.body, "jiesu-refresh");
    }, 2000);
  }

  var KINDS = { filed: "新受理", closed: "已结案", breached: "超期（催办）", escalated: "升级" };
  var LEVELS = { reminder: "催办", supervision: "督办", notice: "通报" };

  function addLive(kind, item) {
    var list = document.getElementById("live-feed");
    if (!list) { return; }
    var placeholder = list.querySelector(".muted");
    if (placeholder) { placeholder.remove(); }
    var li = document.createElement("li");
    li.className = "live-" + kind;
    li.setAttribute("data-live-kind", kind);
    var when = new Date(item.at).toLocaleTimeString("zh-CN", { hour12: false });
    var text = when + "　" + (KINDS[kind] || kind) + "　" + (item.ticket_no || item.complaint_id);
    if (item.level && kind === "escalated") { text += "　" + (LEVELS[item.level] || item.level); }
    if (item.unit_id) { text += "　" + item.unit_id; }
    li.textContent = text;
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 30) { list.removeChild(list.lastChild); }
  }

  function connect() {
    var state = document.getElementById("live-state");
    if (!state || !window.EventSource) { return; }
    // The dashboard relays metrics' feed; a unit's workbench relays the unit's case feed.
    var url = state.getAttribute("data-stream") || "/dashboard/stream";
    var kinds = (state.getAttribute("data-events") || "filed closed breached escalated").split(" ");
    var source = new EventSource(url);
    var joined = false;
    source.addEventListener("ready", function () {
      // After a reconnect the feed starts from now: look again for what passed meanwhile.
      if (joined) { scheduleRefresh(); }
      joined = true;
      state.textContent = "实时：已连接";
      state.className = "live-state on";
      document.body.setAttribute("data-live", "ready");
    });
    kinds.forEach(function (kind) {
      source.addEventListener(kind, function (ev) {
        addLive(kind, JSON.parse(ev.data));
        scheduleRefresh();
      });
    });
    source.onerror = function () {
      state.textContent = "实时：重连中…";
      state.className = "live-state off";
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    connect();
    setInterval(tick, 1000);
    var close = document.getElementById("drawer-close");
    if (close) { close.addEventListener("click", hideDrawer); }
    // Slow changes (warnings) without events: look again every minute.
    setInterval(function () { htmx.trigger(document.body, "jiesu-refresh"); }, 60000);
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    var target = e.detail.target;
    drawCharts(target);
    tick();
    if (target.id === "drawer-body") { showDrawer(); }
  });

  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-chart]").forEach(function (el) { if (el._chart) { el._chart.resize(); } });
  });
})();
