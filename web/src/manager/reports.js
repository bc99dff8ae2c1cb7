// Reports: calls per hour, connect rate and talk time per agent, and how fast missed calls
// were called back, for a chosen period: each as a chart and a table.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api, getToken } from "../shared/api.js";
import { duration, h, replace, toast } from "../shared/dom.js";

const SUMMARY = "/api/reports/calls-summary";

/** The date of `d` in `timeZone` (the organization's: its days are the reports' days). */
function isoDate(d, timeZone) {
  if (timeZone) {
    return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(d);
  }
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Bare dates: the server reads them as whole days in the organization's time zone. */
function query(range, groupBy, format = "json") {
  return new URLSearchParams({ from: range.from, to: range.to, group_by: groupBy, format });
}

/**
 * calls-summary rows: {hour_of_day | agent_id + agent_name, incoming, outgoing, total,
 * connected, connect_rate (null without calls), missed, rejected, talk_time_s, avg_talk_s, ...}.
 */
async function summary(range, groupBy) {
  const body = await api(`${SUMMARY}?${query(range, groupBy)}`);
  return body.rows.map((row) => ({
    label: groupBy === "agent" ? row.agent_name || "No agent" : `${String(row.hour_of_day).padStart(2, "0")}:00`,
    calls: row.total,
    connected: row.connected,
    connect_rate: row.connect_rate ?? 0,
    talk_s: row.talk_time_s,
  }));
}

function barChart(title, labels, values, { format = (v) => String(v), color = "#1f6feb", whole = false, font = null, top = null } = {}) {
  const holder = h("figure.chart", { "aria-label": title }, h("figcaption", {}, title));
  const width = () => Math.max(260, Math.min(holder.clientWidth || 480, 640) - 8);
  const xs = labels.map((_, i) => i);
  const bars = uPlot.paths.bars({ size: [0.7, 48] });
  const opts = {
    width: 480,
    height: 220,
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: false, range: [-0.6, Math.max(labels.length - 0.4, 0.6)] }, y: { range: (_u, _min, max) => [0, top ?? (max > 0 ? max * 1.1 : 1)] } },
    axes: [
      {
        values: (_u, splits) => splits.map((i) => (Number.isInteger(i) ? labels[i] ?? "" : "")),
        space: 28,
        gap: 4,
        ...(font ? { font } : {}),
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

/**
 * never-attended: {summary: {missed, called_back, never_attended}, callback_latency: {count,
 * p50_s, p90_s, buckets: [{label, from_s, to_s, count}]}} (its rows are the open missed calls).
 */
async function callbacks(range) {
  const q = new URLSearchParams({ from: range.from, to: range.to, format: "json", limit: "1" });
  return api(`/api/reports/never-attended?${q}`);
}

/** A wait in words: "40 s", "12 min", "3.5 h", "2 days". */
function wait(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

// The chart's axis has room for each bucket's upper bound only; the table spells out the ranges.
const BUCKET_SHORT = { "<5m": "<5m", "5-15m": "<15m", "15-60m": "<1h", "1-4h": "<4h", "4-24h": "<1d", "1-3d": "<3d", ">3d": "3d+" };
const BUCKET_LABEL = { "<5m": "Under 5 min", "5-15m": "5–15 min", "15-60m": "15–60 min", "1-4h": "1–4 hours", "4-24h": "4–24 hours", "1-3d": "1–3 days", ">3d": "Over 3 days" };

function latencySection(report) {
  const { summary: totals, callback_latency: latency } = report;
  const buckets = latency.buckets;
  const figure = (text, value) => h("div", {}, h("span.tile-label", {}, text), " ", h("strong", {}, value));
  return h(
    "section.card",
    { "aria-labelledby": "callbacks-title", id: "callbacks" },
    h("h2", { id: "callbacks-title" }, "Missed-call callbacks"),
    h(
      "div.latency-summary",
      { id: "callback-figures" },
      figure("Missed", totals.missed),
      figure("Called back", totals.called_back),
      figure("Never called back", totals.never_attended),
      figure("Median wait", wait(latency.p50_s)),
      figure("90% within", wait(latency.p90_s)),
    ),
    barChart("Callback latency (calls called back)", buckets.map((b) => BUCKET_SHORT[b.label] || b.label), buckets.map((b) => b.count), {
      whole: true,
      color: "#bf8700",
      font: "11px system-ui, sans-serif",
    }),
    h(
      "div.table-wrap",
      {},
      h(
        "table.report",
        {},
        h("caption", {}, "Callback latency"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Called back within"), h("th.num", { scope: "col" }, "Calls"))),
        h(
          "tbody",
          {},
          buckets.map((b) => h("tr", {}, h("th", { scope: "row" }, BUCKET_LABEL[b.label] || b.label), h("td.num", {}, b.count))),
        ),
      ),
    ),
  );
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
  const resp = await fetch(`${SUMMARY}?${query(range, groupBy, "csv")}`, { headers: { Authorization: `Bearer ${getToken()}` } });
  if (!resp.ok) {
    toast(`CSV download failed (HTTP ${resp.status})`, { kind: "error" });
    return;
  }
  const url = URL.createObjectURL(await resp.blob());
  const a = h("a", { href: url, download: `calls-by-${groupBy}-${range.from}-${range.to}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function renderReports(view) {
  const today = new Date();
  const from = h("input", { id: "report-from", type: "date", value: isoDate(today) });
  const to = h("input", { id: "report-to", type: "date", value: isoDate(today) });
  const output = h("div.report-output", { id: "report-output", "aria-live": "polite" });
  // Today is the organization's today, not the browser's: near midnight the two differ.
  let zone;
  const preset = (days) => () => {
    const now = Date.now();
    from.value = isoDate(new Date(now - (days - 1) * 86_400_000), zone);
    to.value = isoDate(new Date(now), zone);
    load();
  };

  async function load() {
    const range = { from: from.value, to: to.value };
    output.setAttribute("aria-busy", "true");
    let byHour;
    let byAgent;
    let missed;
    try {
      [byHour, byAgent, missed] = await Promise.all([summary(range, "hour_of_day"), summary(range, "agent"), callbacks(range)]);
    } catch (err) {
      replace(output, h("p.form-error", { role: "alert" }, err.message));
      return;
    } finally {
      output.removeAttribute("aria-busy");
    }
    const csv = (groupBy, id, text) => h("button", { type: "button", id, onclick: () => downloadCsv(range, groupBy) }, text);
    replace(
      output,
      h(
        "div.report-grid",
        {},
        h(
          "section.card",
          { "aria-labelledby": "by-hour-title" },
          h("div.card-head", {}, h("h2", { id: "by-hour-title" }, "Calls per hour"), csv("hour_of_day", "csv-hour", "Download CSV")),
          barChart("Calls per hour", byHour.map((r) => r.label), byHour.map((r) => r.calls), { whole: true }),
          table("Calls per hour", byHour.filter((r) => r.calls), "Hour"),
        ),
        h(
          "section.card",
          { "aria-labelledby": "by-agent-title" },
          h("div.card-head", {}, h("h2", { id: "by-agent-title" }, "Agents"), csv("agent", "csv-agent", "Download CSV")),
          barChart("Connect rate per agent", byAgent.map((r) => r.label), byAgent.map((r) => Math.round(r.connect_rate * 100)), {
            format: (v) => `${v}%`,
            color: "#1a7f37",
            top: 100,
          }),
          barChart("Talk time per agent (minutes)", byAgent.map((r) => r.label), byAgent.map((r) => Math.round(r.talk_s / 6) / 10), {
            color: "#8250df",
          }),
          table("Calls per agent", byAgent, "Agent"),
        ),
        latencySection(missed),
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
  api("/api/settings/dialing")
    .then((settings) => {
      zone = settings.timezone || undefined;
    })
    .catch(() => {})
    .finally(() => preset(1)());
}
