// The admin page: HTML, style and script in one string, so that the binary serves it with no
// file to install and the page works offline. Every value from the proxy is put in the page as
// text (textContent, never markup): peer addresses and server names come from clients.
#include "ringgate/diag/admin_page.h"

namespace ringgate {

std::string_view AdminPageHeaders() {
  return "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
         "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
         "form-action 'none'; frame-ancestors 'none'\r\n"
         "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n";
}

std::string_view AdminPageHtml() {
  return R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ringgate</title>
<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 16px; color: #1d2330; background: #f6f7f9; }
h1 { font-size: 18px; margin: 0 0 4px; } h2 { font-size: 14px; margin: 18px 0 6px; }
#status { color: #667; } #status.error { color: #b3261e; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #d8dce3; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.waterfall { background: #fff; border: 1px solid #d8dce3; max-width: 1100px; }
.close-row { display: grid; grid-template-columns: 90px 120px 110px 1fr; align-items: center;
  border-bottom: 1px solid #eef0f3; cursor: pointer; padding: 2px 6px; }
.close-row:hover, .close-row.selected { background: #eef3ff; }
.bar { position: relative; height: 14px; background: #f1f2f5; }
.seg { position: absolute; top: 0; height: 14px; min-width: 2px; }
.seg.flush { background: #7aa7e8; } .seg.notify { background: #9b7be0; }
.seg.peer { background: #5fbf8f; } .seg.wait { background: #e0b04f; } .seg.tcp { background: #555; }
.tag { display: inline-block; padding: 0 6px; border-radius: 8px; color: #fff; font-size: 11px; }
.cause-clean { background: #2e8b57; } .cause-peer_fin { background: #4682b4; }
.cause-timeout { background: #d2691e; } .cause-reset { background: #b22222; }
.cause-error { background: #8b008b; } .cause-none { background: #777; }
.init { color: #445; font-size: 11px; }
.axis { display: grid; grid-template-columns: 90px 120px 110px 1fr; padding: 2px 6px; color: #667; }
.legend span { margin-right: 12px; } .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
#detail { background: #fff; border: 1px solid #d8dce3; padding: 8px; white-space: pre-wrap; max-width: 1100px; }
.counters { display: flex; gap: 24px; flex-wrap: wrap; }
</style></head>
<body>
<h1>ringgate</h1>
<div id="status">loading&hellip;</div>
<div id="auth" hidden>Admin token: <input id="token" type="password" size="40"> <button id="use-token">use</button></div>

<h2>Live connections by state</h2>
<table id="live"><thead></thead><tbody></tbody></table>

<h2>Oldest live connections</h2>
<table id="oldest"><thead><tr><th>conn</th><th>worker</th><th>peer</th><th>control state</th><th>stage</th><th>age s</th><th>requests</th><th>buffered bytes</th></tr></thead><tbody></tbody></table>

<h2>Closes so far</h2>
<div class="counters"><table id="by-cause"><thead><tr><th>cause</th><th>closes</th></tr></thead><tbody></tbody></table>
<table id="by-initiator"><thead><tr><th>initiator</th><th>closes</th></tr></thead><tbody></tbody></table></div>

<h2>Recent closes: shutdown stages from the close decision</h2>
<div class="legend"><span><i class="seg flush" style="position:static"></i>flush</span><span><i class="seg notify" style="position:static"></i>close_notify sent</span><span><i class="seg peer" style="position:static"></i>waiting for the peer, answered</span><span><i class="seg wait" style="position:static"></i>waiting for the peer, timed out</span><span><i class="seg tcp" style="position:static"></i>TCP closed</span></div>
<div class="waterfall"><div class="axis" id="axis"></div><div id="waterfall"></div></div>
<h2>Selected close</h2>
<div id="detail">Click a close above to see its full record.</div>

<script>
"use strict";
const STATES = ["created", "handshake", "data_transfer", "shutdown_initiated", "buffer_flushed",
                "close_notify_sent", "peer_closed", "timed_out", "tcp_closed"];
const MAX_ROWS = 50;
let token = sessionStorage.getItem("ringgate-admin-token") || "";
// A link to one close: #conn=W-N selects it once it is among the recent ones.
let selected = null;
try {
  if (location.hash.startsWith("#conn=")) selected = decodeURIComponent(location.hash.slice(6));
} catch (e) { /* a malformed link selects nothing */ }

function el(tag, props, children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "text") e.textContent = v; else if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children || []) e.appendChild(c);
  return e;
}

async function get(path) {
  const headers = token ? {"Authorization": "Bearer " + token} : {};
  const r = await fetch(path, {headers, cache: "no-store"});
  if (r.status === 401) { document.getElementById("auth").hidden = false; throw new Error("the admin endpoint wants its token"); }
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r;
}

// Counts by worker and state come from the ringgate_connections gauge: asking /connections every
// refresh would have every worker write out every live connection only to be counted here.
function metricSamples(metricsText, name) {
  const re = new RegExp("^" + name + "\\{([^}]*)\\} ([0-9.e+-]+)$");
  const out = [];
  for (const line of metricsText.split("\n")) {
    const m = re.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries(m[1].split(",").map(kv => { const i = kv.indexOf("="); return [kv.slice(0, i), kv.slice(i + 2, -1)]; }));
    out.push([labels, Number(m[2])]);
  }
  return out;
}

function renderLive(metricsText) {
  const byWorker = new Map();
  for (const [labels, n] of metricSamples(metricsText, "ringgate_connections")) {
    const row = byWorker.get(labels.worker) || {};
    row[labels.state] = (row[labels.state] || 0) + n;
    byWorker.set(labels.worker, row);
  }
  const table = document.getElementById("live");
  table.tHead.replaceChildren(el("tr", {}, [el("th", {text: "worker"}), ...STATES.map(s => el("th", {text: s})), el("th", {text: "total"})]));
  const rows = [...byWorker.keys()].sort((a, b) => a - b).map(w => {
    const counts = byWorker.get(w);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (total === 0) return null;
    return el("tr", {"data-worker": String(w)}, [el("td", {text: String(w)}), ...STATES.map(s => el("td", {text: String(counts[s] || 0)})), el("td", {text: String(total)})]);
  });
  rows.splice(0, rows.length, ...rows.filter(r => r !== null));
  if (rows.length === 0) rows.push(el("tr", {}, [el("td", {text: "no live connections", colspan: String(STATES.length + 2)})]));
  table.tBodies[0].replaceChildren(...rows);
}

function renderCounters(metricsText) {
  const byCause = new Map(), byInitiator = new Map();
  for (const [labels, n] of metricSamples(metricsText, "ringgate_connections_closed_total")) {
    byCause.set(labels.cause, (byCause.get(labels.cause) || 0) + n);
    byInitiator.set(labels.initiator, (byInitiator.get(labels.initiator) || 0) + n);
  }
  for (const [id, map, prefix] of [["by-cause", byCause, "cause-"], ["by-initiator", byInitiator, ""]]) {
    const rows = [...map.entries()].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1])
      .map(([k, n]) => el("tr", {"data-key": k}, [el("td", {}, [el("span", {class: prefix ? "tag " + prefix + k : "", text: k})]), el("td", {text: String(n)})]));
    document.getElementById(id).tBodies[0].replaceChildren(...rows);
  }
}

function segments(t) {
  // Stages from the close decision (shutdown_initiated = 0), in milliseconds.
  const start = t.shutdown_initiated;
  if (start === undefined) return {total: 0, parts: []};
  const at = s => (t[s] === undefined ? undefined : t[s] - start);
  const parts = [];
  const flushed = at("buffer_flushed"), notified = at("close_notify_sent");
  const peer = at("peer_closed"), timedOut = at("timed_out"), closed = at("tcp_closed");
  if (flushed !== undefined) parts.push(["flush", 0, flushed]);
  if (notified !== undefined) parts.push(["notify", flushed ?? 0, notified]);
  const waitFrom = notified ?? flushed ?? 0;
  if (timedOut !== undefined) parts.push(["wait", waitFrom, timedOut]);
  else if (peer !== undefined) parts.push(["peer", waitFrom, peer]);
  const before = [flushed, notified, peer, timedOut].filter(v => v !== undefined && v <= closed);
  if (closed !== undefined) parts.push(["tcp", Math.max(0, ...before), closed]);
  return {total: closed ?? Math.max(0, ...parts.map(p => p[2])), parts};
}

function renderWaterfall(closures) {
  const recent = closures.slice().sort((a, b) => b.closed_unix_ms - a.closed_unix_ms).slice(0, MAX_ROWS);
  const spans = recent.map(c => segments(c.timeline_ms || {}));
  const scale = Math.max(1, ...spans.map(s => s.total));
  document.getElementById("axis").replaceChildren(el("span", {text: "conn"}), el("span", {text: "cause"}), el("span", {text: "initiator"}),
    el("span", {text: "0 ms \u2192 " + scale.toFixed(1) + " ms"}));
  const rows = recent.map((c, i) => {
    const bar = el("div", {class: "bar"}, spans[i].parts.map(([kind, from, to]) =>
      el("div", {class: "seg " + kind, title: kind + ": " + (to - from).toFixed(3) + " ms",
                 style: "left:" + (100 * from / scale).toFixed(2) + "%;width:" + (100 * Math.max(0, to - from) / scale).toFixed(2) + "%"})));
    const row = el("div", {class: "close-row", "data-conn": c.conn, "data-cause": c.cause, "data-initiator": c.initiator}, [
      el("span", {text: c.conn}), el("span", {}, [el("span", {class: "tag cause-" + c.cause, text: c.cause})]),
      el("span", {class: "init", text: c.initiator}), bar]);
    const show = () => {
      selected = c.conn;
      for (const r of document.querySelectorAll(".close-row.selected")) r.classList.remove("selected");
      row.classList.add("selected");
      document.getElementById("detail").textContent = JSON.stringify(c, null, 2);
      history.replaceState(null, "", "#conn=" + encodeURIComponent(c.conn));
    };
    row.addEventListener("click", show);
    if (selected === c.conn) setTimeout(show);
    return row;
  });
  document.getElementById("waterfall").replaceChildren(...rows);
}

function renderOldest(connections) {
  const oldest = connections.slice().sort((a, b) => b.age_ms - a.age_ms).slice(0, 10);
  const rows = oldest.map(c => el("tr", {"data-conn": c.conn}, [c.conn, String(c.worker), c.peer, c.control_state, c.state,
    (c.age_ms / 1000).toFixed(1), String(c.requests), String(c.buffered_bytes)].map(v => el("td", {text: v}))));
  if (rows.length === 0) rows.push(el("tr", {}, [el("td", {text: "none", colspan: "8"})]));
  document.getElementById("oldest").tBodies[0].replaceChildren(...rows);
}

// One refresh at a time, the next two seconds after the last one ended, none while the tab is
// hidden: a slow proxy is never asked again before it answered, and idle tabs cost nothing.
// /connections (every live connection, written out by each worker) is read every fifth time only.
let rounds = 0;
async function refresh() {
  const status = document.getElementById("status");
  try {
    const withConnections = rounds++ % 5 === 0;
    const [closures, metrics, connections] = await Promise.all([
      get("/closures").then(r => r.json()), get("/metrics").then(r => r.text()),
      withConnections ? get("/connections").then(r => r.json()) : Promise.resolve(null)]);
    renderLive(metrics);
    renderCounters(metrics);
    renderWaterfall(closures);
    if (connections) renderOldest(connections);
    status.className = "";
    status.textContent = "updated " + new Date().toLocaleTimeString() + ": " + closures.length + " recent closes";
    document.body.dataset.loaded = "true";
  } catch (e) {
    status.className = "error";
    status.textContent = String(e.message || e);
  }
}

async function refreshForever() {
  if (!document.hidden) await refresh();
  setTimeout(refreshForever, 2000);
}

document.getElementById("use-token").addEventListener("click", () => {
  token = document.getElementById("token").value.trim();
  sessionStorage.setItem("ringgate-admin-token", token);
  document.getElementById("auth").hidden = true;
  refresh();
});
refreshForever();
</script>
</body></html>
)html";
}

}  // namespace ringgate
