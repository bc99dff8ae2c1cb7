// The agent console: my queue, lead detail, dialing, the live call, wrap-up, presence, progressive.
import "../shared/base.css";
import "./agent.css";
import { parsePhoneNumberFromString } from "libphonenumber-js/min";
import { api } from "../shared/api.js";
import { $, duration, ensureToasts, h, label, replace, secondsSince, toast, when } from "../shared/dom.js";
import { callRank, connectLive, olderPresence, showConnection } from "../shared/live.js";
import { check, formatAsYouType, pretty } from "../shared/phone.js";
import { accountControls } from "../shared/account.js";
import { signIn } from "../shared/session.js";

const CALL_STATE = {
  queued: "Dialing",
  initiated: "Dialing",
  ringing: "Ringing",
  "in-progress": "In progress",
  completed: "Completed",
};
const OUTCOME = {
  completed: "Completed",
  busy: "Busy",
  "no-answer": "No answer",
  failed: "Failed",
  canceled: "Canceled",
};

// Why a lead is in the queue (GET /api/queue `reason`).
const QUEUE_REASON = {
  missed_call: "Missed call",
  follow_up: "Follow-up due",
  new: "New",
  retry: "Retry",
};

const state = {
  me: null,
  crm: { lead_statuses: [], dispositions: [], pause_reasons: [] },
  region: undefined,
  leads: new Map(),
  queue: [],
  queueRead: null,
  selected: null,
  call: null,
  wrapUp: null,
  presence: null,
  progressive: false,
  nextDial: null,
  live: null,
  ended: new Map(),
  // Calls whose wrap-up this console saved or skipped: a late read must not reopen them.
  wrapped: new Set(),
};

const root = document.getElementById("root");

function callLabel(call) {
  if (!call) return "";
  if (call.status === "completed") return OUTCOME[call.outcome] || "Ended";
  return CALL_STATE[call.status] || call.status;
}

// --- layout ---------------------------------------------------------------------------

function layout() {
  const presence = h("div.presence", { id: "presence-box", hidden: true });
  const conn = h("span.conn", { id: "conn", role: "status", dataset: { state: "connecting" } }, "Connecting…");
  document.body.dataset.conn = "connecting";
  replace(
    root,
    h(
      "header.topbar",
      {},
      h("a.brand", { href: "/" }, "Dialgate"),
      h("span.role", {}, "Agent console"),
      presence,
      conn,
      h("span.me", {}, state.me.name),
      accountControls(),
    ),
    h(
      "main.agent-grid",
      {},
      h(
        "section.card.queue",
        { "aria-labelledby": "queue-title" },
        h("div.card-head", {}, h("h2", { id: "queue-title" }, "My queue"), h("span.count", { id: "queue-count" })),
        h("label.visually-hidden", { for: "queue-search" }, "Search leads"),
        h("input.search", {
          id: "queue-search",
          type: "search",
          placeholder: "Search name, company, number",
          oninput: renderQueue,
        }),
        h("ul.lead-list", { id: "queue-list", role: "list" }),
      ),
      h(
        "section.card.lead",
        { id: "lead-panel", "aria-labelledby": "lead-title" },
        h("h2", { id: "lead-title" }, "Lead"),
        h("p.muted", {}, "Choose a lead from your queue."),
      ),
      h(
        "div.side",
        {},
        h("section.card.call.live-data", { id: "call-panel", "aria-labelledby": "call-title" }),
        h("section.card.wrapup", { id: "wrapup-panel", "aria-labelledby": "wrapup-title", hidden: true }),
        h("section.card.progressive", { id: "progressive-panel", "aria-labelledby": "progressive-title", hidden: true }),
        dialPad(),
      ),
    ),
  );
  renderCall();
}

// --- presence -------------------------------------------------------------------------

function renderPresence() {
  const box = $("#presence-box");
  box.hidden = false;
  const current = state.presence || { state: "offline" };
  const select = h(
    "select",
    {
      id: "presence-state",
      onchange: async (event) => {
        const [value, reason] = event.target.value.split(":");
        const ack = await state.live.request("set_state", reason ? { state: value, reason } : { state: value });
        if (!ack.ok) {
          refused("Could not change state", ack);
          renderPresence();
          return;
        }
        if (ack.presence) applyPresence(ack.presence);
        else renderPresence();
      },
    },
    h("option", { value: "available" }, "Available"),
    state.crm.pause_reasons.map((r) => h("option", { value: `paused:${r.key}` }, `Paused — ${r.label}`)),
    h("option", { value: "paused" }, "Paused"),
    h("option", { value: "offline" }, "Offline"),
  );
  const busy = current.state === "on-call" || current.state === "wrap-up";
  if (busy) {
    select.prepend(h("option", { value: current.state }, current.state === "on-call" ? "On a call" : "Wrap-up"));
  }
  select.value = current.state === "paused" && current.reason ? `paused:${current.reason}` : current.state;
  if (select.value === "") select.value = "offline";
  select.disabled = busy;
  replace(
    box,
    h("span.dot", { dataset: { state: current.state }, "aria-hidden": "true" }),
    h("label", { for: "presence-state" }, "My status"),
    select,
  );
}

/** My presence from a push, an ack or a read; an older one never overwrites a newer one. */
function applyPresence(p) {
  if (olderPresence(p, state.presence)) return;
  const shown = state.presence;
  const same = shown && ["state", "reason", "since", "call_id", "progressive"].every((key) => shown[key] === p[key]);
  state.presence = p;
  if (same) return;
  state.progressive = p.progressive;
  renderPresence();
  renderProgressive();
}

// --- queue ----------------------------------------------------------------------------

async function loadQueue() {
  let body;
  try {
    body = await api("/api/queue?limit=100");
  } catch (err) {
    toast(err.message, { kind: "error", title: "Queue not loaded" });
    return;
  }
  // Each entry: {lead, reason, due_at, call_id?, follow_up_id?}.
  const same = state.queueRead === JSON.stringify(body.data);
  state.queueRead = JSON.stringify(body.data);
  state.queue = body.data;
  for (const entry of state.queue) {
    state.leads.set(entry.lead.id, { ...(state.leads.get(entry.lead.id) || {}), ...entry.lead });
  }
  // A resync that finds the same queue leaves the list (and the focus in it) alone.
  if (!same) renderQueue();
}

function lastCallOf(lead) {
  if (!lead.last_called_at) return "never called";
  return `called ${when(lead.last_called_at)}${lead.attempts > 1 ? ` · ${lead.attempts} attempts` : ""}`;
}

function reasonOf(entry) {
  const text = QUEUE_REASON[entry.reason] || entry.reason;
  return entry.due_at && entry.reason !== "new" ? `${text} ${when(entry.due_at)}` : text;
}

function renderQueue() {
  const list = $("#queue-list");
  if (!list) return;
  const q = ($("#queue-search").value || "").toLowerCase().trim();
  const rows = state.queue.filter(
    ({ lead: l }) => !q || [l.name, l.company, l.phone].some((v) => (v || "").toLowerCase().includes(q)),
  );
  $("#queue-count").textContent = `${rows.length} leads`;
  replace(
    list,
    rows.map((entry) => {
      const { lead } = entry;
      return h(
        "li.lead-item",
        { dataset: { leadId: lead.id, reason: entry.reason, selected: String(state.selected === lead.id) } },
        h(
          "button.lead-open",
          { type: "button", onclick: () => openLead(lead.id), "aria-current": state.selected === lead.id ? "true" : null },
          h("span.lead-name", {}, lead.name || pretty(lead.phone)),
          h("span.lead-company", {}, lead.company || ""),
          h(
            "span.lead-meta",
            {},
            h("span.badge", { dataset: { status: lead.status } }, label(state.crm.lead_statuses, lead.status)),
            // A new lead's status badge says it already.
            entry.reason === "new" ? null : h("span.reason.due", {}, reasonOf(entry)),
            h("span", {}, lastCallOf(lead)),
          ),
        ),
        dialButton({ lead_id: lead.id }, `Call ${lead.name || "lead"}`, pretty(lead.phone), lead.dnc),
      );
    }),
  );
}

function dialButton(target, ariaLabel, text, dnc = false) {
  return h(
    "button.dial",
    {
      type: "button",
      "aria-label": ariaLabel,
      title: dnc ? "On the do-not-call list" : ariaLabel,
      dataset: { dnc: String(Boolean(dnc)) },
      onclick: () => dial(target),
    },
    h("span.icon", { "aria-hidden": "true" }, "☎"),
    h("span", {}, text),
  );
}

// --- lead detail ----------------------------------------------------------------------

async function openLead(leadId) {
  state.selected = leadId;
  renderQueue();
  const panel = $("#lead-panel");
  panel.setAttribute("aria-busy", "true");
  try {
    const [lead, notes, history] = await Promise.all([
      api(`/api/leads/${leadId}`),
      api(`/api/leads/${leadId}/notes`),
      api(`/api/leads/${leadId}/history`),
    ]);
    state.leads.set(lead.id, { ...(state.leads.get(lead.id) || {}), ...lead });
    if (state.selected === leadId) renderLead(lead, notes.data, history.data);
  } catch (err) {
    replace(panel, h("h2", { id: "lead-title" }, "Lead"), h("p.form-error", { role: "alert" }, err.message));
  } finally {
    panel.removeAttribute("aria-busy");
  }
}

function timeline(lead, notes, history) {
  const items = [];
  for (const call of lead.calls) {
    items.push({
      at: call.started_at || call.created_at,
      kind: "call",
      text: `${call.direction === "inbound" ? "Inbound" : "Outbound"} call — ${callLabel(call)}`,
      extra: call.duration_s ? `talk ${duration(call.duration_s)}` : null,
    });
  }
  for (const note of notes) {
    items.push({ at: note.created_at, kind: "note", text: note.body, extra: note.author_name });
  }
  for (const change of history) {
    items.push({
      at: change.at,
      kind: "status",
      text: `Status → ${label(state.crm.lead_statuses, change.to)}`,
      extra: change.by_name,
    });
  }
  items.sort((a, b) => new Date(b.at) - new Date(a.at));
  return items;
}

function renderLead(lead, notes, history) {
  const panel = $("#lead-panel");
  const numbers = [{ number: lead.phone, primary: true }, ...(lead.alt_phones || []).map((n) => ({ number: n }))];
  const items = timeline(lead, notes, history);
  replace(
    panel,
    h(
      "div.card-head",
      {},
      h("h2", { id: "lead-title" }, lead.name || "Lead"),
      h("span.badge", { dataset: { status: lead.status } }, label(state.crm.lead_statuses, lead.status)),
    ),
    h("p.muted", {}, [lead.company, lead.email].filter(Boolean).join(" · ")),
    lead.dnc ? h("p.warning", { role: "note" }, "This number is on the do-not-call list.") : null,
    h(
      "ul.numbers",
      { role: "list", "aria-label": "Phone numbers" },
      numbers.map((n) =>
        h(
          "li",
          {},
          dialButton(
            n.primary ? { lead_id: lead.id } : { number: n.number },
            `Call ${lead.name || "lead"} on ${pretty(n.number)}`,
            pretty(n.number),
            n.primary && lead.dnc,
          ),
          n.primary ? h("span.muted", {}, "primary") : null,
        ),
      ),
    ),
    lead.next_follow_up_at ? h("p.due", {}, `Follow-up due ${when(lead.next_follow_up_at)}`) : null,
    h("h3", {}, "Timeline"),
    items.length
      ? h(
          "ol.timeline",
          { "aria-label": "Call timeline" },
          items.map((item) =>
            h(
              "li",
              { dataset: { kind: item.kind } },
              h("time", { datetime: item.at }, when(item.at)),
              h("span", {}, item.text),
              item.extra ? h("span.muted", {}, ` · ${item.extra}`) : null,
            ),
          ),
        )
      : h("p.muted", {}, "No calls yet."),
    noteForm(lead.id, null),
  );
}

function noteForm(leadId, callId) {
  const id = `note-${callId || "lead"}-${leadId}`;
  const area = h("textarea", { id, rows: 2, maxlength: 4000, required: true });
  return h(
    "form.note-form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await api(`/api/leads/${leadId}/notes`, { method: "POST", json: { body: area.value, call_id: callId } });
          area.value = "";
          toast("Note saved.");
          if (state.selected === leadId) openLead(leadId);
        } catch (err) {
          toast(err.message, { kind: "error", title: "Note not saved" });
        }
      },
    },
    h("label", { for: id }, "Add a note"),
    area,
    h("button", { type: "submit" }, "Save note"),
  );
}

// --- dialing and the live call ----------------------------------------------------------

function refused(title, ack) {
  const code = ack.code ? ` (${ack.code})` : "";
  toast(`${ack.message || "refused"}${code}`, { kind: "error", title, timeout: 10000 });
}

async function dial(target) {
  if (state.call && state.call.status !== "completed") {
    toast("Finish the current call first.", { kind: "error" });
    return;
  }
  const ack = await state.live.request("dial", target);
  if (!ack.ok) {
    refused("Dial refused", ack);
    const msg = $("#call-refused");
    if (msg) msg.textContent = `Dial refused: ${ack.message}${ack.code ? ` (${ack.code})` : ""}`;
    return;
  }
  state.wrapUp = null;
  renderWrapUp();
  applyCall({ ...ack.call, call_id: ack.call_id }, { adopt: true });
}

/**
 * A call's state from a push, a dial's ack or a read. `adopt` makes it the panel's call even when
 * it has ended already (a dial's ack; a read that finds the call the agent must wrap up).
 */
function applyCall(update, { adopt = false } = {}) {
  if (update.agent_id !== undefined && update.agent_id !== null && update.agent_id !== state.me.id) return;
  const current = state.call;
  if (!current || current.call_id !== update.call_id) {
    if (update.status === "completed" && !adopt) {
      // Another call of mine ended (another tab), or a call that failed at once ended before
      // its dial was acknowledged: keep the end for when the call shows.
      state.ended.set(update.call_id, update);
      return;
    }
    // Another call of mine started (another tab, progressive dialer): follow the live one.
    const ended = state.ended.get(update.call_id);
    state.call = { ...update, ...(ended || {}), localStart: Date.now() };
  } else {
    // Pushes may arrive out of order, and a read may be older than a push that came in while
    // it ran: a call only ever moves forward, so an update behind what is shown is dropped.
    if (callRank(update.status) < callRank(current.status)) return;
    const merged = { ...current, ...update };
    if (sameCall(current, merged)) return;
    state.call = merged;
  }
  if (state.call.lead_id && !state.leads.has(state.call.lead_id)) {
    api(`/api/leads/${state.call.lead_id}`)
      .then((lead) => {
        state.leads.set(lead.id, lead);
        renderCall();
      })
      .catch((err) => toast(err.message, { kind: "error", title: "Lead not loaded" }));
  }
  if (state.call.status === "completed") callEnded(state.call);
  renderCall();
}

/** Whether two states of a call show the same (a resync that changes nothing redraws nothing). */
function sameCall(a, b) {
  return ["status", "outcome", "lead_id", "started_at", "answered_at", "ended_at", "duration_s"].every(
    (key) => (a[key] ?? null) === (b[key] ?? null),
  );
}

function callEnded(call) {
  if ((state.wrapUp && state.wrapUp.call_id === call.call_id) || state.wrapped.has(call.call_id)) return;
  state.wrapUp = call;
  renderWrapUp();
  loadQueue();
  if (call.lead_id && state.selected === call.lead_id) openLead(call.lead_id);
}

function renderCall() {
  const panel = $("#call-panel");
  if (!panel) return;
  const call = state.call;
  const lead = call && call.lead_id ? state.leads.get(call.lead_id) : null;
  const active = call && call.status !== "completed";
  replace(
    panel,
    h("h2", { id: "call-title" }, "Live call"),
    h("p.call-state", { id: "call-state", "aria-live": "polite", "aria-atomic": "true", dataset: { status: call ? call.status : "idle" } },
      call ? callLabel(call) : "No call"),
    call
      ? h(
          "div.call-who",
          {},
          h("strong", {}, lead ? lead.name : `Lead #${call.lead_id ?? "?"}`),
          lead ? h("span.muted", {}, pretty(lead.phone)) : null,
        )
      : null,
    call ? h("p.timer", { id: "call-timer", "aria-label": "Call duration" }, timerText(call)) : null,
    active
      ? h(
          "button.danger",
          {
            type: "button",
            id: "hangup",
            onclick: async () => {
              const ack = await state.live.request("hangup", { call_id: call.call_id });
              if (!ack.ok) refused("Could not hang up", ack);
            },
          },
          "Hang up",
        )
      : null,
    active && call.lead_id ? noteForm(call.lead_id, call.call_id) : null,
    h("p.form-error", { id: "call-refused", role: "status" }),
  );
}

function timerText(call) {
  if (call.status === "completed") return duration(call.duration_s ?? 0);
  if (call.answered_at) return duration(secondsSince(call.answered_at));
  const started = call.started_at ? secondsSince(call.started_at) : (Date.now() - call.localStart) / 1000;
  return duration(started);
}

function tick() {
  const timer = $("#call-timer");
  if (timer && state.call && state.call.status !== "completed") timer.textContent = timerText(state.call);
  const countdown = $("#next-countdown");
  if (countdown && state.nextDial) {
    const left = Math.max(0, Math.ceil((new Date(state.nextDial.dial_at) - Date.now()) / 1000));
    countdown.textContent = String(left);
  }
}

// --- wrap-up --------------------------------------------------------------------------

function renderWrapUp() {
  const panel = $("#wrapup-panel");
  if (!panel) return;
  const call = state.wrapUp;
  panel.hidden = !call;
  if (!call) return;
  const lead = call.lead_id ? state.leads.get(call.lead_id) : null;
  const select = h(
    "select",
    { id: "wrapup-code", name: "code", required: true },
    h("option", { value: "" }, "Choose…"),
    state.crm.dispositions.map((d) => h("option", { value: d.key }, d.label)),
  );
  const notes = h("textarea", { id: "wrapup-notes", name: "notes", rows: 3, maxlength: 4000 });
  const due = h("input", { id: "wrapup-due", name: "due_at", type: "datetime-local" });
  const dueNote = h("input", { id: "wrapup-due-note", name: "follow_up_note", type: "text", maxlength: 1000 });
  const error = h("p.form-error", { id: "wrapup-error", role: "alert" });
  const submit = h("button.primary", { type: "submit" }, "Save wrap-up");
  select.addEventListener("change", () => {
    const chosen = state.crm.dispositions.find((d) => d.key === select.value);
    if (chosen && chosen.follow_up && !due.value) due.focus();
  });
  replace(
    panel,
    h("h2", { id: "wrapup-title" }, "Wrap-up"),
    h("p.muted", {}, `${lead ? lead.name : "Call"} — ${callLabel(call)}${call.duration_s ? `, ${duration(call.duration_s)}` : ""}`),
    h(
      "form.wrapup-form",
      {
        onsubmit: async (event) => {
          event.preventDefault();
          error.textContent = "";
          const body = { code: select.value, notes: notes.value || null };
          if (due.value) {
            // The wall time the agent picked, in the agent's own zone: the server converts it.
            body.follow_up = { due_at: due.value, timezone: Intl.DateTimeFormat().resolvedOptions().timeZone, note: dueNote.value || null };
          }
          submit.disabled = true;
          try {
            // Recording the disposition also ends the wrap-up (the agent becomes available).
            await api(`/api/calls/${call.call_id}/disposition`, { method: "POST", json: body });
            toast("Wrap-up saved.", { title: label(state.crm.dispositions, body.code) });
            state.wrapped.add(call.call_id);
            state.wrapUp = null;
            renderWrapUp();
            loadQueue();
            if (call.lead_id && state.selected === call.lead_id) openLead(call.lead_id);
          } catch (err) {
            error.textContent = err.field ? `${err.message} (${err.field})` : err.message;
          } finally {
            submit.disabled = false;
          }
        },
      },
      h("label", { for: "wrapup-code" }, "Disposition"),
      select,
      h("label", { for: "wrapup-notes" }, "Notes"),
      notes,
      h(
        "fieldset",
        {},
        h("legend", {}, "Follow-up (optional)"),
        h("label", { for: "wrapup-due" }, "Due"),
        due,
        h("label", { for: "wrapup-due-note" }, "Note"),
        dueNote,
      ),
      error,
      h(
        "div.actions",
        {},
        submit,
        h(
          "button",
          {
            type: "button",
            onclick: async () => {
              const ack = await state.live.request("end_wrap_up", { call_id: call.call_id });
              if (!ack.ok) {
                refused("Wrap-up not ended", ack);
                return;
              }
              state.wrapped.add(call.call_id);
              state.wrapUp = null;
              renderWrapUp();
            },
          },
          "Skip",
        ),
      ),
    ),
  );
  select.focus();
}

// --- dial pad -------------------------------------------------------------------------

function dialPad() {
  const input = h("input.pad-input", {
    id: "pad-number",
    type: "tel",
    inputmode: "tel",
    autocomplete: "off",
    placeholder: "Type a number",
    "aria-describedby": "pad-hint",
  });
  const hint = h("p.muted", { id: "pad-hint", "aria-live": "polite" }, "Enter dials.");
  const callBtn = h("button.primary", { type: "submit", id: "pad-dial" }, "Call");
  const update = () => {
    const raw = input.value;
    const formatted = formatAsYouType(raw, state.region);
    // Reformat only while typing at the end, so editing in the middle keeps the caret.
    if (input.selectionStart === raw.length && formatted !== raw) input.value = formatted;
    const result = check(input.value, state.region);
    hint.textContent = !input.value ? "Enter dials." : result.valid ? `Will dial ${result.international}` : "Not a complete number yet";
    input.setAttribute("aria-invalid", String(Boolean(input.value) && !result.valid));
  };
  input.addEventListener("input", update);
  const press = (key) => {
    input.value += key;
    update();
    input.focus();
  };
  const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "0", "#"];
  return h(
    "section.card.pad",
    { "aria-labelledby": "pad-title" },
    h("h2", { id: "pad-title" }, "Dial pad"),
    h(
      "form",
      {
        onsubmit: (event) => {
          event.preventDefault();
          const result = check(input.value, state.region);
          if (!result.valid) {
            hint.textContent = "That is not a valid phone number.";
            input.focus();
            return;
          }
          dial({ number: result.e164 });
        },
      },
      h("label", { for: "pad-number" }, "Number"),
      input,
      hint,
      h(
        "div.keys",
        { role: "group", "aria-label": "Keypad" },
        keys.map((k) => h("button.key", { type: "button", onclick: () => press(k), "aria-label": `Key ${k}` }, k)),
      ),
      h(
        "div.actions",
        {},
        callBtn,
        h(
          "button",
          {
            type: "button",
            "aria-label": "Delete last digit",
            onclick: () => {
              input.value = input.value.slice(0, -1);
              update();
              input.focus();
            },
          },
          "⌫",
        ),
      ),
    ),
  );
}

// --- progressive dialing --------------------------------------------------------------

function renderProgressive() {
  const panel = $("#progressive-panel");
  if (!panel) return;
  panel.hidden = false;
  const next = state.nextDial;
  const lead = next ? next.lead : null;
  const toggle = h("input", {
    id: "progressive-toggle",
    type: "checkbox",
    role: "switch",
    checked: state.progressive,
    onchange: async (event) => {
      const enabled = event.target.checked;
      const ack = await state.live.request("set_progressive", { enabled });
      if (!ack.ok) {
        refused("Progressive dialing", ack);
        event.target.checked = !enabled;
        return;
      }
      state.progressive = enabled;
      if (!enabled) state.nextDial = null;
      renderProgressive();
    },
  });
  replace(
    panel,
    h("h2", { id: "progressive-title" }, "Progressive dialing"),
    h("div.switch", {}, toggle, h("label", { for: "progressive-toggle" }, "Dial my queue automatically")),
    next && lead
      ? h(
          "div.next",
          { role: "status", "aria-live": "polite" },
          h("p", {}, "Next: ", h("strong", {}, lead.name || pretty(lead.phone)), ` (${pretty(lead.phone)})`),
          h("p.muted", {}, QUEUE_REASON[next.reason] || next.reason),
          h("p.countdown", {}, "Dialing in ", h("span", { id: "next-countdown" }, String(Math.ceil(next.countdown_s))), " s"),
          h(
            "div.actions",
            {},
            h("button", { type: "button", onclick: () => progressiveAction("skip_next") }, "Skip"),
            h("button", { type: "button", onclick: () => progressiveAction("cancel_next") }, "Cancel"),
          ),
        )
      : next
        ? h("p.muted", { role: "status" }, "Your queue is empty.")
        : state.progressive
          ? h("p.muted", {}, "Waiting for the next lead…")
          : null,
  );
  tick();
}

async function progressiveAction(event) {
  // The server answers with `next_dial` (the following lead) or `next_dial_canceled`, sent
  // before the ack, so the panel follows those events rather than the ack.
  const ack = await state.live.request(event, {});
  if (!ack.ok) refused(event === "skip_next" ? "Could not skip" : "Could not cancel", ack);
}

// --- live events ------------------------------------------------------------------------

/**
 * Catch up after (re)connecting: pushes sent while the socket was away are gone for good, so
 * read again what they would have changed. Pushes that arrive meanwhile are applied as usual;
 * the merge rules (a call only moves forward, presence by `since`) keep whichever is newer.
 */
async function resync() {
  await Promise.all([resyncPresence(), resyncCall(), loadQueue(), resyncNextDial()]);
}

// A progressive offer pushed while the socket was away (or to another process's socket)
// still counts down on the gateway: show it, so that it can be skipped or canceled.
async function resyncNextDial() {
  const next = await api("/api/queue/next").catch(() => null);
  if (!next) return;
  const shown = state.nextDial && state.nextDial.lead ? state.nextDial.dial_at : null;
  if ((next.lead ? next.dial_at : null) === shown) return;
  state.nextDial = next.lead ? next : null;
  renderProgressive();
}

async function resyncPresence() {
  let presence;
  try {
    // An agent's wallboard is their own row.
    presence = await api("/api/presence");
  } catch (err) {
    toast(err.message, { kind: "error", title: "Status not loaded" });
    return;
  }
  const mine = presence.data.find((p) => p.user_id === state.me.id);
  if (mine) applyPresence(mine);
  else {
    renderPresence();
    renderProgressive();
  }
  // In wrap-up for a call the console never saw end (it ended while the socket was away, or
  // before a reload): show that call and its wrap-up.
  const current = state.presence;
  const pending = (p) => p && p.state === "wrap-up" && p.call_id && !state.wrapped.has(p.call_id);
  if (pending(current) && (!state.wrapUp || state.wrapUp.call_id !== current.call_id)) {
    const call = await api(`/api/calls/${current.call_id}`).catch(() => null);
    const still = pending(state.presence) && state.presence.call_id === current.call_id;
    if (call && still && (!state.call || state.call.call_id === call.id || state.call.status === "completed")) {
      applyCall({ ...call, call_id: call.id }, { adopt: true });
    }
  }
}

async function resyncCall() {
  const shown = state.call;
  // My latest calls: the one on the panel (unless it is older) and any that started meanwhile.
  const recent = await api(`/api/calls?agent_id=${state.me.id}&limit=5`).catch(() => ({ data: [] }));
  const calls = recent.data.map((c) => ({ ...c, call_id: c.id }));
  if (shown && !calls.some((c) => c.call_id === shown.call_id)) {
    const call = await api(`/api/calls/${shown.call_id}`).catch(() => null);
    if (call) calls.push({ ...call, call_id: call.id });
  }
  if (shown) {
    const fresh = calls.find((c) => c.call_id === shown.call_id);
    if (fresh) applyCall(fresh);
  }
  // A call that is live now, if the panel shows none (or an ended one): follow it.
  const live = calls.find((c) => c.status !== "completed");
  if (live && (!state.call || state.call.status === "completed")) applyCall(live);
}

function wireLive() {
  const conn = $("#conn");
  state.live = connectLive(sessionStorage.getItem("dialgate.token"), {
    onStatus: (status, detail) => showConnection(conn, status, detail),
    onConnect: resync,
  });
  const on = (event, fn) => state.live.on(event, fn);
  on("call_updated", (update) => applyCall(update));
  on("presence", (p) => {
    if (p.user_id === state.me.id) applyPresence(p);
  });
  on("next_dial", (next) => {
    state.nextDial = next;
    renderProgressive();
  });
  on("next_dial_canceled", () => {
    state.nextDial = null;
    renderProgressive();
  });
  on("next_dial_failed", ({ code, message }) => {
    refused("Next lead not dialed", { code, message });
  });
  on("incoming_call", ({ call, lead }) => {
    if (lead) state.leads.set(lead.id, lead);
    toast(`${lead ? lead.name : "Unknown caller"} is calling`, { title: "Incoming call" });
    if (call) applyCall(call);
    if (lead) openLead(lead.id);
  });
  on("lead_assigned", ({ lead }) => {
    toast(`${lead.name} (${lead.company || pretty(lead.phone)})`, { title: "New lead assigned" });
    loadQueue();
  });
  on("missed_call", ({ lead, call }) => {
    toast(`${lead ? lead.name : pretty(call && call.from_number)} called and was missed`, { kind: "error", title: "Missed call" });
  });
  on("follow_up_due", ({ follow_up: fu, lead }) => {
    toast(`${lead ? lead.name : "A lead"}${fu && fu.note ? ` — ${fu.note}` : ""}`, { title: "Follow-up due", timeout: 15000 });
  });
}

async function main() {
  ensureToasts();
  state.me = await signIn(root, { title: "Dialgate — agent sign-in" });
  state.crm = await api("/api/settings/crm");
  // The agent's own number says which country a locally typed number belongs to.
  const own = parsePhoneNumberFromString(state.me.phone || "");
  state.region = own ? own.country : undefined;
  layout();
  wireLive();
  // Keyboard dialing: digits typed anywhere outside a field go to the dial pad.
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || !/^[0-9+#*]$/.test(event.key)) return;
    if (event.target.closest && event.target.closest("input, textarea, select, [contenteditable]")) return;
    const pad = $("#pad-number");
    if (!pad) return;
    event.preventDefault();
    pad.focus();
    pad.value += event.key;
    pad.dispatchEvent(new Event("input"));
  });
  // Presence, the queue and the live call (after a reload mid-call too) load on connecting.
  setInterval(tick, 1000);
}

window.addEventListener("dialgate:logout", () => window.location.reload());
main().catch((err) => {
  console.error(err);
  toast(err.message || String(err), { kind: "error", title: "Something went wrong" });
});
