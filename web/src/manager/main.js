// The manager console: live wallboard, leads with bulk assignment, CSV import, reports.
import "../shared/base.css";
import "./manager.css";
import { ApiError, allPages, api, has, loadFeatures, optional } from "../shared/api.js";
import { $, duration, ensureToasts, h, label, replace, secondsSince, toast, when } from "../shared/dom.js";
import { connectLive } from "../shared/live.js";
import { pretty } from "../shared/phone.js";
import { signIn, signOut } from "../shared/session.js";
import { FALLBACK_CRM } from "../shared/vocab.js";
import { renderReports } from "./reports.js";

const STATE_LABEL = {
  available: "Available",
  "on-call": "On a call",
  "wrap-up": "Wrap-up",
  paused: "Paused",
  offline: "Offline",
  unknown: "—",
};
const CALL_LABEL = { queued: "Dialing", initiated: "Dialing", ringing: "Ringing", "in-progress": "In progress" };
const VIEWS = { wallboard: "Wallboard", leads: "Leads", import: "Import", reports: "Reports" };

const state = {
  me: null,
  features: new Set(),
  crm: FALLBACK_CRM,
  users: new Map(),
  agents: new Map(),
  calls: new Map(),
  leadNames: new Map(),
  live: null,
  view: "wallboard",
  leads: [],
  leadsCursor: null,
  selected: new Set(),
  importJob: null,
};

const root = document.getElementById("root");

function userName(id) {
  if (id === null || id === undefined) return "Unassigned";
  const user = state.users.get(id) || state.agents.get(id);
  return user && user.name ? user.name : `Agent #${id}`;
}

function startOfToday() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d;
}

// --- shell ------------------------------------------------------------------------------

function layout() {
  replace(
    root,
    h(
      "header.topbar",
      {},
      h("a.brand", { href: "/" }, "Dialgate"),
      h("span.role", {}, "Manager console"),
      h(
        "nav",
        { "aria-label": "Sections" },
        Object.entries(VIEWS).map(([key, text]) => h("a", { href: `#${key}`, id: `nav-${key}` }, text)),
      ),
      h("span.conn", { id: "conn", role: "status", dataset: { state: "connecting" } }, "Connecting…"),
      h("span.me", {}, state.me.name),
      h("button.link", { type: "button", onclick: signOut }, "Sign out"),
    ),
    h("main.manager", { id: "view", tabindex: "-1" }),
  );
}

function route() {
  const key = (window.location.hash || "#wallboard").slice(1);
  state.view = VIEWS[key] ? key : "wallboard";
  for (const name of Object.keys(VIEWS)) {
    const link = $(`#nav-${name}`);
    if (name === state.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = $("#view");
  document.title = `Dialgate — ${VIEWS[state.view]}`;
  if (state.view === "wallboard") renderWallboard();
  if (state.view === "leads") renderLeads();
  if (state.view === "import") renderImport();
  if (state.view === "reports") {
    replace(view);
    renderReports(view, { features: state.features, userName, users: state.users });
  }
}

// --- wallboard ------------------------------------------------------------------------

function agentRow(id) {
  if (!state.agents.has(id)) {
    state.agents.set(id, { user_id: id, name: null, state: "unknown", since: null, reason: null, counters: null });
  }
  return state.agents.get(id);
}

async function loadWallboard() {
  if (has(state.features, "GET", "/api/presence")) {
    const body = await optional("/api/presence").catch(() => null);
    for (const p of body ? body.data || body.agents || [] : []) {
      const since = p.since || (p.time_in_state_s != null ? new Date(Date.now() - p.time_in_state_s * 1000).toISOString() : null);
      Object.assign(agentRow(p.user_id), p, { since });
    }
  }
  for (const user of state.users.values()) if (user.role === "agent") Object.assign(agentRow(user.id), { name: user.name });
  const since = startOfToday().toISOString();
  const calls = await allPages(`/api/calls?since=${encodeURIComponent(since)}&limit=200`, 2000).catch(() => []);
  for (const call of calls) {
    state.calls.set(call.call_id ?? call.id, call);
    if (call.agent_id != null) agentRow(call.agent_id);
  }
}

function todays(agentId) {
  const row = state.agents.get(agentId);
  if (row && row.counters && !state.calls.size) return row.counters;
  const start = startOfToday().getTime();
  let calls = 0;
  let connected = 0;
  let talk = 0;
  for (const call of state.calls.values()) {
    if (call.agent_id !== agentId) continue;
    if (new Date(call.started_at || call.created_at || Date.now()).getTime() < start) continue;
    calls += 1;
    if (call.answered_at) connected += 1;
    talk += call.duration_s || 0;
  }
  return { calls, connected, talk_time_s: talk };
}

function activeCallOf(agentId) {
  let found = null;
  for (const call of state.calls.values()) {
    if (call.agent_id === agentId && call.status !== "completed") found = call;
  }
  return found;
}

function effectiveState(agent) {
  // Without presence from the server, an agent on a live call is at least known to be on it.
  const call = activeCallOf(agent.user_id);
  if (agent.state === "unknown" || (!has(state.features, "GET", "/api/presence") && call)) {
    return call ? { state: "on-call", since: call.started_at || call.created_at } : { state: "unknown", since: null };
  }
  return { state: agent.state, since: agent.since };
}

function renderWallboard() {
  if (state.view !== "wallboard") return;
  const view = $("#view");
  const agents = [...state.agents.values()].sort((a, b) => userName(a.user_id).localeCompare(userName(b.user_id)));
  const live = [...state.calls.values()].filter((c) => c.status !== "completed");
  let total = { calls: 0, connected: 0, talk_time_s: 0 };
  for (const a of agents) {
    const t = todays(a.user_id);
    total = { calls: total.calls + t.calls, connected: total.connected + t.connected, talk_time_s: total.talk_time_s + t.talk_time_s };
  }
  const counts = {};
  for (const a of agents) {
    const s = effectiveState(a).state;
    counts[s] = (counts[s] || 0) + 1;
  }
  replace(
    view,
    h(
      "section.tiles",
      { "aria-label": "Today" },
      tile("Calls today", total.calls),
      tile("Connected", total.connected),
      tile("Connect rate", total.calls ? `${Math.round((100 * total.connected) / total.calls)}%` : "—"),
      tile("Talk time", duration(total.talk_time_s)),
      tile("On calls now", live.length),
      tile("Available", counts.available ?? (has(state.features, "GET", "/api/presence") ? 0 : "—")),
    ),
    h(
      "section.card",
      { "aria-labelledby": "agents-title" },
      h("h2", { id: "agents-title" }, "Agents"),
      has(state.features, "GET", "/api/presence")
        ? null
        : h("p.muted", {}, "Presence is not reported by this gateway; states follow live calls."),
      h(
        "div.table-wrap",
        {},
        h(
          "table.wallboard",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Agent", "State", "Time in state", "Current call", "Calls", "Connected", "Talk time"].map((t, i) =>
                h("th", { scope: "col", class: i >= 4 ? "num" : null }, t),
              ),
            ),
          ),
          h(
            "tbody",
            { id: "agent-rows" },
            agents.length
              ? agents.map((a) => {
                  const eff = effectiveState(a);
                  const call = activeCallOf(a.user_id);
                  const t = todays(a.user_id);
                  return h(
                    "tr",
                    { dataset: { agentId: a.user_id, state: eff.state } },
                    h("th", { scope: "row" }, userName(a.user_id)),
                    h(
                      "td.state-cell",
                      {},
                      h("span.dot", { dataset: { state: eff.state }, "aria-hidden": "true" }),
                      h("span.state", {}, STATE_LABEL[eff.state] || eff.state),
                      a.reason && eff.state === "paused" ? h("span.muted", {}, ` (${label(state.crm.pause_reasons, a.reason)})`) : null,
                    ),
                    h("td.num.ticker", { dataset: { since: eff.since || "" } }, eff.since ? duration(secondsSince(eff.since)) : "—"),
                    h(
                      "td",
                      {},
                      call
                        ? [
                            h("span.badge", { dataset: { status: call.status } }, CALL_LABEL[call.status] || call.status),
                            " ",
                            state.leadNames.get(call.lead_id) || (call.to_number ? pretty(call.to_number) : `lead #${call.lead_id}`),
                          ]
                        : "—",
                    ),
                    h("td.num", {}, t.calls),
                    h("td.num", {}, t.connected),
                    h("td.num", {}, duration(t.talk_time_s)),
                  );
                })
              : h("tr", {}, h("td", { colspan: 7 }, "No agents seen yet today.")),
          ),
        ),
      ),
    ),
  );
}

function tile(title, value) {
  return h("div.tile", {}, h("span.tile-label", {}, title), h("span.tile-value", {}, String(value)));
}

function tickWallboard() {
  for (const cell of document.querySelectorAll(".ticker")) {
    if (cell.dataset.since) cell.textContent = duration(secondsSince(cell.dataset.since));
  }
}

// --- leads and assignment --------------------------------------------------------------

async function loadLeads(more = false) {
  const path = `/api/leads?limit=100${more && state.leadsCursor ? `&cursor=${encodeURIComponent(state.leadsCursor)}` : ""}`;
  const page = await api(path);
  state.leads = more ? [...state.leads, ...page.data] : page.data;
  state.leadsCursor = page.next_cursor;
  for (const lead of state.leads) state.leadNames.set(lead.id, lead.name);
}

function renderLeads() {
  if (state.view !== "leads") return;
  const view = $("#view");
  const canAssign = has(state.features, "POST", "/api/leads/assign");
  const agents = [...state.users.values()].filter((u) => u.role === "agent");
  const target = h(
    "select",
    { id: "assign-to" },
    h("option", { value: "auto" }, "Automatically (assignment rules)"),
    agents.map((u) => h("option", { value: String(u.id) }, u.name)),
  );
  const allBox = h("input", {
    type: "checkbox",
    id: "select-all",
    "aria-label": "Select all leads",
    checked: state.leads.length > 0 && state.selected.size === state.leads.length,
    onchange: (event) => {
      state.selected = new Set(event.target.checked ? state.leads.map((l) => l.id) : []);
      renderLeads();
    },
  });
  replace(
    view,
    h(
      "section.card",
      { "aria-labelledby": "leads-title" },
      h("div.card-head", {}, h("h2", { id: "leads-title" }, "Leads"), h("span.count", { id: "selected-count", role: "status" }, `${state.selected.size} selected`)),
      canAssign
        ? h(
            "form.bulkbar",
            {
              onsubmit: async (event) => {
                event.preventDefault();
                if (!state.selected.size) {
                  toast("Select leads first.", { kind: "error" });
                  return;
                }
                const body = { lead_ids: [...state.selected] };
                if (target.value === "auto") body.agent_id = "auto";
                else body.agent_id = Number(target.value);
                try {
                  await api("/api/leads/assign", { method: "POST", json: body });
                  toast(`${body.lead_ids.length} leads assigned.`);
                  state.selected.clear();
                  await loadLeads();
                  renderLeads();
                } catch (err) {
                  toast(err.message, { kind: "error", title: "Not assigned" });
                }
              },
            },
            h("label", { for: "assign-to" }, "Assign selected to"),
            target,
            h("button.primary", { type: "submit" }, "Assign"),
          )
        : h("p.muted", { id: "assign-unavailable" }, "Bulk assignment is not available on this gateway yet."),
      h(
        "div.table-wrap",
        {},
        h(
          "table.leads",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", {}, allBox),
              ["Name", "Company", "Phone", "Status", "Owner", "Created"].map((t) => h("th", { scope: "col" }, t)),
            ),
          ),
          h(
            "tbody",
            {},
            state.leads.map((lead) =>
              h(
                "tr",
                { dataset: { leadId: lead.id } },
                h(
                  "td",
                  {},
                  h("input", {
                    type: "checkbox",
                    "aria-label": `Select ${lead.name || pretty(lead.phone)}`,
                    checked: state.selected.has(lead.id),
                    onchange: (event) => {
                      if (event.target.checked) state.selected.add(lead.id);
                      else state.selected.delete(lead.id);
                      // Updated in place: re-rendering would lose the keyboard focus.
                      $("#selected-count").textContent = `${state.selected.size} selected`;
                      $("#select-all").checked = state.selected.size === state.leads.length;
                    },
                  }),
                ),
                h("th", { scope: "row" }, lead.name || "—"),
                h("td", {}, lead.company || ""),
                h("td.phone", {}, pretty(lead.phone), lead.dnc ? h("span.badge", { dataset: { status: "do-not-call" } }, "DNC") : null),
                h("td", {}, h("span.badge", { dataset: { status: lead.status } }, label(state.crm.lead_statuses, lead.status))),
                h("td", {}, userName(lead.owner_id)),
                h("td", {}, when(lead.created_at)),
              ),
            ),
          ),
        ),
      ),
      state.leadsCursor
        ? h(
            "button",
            {
              type: "button",
              onclick: async () => {
                await loadLeads(true);
                renderLeads();
              },
            },
            "Load more",
          )
        : null,
    ),
  );
}

// --- CSV import -------------------------------------------------------------------------

function jobProgress(job) {
  const total = job.total ?? job.total_rows ?? job.rows_total ?? null;
  const done =
    job.processed ?? job.processed_rows ?? job.rows_done ?? (job.created ?? 0) + (job.updated ?? 0) + (job.skipped ?? 0) + (job.failed ?? 0);
  return { total, done };
}

function renderImport() {
  if (state.view !== "import") return;
  const view = $("#view");
  if (!has(state.features, "POST", "/api/imports")) {
    replace(view, h("section.card", {}, h("h2", {}, "Import leads"), h("p.muted", { id: "import-unavailable" }, "CSV import is not available on this gateway yet.")));
    return;
  }
  const file = h("input", { id: "import-file", type: "file", accept: ".csv,text/csv", required: true });
  const job = state.importJob;
  const progress = job ? jobProgress(job) : null;
  replace(
    view,
    h(
      "section.card.import",
      { "aria-labelledby": "import-title" },
      h("h2", { id: "import-title" }, "Import leads"),
      h("p.muted", {}, "A CSV with a header row: name, phone, company, email, … Numbers are checked against the do-not-call list."),
      h(
        "form",
        {
          onsubmit: async (event) => {
            event.preventDefault();
            const chosen = file.files[0];
            if (!chosen) return;
            try {
              state.importJob = await api("/api/imports", { method: "POST", body: await chosen.text(), contentType: "text/csv" });
              renderImport();
              pollImport(state.importJob.id);
            } catch (err) {
              toast(err.message, { kind: "error", title: "Import refused" });
            }
          },
        },
        h("label", { for: "import-file" }, "CSV file"),
        file,
        h("div.actions", {}, h("button.primary", { type: "submit" }, "Import")),
      ),
      job
        ? h(
            "div.job",
            { role: "status", "aria-live": "polite" },
            h("label", { for: "import-progress" }, `Import #${job.id}: ${job.status}`),
            h("progress", { id: "import-progress", max: progress.total || 1, value: progress.total ? progress.done : job.status === "done" ? 1 : 0 }),
            h(
              "p.muted",
              {},
              progress.total ? `${progress.done} of ${progress.total} rows` : "",
              ["created", "updated", "skipped", "failed"].filter((k) => job[k] != null).map((k) => ` · ${job[k]} ${k}`),
            ),
            (job.errors || []).length
              ? h("ul.errors", {}, job.errors.slice(0, 20).map((e) => h("li", {}, typeof e === "string" ? e : `row ${e.row}: ${e.message}`)))
              : null,
          )
        : null,
    ),
  );
}

async function pollImport(id) {
  // import_progress pushes are the fast path; polling covers a dropped socket.
  while (state.importJob && state.importJob.id === id && !["done", "failed", "completed", "canceled"].includes(state.importJob.status)) {
    await new Promise((r) => setTimeout(r, 2000));
    try {
      state.importJob = await api(`/api/imports/${id}`);
      renderImport();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      return;
    }
  }
}

// --- live -------------------------------------------------------------------------------

function wireLive() {
  const conn = $("#conn");
  state.live = connectLive(sessionStorage.getItem("dialgate.token"), {
    onStatus: (status, detail) => {
      conn.dataset.state = status;
      conn.textContent = status === "connected" ? "Live" : status === "error" ? `Offline: ${detail || "error"}` : "Reconnecting…";
    },
  });
  state.live.on("presence", (p) => {
    Object.assign(agentRow(p.user_id), p);
    renderWallboard();
  });
  state.live.on("call_updated", async (call) => {
    const previous = state.calls.get(call.call_id);
    state.calls.set(call.call_id, { ...(previous || {}), ...call, status: previous && previous.status === "completed" ? "completed" : call.status });
    if (call.agent_id != null) agentRow(call.agent_id);
    if (call.lead_id && !state.leadNames.has(call.lead_id)) {
      state.leadNames.set(call.lead_id, null);
      const lead = await optional(`/api/leads/${call.lead_id}`).catch(() => null);
      if (lead) state.leadNames.set(lead.id, lead.name);
    }
    renderWallboard();
  });
  state.live.on("import_progress", ({ job }) => {
    if (state.importJob && job && job.id === state.importJob.id) {
      state.importJob = job;
      renderImport();
    }
  });
}

async function main() {
  ensureToasts();
  state.me = await signIn(root, { title: "Dialgate — manager sign-in", roles: ["manager", "admin"] });
  const [features, crm] = await Promise.all([loadFeatures(), optional("/api/settings/crm").catch(() => null)]);
  state.features = features;
  if (crm) state.crm = { ...FALLBACK_CRM, ...crm };
  if (has(features, "GET", "/api/users")) {
    const users = await optional("/api/users").catch(() => null);
    for (const u of users ? users.data || users : []) state.users.set(u.id, u);
  }
  layout();
  wireLive();
  await Promise.all([loadWallboard(), loadLeads().catch(() => {})]);
  window.addEventListener("hashchange", route);
  route();
  setInterval(tickWallboard, 1000);
}

window.addEventListener("dialgate:logout", () => window.location.reload());
main().catch((err) => {
  console.error(err);
  toast(err.message || String(err), { kind: "error", title: "Something went wrong" });
});
