// Reports: calls per hour, connect rate and talk time per agent, for a chosen period.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api, getToken } from "../shared/api.js";
import { duration, h, replace, toast } from "../shared/dom.js";

const SUMMARY = "/api/reports/calls-summary";

function isoDate(d) {
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
  const preset = (days) => () => {
    const start = new Date();
    start.setDate(start.getDate() - days + 1);
    from.value = isoDate(start);
    to.value = isoDate(new Date());
    load();
  };

  async function load() {
    const range = { from: from.value, to: to.value };
    output.setAttribute("aria-busy", "true");
    let byHour;
    let byAgent;
    try {
      [byHour, byAgent] = await Promise.all([summary(range, "hour_of_day"), summary(range, "agent")]);
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
