// Reports: calls per hour, connect rate and talk time per agent, for a chosen period.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { allPages, api, getToken, has } from "../shared/api.js";
import { duration, h, replace, toast } from "../shared/dom.js";

const SUMMARY = "/api/reports/calls-summary";

function isoDate(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function period(fromValue, toValue) {
  // Date inputs are local days; the API takes instants, the end exclusive.
  const from = new Date(`${fromValue}T00:00:00`);
  const to = new Date(`${toValue}T00:00:00`);
  to.setDate(to.getDate() + 1);
  return { from: from.toISOString(), to: to.toISOString() };
}

function hourLabel(value) {
  if (typeof value === "number") return `${String(value).padStart(2, "0")}:00`;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : `${String(d.getHours()).padStart(2, "0")}:00`;
}

/** One row shape whatever the source: {key, label, calls, connected, connect_rate, talk_s}. */
function normalize(row, groupBy, userName) {
  const calls = row.calls ?? row.total ?? row.total_calls ?? 0;
  const connected = row.connected ?? row.answered ?? row.connected_calls ?? 0;
  const key = groupBy === "agent" ? row.agent_id ?? row.user_id ?? row.key : row.hour ?? row.bucket ?? row.key;
  return {
    key,
    label: groupBy === "agent" ? row.agent_name || row.name || userName(key) : hourLabel(key),
    calls,
    connected,
    connect_rate: row.connect_rate ?? (calls ? connected / calls : 0),
    talk_s: row.talk_time_s ?? row.talk_s ?? row.talk_seconds ?? 0,
  };
}

async function fromServer(range, groupBy, userName) {
  const q = new URLSearchParams({ from: range.from, to: range.to, group_by: groupBy });
  const body = await api(`${SUMMARY}?${q}`);
  const rows = Array.isArray(body) ? body : body.data || body.rows || [];
  return rows.map((r) => normalize(r, groupBy, userName));
}

/** Without the reports endpoint, the same summary computed from the call list. */
function fromCalls(calls, groupBy, userName) {
  const groups = new Map();
  if (groupBy === "hour") for (let hh = 0; hh < 24; hh += 1) groups.set(hh, { calls: 0, connected: 0, talk_s: 0 });
  for (const call of calls) {
    let key;
    if (groupBy === "agent") {
      if (call.agent_id == null) continue;
      key = call.agent_id;
    } else {
      key = new Date(call.started_at || call.created_at).getHours();
    }
    const g = groups.get(key) || { calls: 0, connected: 0, talk_s: 0 };
    g.calls += 1;
    if (call.answered_at) g.connected += 1;
    g.talk_s += call.duration_s || 0;
    groups.set(key, g);
  }
  return [...groups.entries()]
    .sort((a, b) => (groupBy === "hour" ? a[0] - b[0] : userName(a[0]).localeCompare(userName(b[0]))))
    .map(([key, g]) => normalize({ ...g, key, talk_s: g.talk_s }, groupBy, userName));
}

function barChart(title, labels, values, { format = (v) => String(v), color = "#1f6feb", whole = false } = {}) {
  const holder = h("figure.chart", { "aria-label": title }, h("figcaption", {}, title));
  const width = () => Math.max(260, Math.min(holder.clientWidth || 480, 640) - 8);
  const xs = labels.map((_, i) => i);
  const bars = uPlot.paths.bars({ size: [0.7, 48] });
  const opts = {
    width: 480,
    height: 220,
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: false, range: [-0.6, Math.max(labels.length - 0.4, 0.6)] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [
      {
        values: (_u, splits) => splits.map((i) => (Number.isInteger(i) ? labels[i] ?? "" : "")),
        space: 28,
        gap: 4,
      },
      // Counts get whole-number ticks only.
      { values: (_u, splits) => splits.map(format), size: 56, incrs: whole ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] : undefined },
    ],
    series: [{}, { label: title, stroke: color, fill: `${color}cc`, paths: bars, points: { show: false } }],
  };
  // Drawn once the figure is in the document, so it can take the figure's width.
  queueMicrotask(() => {
    opts.width = width();
    const chart = new uPlot(opts, [xs, values], holder);
    new ResizeObserver(() => chart.setSize({ width: width(), height: 220 })).observe(holder);
  });
  return holder;
}

function table(caption, rows, firstHeader) {
  return h(
    "div.table-wrap",
    {},
    h(
      "table.report",
      {},
      h("caption", {}, caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, firstHeader),
          ["Calls", "Connected", "Connect rate", "Talk time"].map((t) => h("th.num", { scope: "col" }, t)),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((r) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, r.label),
            h("td.num", {}, r.calls),
            h("td.num", {}, r.connected),
            h("td.num", {}, `${Math.round(r.connect_rate * 100)}%`),
            h("td.num", {}, duration(r.talk_s)),
          ),
        ),
      ),
    ),
  );
}

async function downloadCsv(range, groupBy) {
  // A plain link cannot carry the bearer token, so fetch the CSV and save it from a blob.
  const q = new URLSearchParams({ from: range.from, to: range.to, group_by: groupBy, format: "csv" });
  const resp = await fetch(`${SUMMARY}?${q}`, { headers: { Authorization: `Bearer ${getToken()}` } });
  if (!resp.ok) {
    toast(`CSV download failed (HTTP ${resp.status})`, { kind: "error" });
    return;
  }
  saveBlob(await resp.blob(), `calls-by-${groupBy}-${range.from.slice(0, 10)}.csv`);
}

function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The same columns as the tables, for a summary computed in the browser. */
function localCsv(rows, groupBy, range) {
  const quote = (v) => (/[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  const lines = [[groupBy, "calls", "connected", "connect_rate", "talk_time_s"].join(",")];
  for (const r of rows) lines.push([r.label, r.calls, r.connected, r.connect_rate.toFixed(3), r.talk_s].map(quote).join(","));
  saveBlob(new Blob([`${lines.join("\n")}\n`], { type: "text/csv" }), `calls-by-${groupBy}-${range.from.slice(0, 10)}.csv`);
}

export function renderReports(view, { features, userName }) {
  const server = has(features, "GET", SUMMARY);
  const today = new Date();
  const from = h("input", { id: "report-from", type: "date", value: isoDate(today) });
  const to = h("input", { id: "report-to", type: "date", value: isoDate(today) });
  const output = h("div.report-output", { id: "report-output", "aria-live": "polite" });
  const preset = (days) => () => {
    const start = new Date();
    start.setDate(start.getDate() - days + 1);
    from.value = isoDate(start);
    to.value = isoDate(new Date());
    load();
  };

  async function load() {
    const range = period(from.value, to.value);
    output.setAttribute("aria-busy", "true");
    let byHour;
    let byAgent;
    try {
      if (server) {
        [byHour, byAgent] = await Promise.all([fromServer(range, "hour", userName), fromServer(range, "agent", userName)]);
      } else {
        const q = new URLSearchParams({ since: range.from, until: range.to, limit: "200" });
        const calls = await allPages(`/api/calls?${q}`, 5000);
        byHour = fromCalls(calls, "hour", userName);
        byAgent = fromCalls(calls, "agent", userName);
      }
    } catch (err) {
      replace(output, h("p.form-error", { role: "alert" }, err.message));
      return;
    } finally {
      output.removeAttribute("aria-busy");
    }
    const rowsBy = { hour: byHour, agent: byAgent };
    const csv = (groupBy, text) =>
      h(
        "button",
        {
          type: "button",
          id: `csv-${groupBy}`,
          onclick: () => (server ? downloadCsv(range, groupBy) : localCsv(rowsBy[groupBy], groupBy, range)),
        },
        text,
      );
    replace(
      output,
      server ? null : h("p.muted", {}, "Computed in the browser from the call list (this gateway has no reports endpoint)."),
      h(
        "div.report-grid",
        {},
        h(
          "section.card",
          { "aria-labelledby": "by-hour-title" },
          h("div.card-head", {}, h("h2", { id: "by-hour-title" }, "Calls per hour"), csv("hour", "Download CSV")),
          barChart("Calls per hour", byHour.map((r) => r.label), byHour.map((r) => r.calls), { whole: true }),
          table("Calls per hour", byHour.filter((r) => r.calls), "Hour"),
        ),
        h(
          "section.card",
          { "aria-labelledby": "by-agent-title" },
          h("div.card-head", {}, h("h2", { id: "by-agent-title" }, "Agents"), csv("agent", "Download CSV")),
          barChart("Connect rate per agent", byAgent.map((r) => r.label), byAgent.map((r) => Math.round(r.connect_rate * 100)), {
            format: (v) => `${v}%`,
            color: "#1a7f37",
          }),
          barChart("Talk time per agent (minutes)", byAgent.map((r) => r.label), byAgent.map((r) => Math.round(r.talk_s / 6) / 10), {
            color: "#8250df",
          }),
          table("Calls per agent", byAgent, "Agent"),
        ),
      ),
    );
  }

  replace(
    view,
    h(
      "section.card.period",
      { "aria-labelledby": "reports-title" },
      h("h2", { id: "reports-title" }, "Reports"),
      h(
        "form.period-form",
        {
          onsubmit: (event) => {
            event.preventDefault();
            load();
          },
        },
        h("div", {}, h("label", { for: "report-from" }, "From"), from),
        h("div", {}, h("label", { for: "report-to" }, "To"), to),
        h("button.primary", { type: "submit" }, "Show"),
        h("button", { type: "button", onclick: preset(1) }, "Today"),
        h("button", { type: "button", onclick: preset(7) }, "7 days"),
        h("button", { type: "button", onclick: preset(30) }, "30 days"),
      ),
    ),
    output,
  );
  load();
}
