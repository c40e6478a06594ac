// The KVDB dashboard: polls this node's /ui/api/cluster and draws the
// members, the ring, live ops/s and p99 charts (uPlot), repair and
// transfer progress, and a key browser over the JSON-RPC API. Plain
// JavaScript, no build step; everything it loads comes from this node.
"use strict";

const POLL_MS = 2000;
/** Points kept per chart: ten minutes at one poll every two seconds. */
const POINTS_MAX = 300;
const COLORS = [
  "#3b6fd8",
  "#d8653b",
  "#2f9e77",
  "#a05bd6",
  "#d6b13b",
  "#d63b84",
  "#3bb0d6",
  "#7a8a2f",
];

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("kvdb-token") ?? "";

/** A request to this node; asks for the token when the node wants one. */
async function request(path, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  if (token !== "") headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...init, headers });
  if (response.status === 401) {
    $("login").hidden = false;
    throw new Error("this node needs its client token");
  }
  return response;
}

/** One JSON-RPC call; resolves to its result, rejects with its description. */
async function call(fn, args = [], kwargs = {}) {
  const response = await request("/", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ function: fn, args, kwargs }),
  });
  const body = await response.json();
  if (body.status !== "OK.") throw new Error(body.description);
  return body.result;
}

function text(value) {
  return value === null || value === undefined ? "–" : String(value);
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 || n >= 10 ? 0 : 1)} ${units[i]}`;
}

function duration(s) {
  if (s === null || s === undefined) return "–";
  if (s >= 86400) {
    return `${Math.floor(s / 86400)}d${Math.floor(s % 86400 / 3600)}h`;
  }
  if (s >= 3600) return `${Math.floor(s / 3600)}h${Math.floor(s % 3600 / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${s}s`;
}

function cell(row, content, className) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function badge(state) {
  const span = document.createElement("span");
  span.className = `badge ${state}`;
  span.textContent = state;
  return span;
}

const colorOf = new Map();
function color(address) {
  if (!colorOf.has(address)) {
    colorOf.set(address, COLORS[colorOf.size % COLORS.length]);
  }
  return colorOf.get(address);
}

// ---------------------------------------------------------------------------
// Charts

const series = { times: [], ops: new Map(), p99: new Map() };
const charts = {};

function chart(id, metric, members) {
  const el = $(id);
  const opts = {
    width: Math.max(300, el.clientWidth),
    height: 180,
    series: [
      {},
      ...members.map((m) => ({ label: m, stroke: color(m), width: 2 })),
    ],
    axes: [{}, { size: 50 }],
    legend: { show: true },
  };
  const data = [series.times, ...members.map((m) => metric.get(m))];
  el.replaceChildren();
  return new uPlot(opts, data, el);
}

function record(members) {
  series.times.push(Date.now() / 1000);
  for (const map of [series.ops, series.p99]) {
    for (const m of members) {
      if (!map.has(m.address)) map.set(m.address, series.times.map(() => null));
    }
  }
  for (const [address, values] of series.ops) {
    const m = members.find((x) => x.address === address);
    values.push(m?.reachable ? m.opsPerSecond : null);
  }
  for (const [address, values] of series.p99) {
    const m = members.find((x) => x.address === address);
    values.push(m?.reachable ? m.p99Ms : null);
  }
  if (series.times.length > POINTS_MAX) {
    series.times.shift();
    for (const map of [series.ops, series.p99]) {
      for (const values of map.values()) values.shift();
    }
  }
  const names = [...series.ops.keys()];
  const key = names.join(",");
  for (
    const [id, metric] of [["ops-chart", series.ops], ["p99-chart", series.p99]]
  ) {
    if (charts[id]?.key !== key) {
      charts[id] = { key, plot: chart(id, metric, names) };
    } else {
      charts[id].plot.setData([
        series.times,
        ...names.map((m) => metric.get(m)),
      ]);
    }
  }
}

// ---------------------------------------------------------------------------
// Members, ring, repair

function drawMembers(view) {
  const tbody = $("members").querySelector("tbody");
  tbody.replaceChildren();
  for (const m of view.status.members) {
    const row = document.createElement("tr");
    row.dataset.address = m.address;
    row.dataset.state = m.state;
    const address = cell(row, m.address);
    address.style.borderLeft = `4px solid ${color(m.address)}`;
    cell(row, badge(m.reachable || m.state === "left" ? m.state : m.state));
    cell(row, text(m.phase));
    cell(row, text(m.records), "num");
    cell(row, text(m.hints), "num");
    cell(row, m.opsPerSecond === null ? "–" : m.opsPerSecond.toFixed(1), "num");
    cell(row, m.p99Ms === null ? "–" : `${m.p99Ms.toFixed(2)} ms`, "num");
    const share = view.ring.primary[m.address];
    cell(
      row,
      share === undefined ? "–" : `${(share * 100).toFixed(1)}%`,
      "num",
    );
    cell(row, text(m.engine));
    cell(row, bytes(m.sizeBytes), "num");
    cell(row, text(m.version));
    cell(row, duration(m.uptimeSeconds), "num");
    tbody.append(row);
  }
}

function drawRing(view) {
  const ring = $("ring");
  ring.replaceChildren();
  for (const [address, share] of Object.entries(view.ring.primary)) {
    const part = document.createElement("div");
    part.style.flex = String(share);
    part.style.background = color(address);
    part.title = `${address}: ${(share * 100).toFixed(1)}% as primary, ` +
      `${((view.ring.replica[address] ?? 0) * 100).toFixed(1)}% as a replica`;
    part.textContent = `${address} ${(share * 100).toFixed(1)}%`;
    ring.append(part);
  }
}

function drawRepair(view) {
  const tbody = $("repair").querySelector("tbody");
  tbody.replaceChildren();
  for (const m of view.status.members) {
    const info = m.info ?? {};
    const row = document.createElement("tr");
    cell(row, m.address);
    cell(row, text(info.hints?.count), "num");
    cell(row, text(info.hints?.delivered), "num");
    cell(row, text(info.anti_entropy?.rounds), "num");
    const ae = info.anti_entropy;
    cell(row, ae ? `${ae.pulled} pulled, ${ae.pushed} pushed` : "–");
    const t = info.transfer;
    if (t && t.phase !== "idle") {
      const total = t.keys_moved + (t.keys_remaining ?? 0);
      const done = total === 0 ? 1 : t.keys_moved / total;
      const bar = document.createElement("span");
      bar.className = "progress";
      const fill = document.createElement("span");
      fill.style.width = `${(done * 100).toFixed(0)}%`;
      bar.append(fill);
      const td = cell(row, `${t.phase}: ${t.keys_moved} moved `);
      td.append(bar);
    } else {
      cell(row, t ? t.phase : "–");
    }
    tbody.append(row);
  }
}

async function poll() {
  try {
    const response = await request("/ui/api/cluster");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const view = await response.json();
    const s = view.status;
    $("summary").textContent =
      `via ${s.via} · ${s.members.length} members · N=${s.replicationFactor} ` +
      `R=${s.readQuorum} W=${s.writeQuorum}`;
    const down = s.members.filter((m) => !(m.reachable && m.state === "alive"));
    $("health").className = `badge ${down.length === 0 ? "ok" : "bad"}`;
    $("health").textContent = down.length === 0
      ? "all up"
      : `${down.length} not up`;
    drawMembers(view);
    drawRing(view);
    drawRepair(view);
    record(s.members);
  } catch (error) {
    $("summary").textContent = `cannot read the cluster: ${error.message}`;
  }
}

// ---------------------------------------------------------------------------
// Key browser

async function listKeys(prefix) {
  const page = await call("list_keys", [], { prefix, limit: 100 });
  const list = $("keys");
  list.replaceChildren();
  for (const key of page.keys) {
    const li = document.createElement("li");
    li.textContent = key;
    li.addEventListener("click", () => {
      for (const other of list.children) other.classList.remove("selected");
      li.classList.add("selected");
      showKey(key).catch((error) => {
        $("key-detail").textContent = error.message;
      });
    });
    list.append(li);
  }
  $("key-count").textContent = `${page.keys.length} key(s)` +
    (page.cursor === null ? "" : " (first 100)");
}

async function showKey(key) {
  const [value, replicas, members] = await Promise.all([
    call("get", [key]),
    call("replicas", [key]),
    call("cluster_info"),
  ]);
  const states = new Map(members.members.map((m) => [m.address, m.state]));
  const detail = $("key-detail");
  detail.replaceChildren();
  const title = document.createElement("h3");
  title.textContent = key;
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(value, null, 2);
  const list = document.createElement("ul");
  replicas.forEach((address, i) => {
    const li = document.createElement("li");
    li.append(
      `${address}${i === 0 ? " (primary)" : ""} `,
      badge(states.get(address) ?? "unknown"),
    );
    list.append(li);
  });
  const label = document.createElement("p");
  label.className = "muted";
  label.textContent = "replicas:";
  detail.append(title, pre, label, list);
}

$("browse").addEventListener("submit", (event) => {
  event.preventDefault();
  listKeys($("prefix").value).catch((error) => {
    $("key-count").textContent = error.message;
  });
});

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("kvdb-token", token);
  $("login").hidden = true;
  poll();
});

poll();
setInterval(poll, POLL_MS);
listKeys("").catch(() => {});
