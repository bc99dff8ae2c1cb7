// The manager console: live wallboard, leads with bulk assignment and its trail, agents and
// their assignment attributes, assignment rules, CSV import, reports, dialing settings.
import "../shared/base.css";
import "./manager.css";
import { ApiError, api } from "../shared/api.js";
import { $, duration, ensureToasts, h, label, replace, secondsSince, toast, when } from "../shared/dom.js";
import { callRank, connectLive, instant, showConnection } from "../shared/live.js";
import { pretty } from "../shared/phone.js";
import { accountControls } from "../shared/account.js";
import { signIn } from "../shared/session.js";
import { renderAgents, showPresence } from "./agents.js";
import { renderReports } from "./reports.js";
import { renderRules } from "./rules.js";
import { renderSettings } from "./settings.js";
import { showAssignments } from "./trace.js";

const STATE_LABEL = {
  available: "Available",
  "on-call": "On a call",
  "wrap-up": "Wrap-up",
  paused: "Paused",
  offline: "Offline",
  unknown: "—",
};
const CALL_LABEL = { queued: "Dialing", initiated: "Dialing", ringing: "Ringing", "in-progress": "In progress" };
const VIEWS = { wallboard: "Wallboard", leads: "Leads", agents: "Agents", rules: "Rules", import: "Import", reports: "Reports", settings: "Settings" };

const state = {
  me: null,
  crm: { lead_statuses: [], dispositions: [], pause_reasons: [] },
  users: new Map(),
  teams: [],
  // GET /api/presence rows by agent id, kept current by `presence` and `call_updated` pushes.
  agents: new Map(),
  leadNames: new Map(),
  live: null,
  view: "wallboard",
  leads: [],
  leadsCursor: null,
  selected: new Set(),
  importJob: null,
  importIssues: [],
};

const root = document.getElementById("root");

function userName(id) {
  if (id === null || id === undefined) return "Unassigned";
  const user = state.users.get(id) || state.agents.get(id);
  return user && user.name ? user.name : `Agent #${id}`;
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
      accountControls(),
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
  if (state.view === "agents") {
    renderAgents(view, {
      me: state.me,
      teams: state.teams,
      onSaved: (user) => state.users.set(user.id, user),
      onTeamAdded: (team) => state.teams.push(team),
    });
  }
  if (state.view === "rules") renderRules(view, { me: state.me, teams: state.teams });
  if (state.view === "reports") {
    replace(view);
    renderReports(view);
  }
  if (state.view === "settings") {
    replace(view);
    renderSettings(view, state.me).catch((err) => toast(err.message, { kind: "error", title: "Settings not loaded" }));
  }
}

// --- wallboard ------------------------------------------------------------------------

// A row from GET /api/presence: {user_id, name, team_id, state, reason, since, call_id,
// progressive, time_in_state_s, call: {id, lead_id, direction, status, started_at} | null,
// today: {calls, connected, talk_time_s}}.
function fromServer(row) {
  // Time in state from the server's own clock, so a skewed browser clock does not show;
  // `at` keeps the server's own `since`, which orders this row against `presence` pushes.
  const since = new Date(Date.now() - row.time_in_state_s * 1000).toISOString();
  return { ...row, since, at: row.since };
}

/**
 * A row read from the server against the row shown: a `presence` push that came in while the
 * read ran is newer, and keeps its state (the read still brings today's counters); a call
 * shown further along than the read keeps its status (a call only moves forward).
 */
function mergeRow(shown, read) {
  const row = fromServer(read);
  if (!shown) return row;
  if (instant(shown.at) > instant(row.at)) return { ...shown, name: row.name, team_id: row.team_id, today: row.today };
  if (shown.call && row.call && shown.call.id === row.call.id && callRank(shown.call.status) > callRank(row.call.status)) {
    row.call = { ...row.call, status: shown.call.status };
  }
  return row;
}

async function loadWallboard() {
  const body = await api("/api/presence");
  const shown = state.agents;
  state.agents = new Map(body.data.map((read) => [read.user_id, mergeRow(shown.get(read.user_id), read)]));
  for (const row of state.agents.values()) {
    const before = shown.get(row.user_id);
    // The agents view shows states too; tell it of the ones that changed unseen.
    if (!before || before.state !== row.state || before.reason !== row.reason) showPresence(row);
  }
  await Promise.all(
    body.data.filter((row) => row.call && row.call.lead_id).map((row) => leadName(row.call.lead_id)),
  );
}

/** After (re)connecting: the wallboard again, since pushes sent while away are gone for good. */
async function resync() {
  try {
    await loadWallboard();
    renderWallboard();
  } catch (err) {
    toast(err.message, { kind: "error", title: "Wallboard not refreshed" });
  }
}

let refreshing = null;

/** Today's counters change when calls end: fetch the wallboard again, at most once a second. */
function refreshWallboard() {
  if (refreshing) return;
  refreshing = setTimeout(async () => {
    try {
      await loadWallboard();
      renderWallboard();
    } catch (err) {
      toast(err.message, { kind: "error", title: "Wallboard not refreshed" });
    } finally {
      refreshing = null;
    }
  }, 1000);
}

async function leadName(leadId) {
  if (state.leadNames.has(leadId)) return;
  state.leadNames.set(leadId, null);
  try {
    const lead = await api(`/api/leads/${leadId}`);
    state.leadNames.set(lead.id, lead.name);
  } catch {
    // The lead shows by number instead.
  }
}

function renderWallboard() {
  if (state.view !== "wallboard") return;
  const view = $("#view");
  const agents = [...state.agents.values()].sort((a, b) => userName(a.user_id).localeCompare(userName(b.user_id)));
  const total = { calls: 0, connected: 0, talk_time_s: 0 };
  const counts = {};
  for (const a of agents) {
    for (const key of Object.keys(total)) total[key] += a.today[key];
    counts[a.state] = (counts[a.state] || 0) + 1;
  }
  const live = agents.filter((a) => a.call && a.call.status !== "completed").length;
  replace(
    view,
    h(
      "section.tiles.live-data",
      { "aria-label": "Today" },
      tile("Calls today", total.calls),
      tile("Connected", total.connected),
      tile("Connect rate", total.calls ? `${Math.round((100 * total.connected) / total.calls)}%` : "—"),
      tile("Talk time", duration(total.talk_time_s)),
      tile("On calls now", live),
      tile("Available", counts.available ?? 0),
    ),
    h(
      "section.card.live-data",
      { "aria-labelledby": "agents-title" },
      h("h2", { id: "agents-title" }, "Agents"),
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
                  const call = a.call && a.call.status !== "completed" ? a.call : null;
                  return h(
                    "tr",
                    { dataset: { agentId: a.user_id, state: a.state } },
                    h("th", { scope: "row" }, userName(a.user_id)),
                    h(
                      "td.state-cell",
                      {},
                      h("span.dot", { dataset: { state: a.state }, "aria-hidden": "true" }),
                      h("span.state", {}, STATE_LABEL[a.state] || a.state),
                      a.reason && a.state === "paused" ? h("span.muted", {}, ` (${label(state.crm.pause_reasons, a.reason)})`) : null,
                    ),
                    h("td.num.ticker", { dataset: { since: a.since } }, duration(secondsSince(a.since))),
                    h(
                      "td",
                      {},
                      call
                        ? [
                            h("span.badge", { dataset: { status: call.status } }, CALL_LABEL[call.status] || call.status),
                            " ",
                            state.leadNames.get(call.lead_id) || (call.lead_id ? `lead #${call.lead_id}` : "unknown caller"),
                          ]
                        : "—",
                    ),
                    h("td.num", {}, a.today.calls),
                    h("td.num", {}, a.today.connected),
                    h("td.num", {}, duration(a.today.talk_time_s)),
                  );
                })
              : h("tr", {}, h("td", { colspan: 7 }, "No agents in your team.")),
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

const countLeads = (n) => `${n} ${n === 1 ? "lead" : "leads"}`;

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
      h(
            "form.bulkbar",
            {
              onsubmit: async (event) => {
                event.preventDefault();
                if (!state.selected.size) {
                  toast("Select leads first.", { kind: "error" });
                  return;
                }
                const body = { lead_ids: [...state.selected] };
                if (target.value === "auto") body.auto = true;
                else body.agent_id = Number(target.value);
                try {
                  // -> {matched, assigned, by_agent, unassigned_lead_ids}
                  const result = await api("/api/leads/assign", { method: "POST", json: body });
                  const left = result.unassigned_lead_ids.length;
                  // Leads the chosen agent already owned are left as they are.
                  const kept = result.matched - result.assigned - left;
                  toast(`${countLeads(result.assigned)} assigned.${kept ? ` ${countLeads(kept)} already had that owner.` : ""}`);
                  if (left) toast(`${countLeads(left)} had no eligible agent.`, { kind: "error" });
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
          ),
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
              h("th", { scope: "col" }, h("span.visually-hidden", {}, "Assignment history")),
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
                h(
                  "td",
                  {},
                  h(
                    "button.why",
                    {
                      type: "button",
                      "aria-label": `Why assigned: ${lead.name || pretty(lead.phone)}`,
                      onclick: (event) => showAssignments(lead, { userName, opener: event.currentTarget }),
                    },
                    "Why?",
                  ),
                ),
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

// An import job: {id, status: queued|running|completed|failed, filename, total_rows,
// processed_rows, percent, counters: {created, updated, merged, skipped, errors}, error, ...}.
const JOB_DONE = ["completed", "failed"];

function renderImport() {
  if (state.view !== "import") return;
  const view = $("#view");
  const file = h("input", { id: "import-file", type: "file", accept: ".csv,text/csv", required: true });
  const job = state.importJob;
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
              // The file as the body, streamed to disk by the gateway; the job runs in the background.
              const q = new URLSearchParams({ filename: chosen.name });
              state.importJob = await api(`/api/imports?${q}`, { method: "POST", body: chosen, contentType: "text/csv" });
              state.importIssues = [];
              renderImport();
              pollImport(state.importJob.id);
            } catch (err) {
              toast(err.field ? `${err.message} (${err.field})` : err.message, { kind: "error", title: "Import refused" });
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
            h("progress", { id: "import-progress", max: 100, value: job.percent }),
            h(
              "p.muted",
              { id: "import-counts" },
              job.total_rows != null ? `${job.processed_rows} of ${job.total_rows} rows` : `${job.processed_rows} rows`,
              Object.entries(job.counters)
                .filter(([, n]) => n)
                .map(([k, n]) => ` · ${n} ${k}`),
            ),
            job.error ? h("p.form-error", { role: "alert" }, job.error) : null,
            state.importIssues.length
              ? h(
                  "ul.errors",
                  { "aria-label": "Rows with issues" },
                  state.importIssues.map((i) => h("li", {}, `row ${i.row}: ${i.message}${i.field ? ` (${i.field})` : ""}`)),
                )
              : null,
          )
        : null,
    ),
  );
}

function showJob(job) {
  const wasDone = state.importJob && JOB_DONE.includes(state.importJob.status);
  state.importJob = job;
  renderImport();
  if (JOB_DONE.includes(job.status) && !wasDone && job.counters.errors + job.counters.skipped > 0) loadIssues(job.id);
}

async function loadIssues(id) {
  try {
    const body = await api(`/api/imports/${id}/issues?limit=20`);
    if (state.importJob && state.importJob.id === id) {
      state.importIssues = body.data;
      renderImport();
    }
  } catch (err) {
    toast(err.message, { kind: "error", title: "Import issues not loaded" });
  }
}

async function pollImport(id) {
  // import_progress pushes are the fast path; polling covers a dropped socket.
  while (state.importJob && state.importJob.id === id && !JOB_DONE.includes(state.importJob.status)) {
    await new Promise((r) => setTimeout(r, 2000));
    if (!state.importJob || state.importJob.id !== id || JOB_DONE.includes(state.importJob.status)) return;
    try {
      showJob(await api(`/api/imports/${id}`));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      toast(err.message, { kind: "error", title: "Import status not loaded" });
      return;
    }
  }
}

// --- live -------------------------------------------------------------------------------

function wireLive() {
  const conn = $("#conn");
  state.live = connectLive(sessionStorage.getItem("dialgate.token"), {
    onStatus: (status, detail) => showConnection(conn, status, detail),
    onConnect: resync,
  });
  // `presence`: {user_id, name, team_id, state, reason, since, call_id, progressive}.
  state.live.on("presence", (p) => {
    const row = state.agents.get(p.user_id);
    // Older than what a read brought meanwhile (pushes and reads may cross).
    if (row && instant(p.since) < instant(row.at)) return;
    showPresence(p);
    if (!row) {
      // An agent the wallboard does not know yet; a supervisor's own presence (sent as the
      // socket connects) is no news: the resync reads the wallboard anyway.
      if (p.user_id !== state.me.id) refreshWallboard();
      return;
    }
    Object.assign(row, p, { at: p.since });
    if (p.call_id === null) row.call = null;
    else if (!row.call || row.call.id !== p.call_id) row.call = { id: p.call_id, lead_id: null, status: "queued" };
    renderWallboard();
    // Today's counters and the call's details come with the wallboard itself.
    refreshWallboard();
  });
  // `call_updated`: {call_id, lead_id, agent_id, direction, status, outcome, started_at, ...}.
  state.live.on("call_updated", async (call) => {
    const row = state.agents.get(call.agent_id);
    if (!row) return;
    // Updates may arrive out of order: a call only moves forward.
    const behind = row.call && row.call.id === call.call_id && callRank(call.status) < callRank(row.call.status);
    if ((!row.call || row.call.id === call.call_id) && !behind) {
      row.call = { id: call.call_id, lead_id: call.lead_id, direction: call.direction, status: call.status, started_at: call.started_at };
    }
    if (call.status === "completed") refreshWallboard();
    if (call.lead_id) await leadName(call.lead_id);
    renderWallboard();
  });
  state.live.on("import_progress", ({ job }) => {
    if (state.importJob && job.id === state.importJob.id) showJob(job);
  });
}

async function main() {
  ensureToasts();
  state.me = await signIn(root, { title: "Dialgate — manager sign-in", roles: ["manager", "admin"] });
  const [crm, users, teams] = await Promise.all([api("/api/settings/crm"), api("/api/users"), api("/api/teams")]);
  state.crm = crm;
  state.teams = teams.data;
  for (const u of users.data) state.users.set(u.id, u);
  layout();
  // The wallboard loads on the socket's first connection (`resync`), as after every later one.
  wireLive();
  try {
    await loadLeads();
  } catch (err) {
    toast(err.message, { kind: "error", title: "Not loaded" });
  }
  window.addEventListener("hashchange", route);
  route();
  setInterval(tickWallboard, 1000);
}

window.addEventListener("dialgate:logout", () => window.location.reload());
main().catch((err) => {
  console.error(err);
  toast(err.message || String(err), { kind: "error", title: "Something went wrong" });
});
