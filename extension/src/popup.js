// The popup: who is signed in, the live state of the last call and its disposition, and what
// became of the last selection saved as a lead.
import { io } from "socket.io-client";
import { callRank } from "../../web/src/shared/live.js";
import { el, fill, request, settings } from "./pages.js";

const STATES = { queued: "Dialing", initiated: "Dialing", ringing: "Ringing", "in-progress": "In progress", completed: "Completed" };
const OUTCOMES = { completed: "Completed", busy: "Busy", "no-answer": "No answer", failed: "Failed", canceled: "Canceled" };

const root = document.getElementById("root");
let call = null;
// The organization's dispositions, from GET /api/settings/crm.
let dispositions = [];

function stateText(c) {
  if (!c) return "No call";
  return c.status === "completed" ? OUTCOMES[c.outcome] || "Ended" : STATES[c.status] || c.status;
}

/**
 * `update` merged into the call shown, unless it is about the same call and behind it: a read
 * that left before the last push may answer after it, and a call only ever moves forward.
 */
function merged(update) {
  const id = update.call_id ?? update.id;
  if (!call || (call.call_id ?? call.id) !== id) return { ...update };
  if (callRank(update.status) < callRank(call.status)) return call;
  return { ...call, ...update };
}

let shown = null; // what the call panel shows: redrawing it would reset a form being filled in

function renderCall() {
  const box = document.getElementById("call");
  if (!box) return;
  const showing = call ? [call.call_id, call.status, call.outcome, call.to_number].join(":") : "";
  if (showing === shown) return;
  shown = showing;
  const form = call && call.status === "completed" ? dispositionForm(call) : null;
  fill(
    box,
    el("p", { class: "state", id: "call-state", "aria-live": "polite" }, stateText(call)),
    call ? el("p", { class: "muted" }, `Call #${call.call_id}${call.to_number ? ` to ${call.to_number}` : ""}`) : null,
    form,
  );
}

function dispositionForm(c) {
  const select = el("select", { id: "disposition", required: true }, el("option", { value: "" }, "Choose…"), dispositions.map((d) => el("option", { value: d.key }, d.label)));
  const notes = el("textarea", { id: "notes", rows: 2 });
  const result = el("p", { role: "status", id: "disposition-result" });
  return el(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await request(`/api/calls/${c.call_id}/disposition`, { method: "POST", json: { code: select.value, notes: notes.value || null } });
          result.textContent = "Saved.";
        } catch (err) {
          result.textContent = err.message;
        }
      },
    },
    el("label", { for: "disposition" }, "Disposition"),
    select,
    el("label", { for: "notes" }, "Notes"),
    notes,
    el("button", { type: "submit" }, "Save"),
    result,
  );
}

function savedText(answer) {
  if (answer.outcome === "created") return `Lead saved: ${answer.lead.name || answer.lead.phone} (${answer.lead.phone})`;
  if (answer.outcome === "exists") return `Already a lead: ${answer.message}`;
  return `Lead not saved: ${answer.message}${answer.code ? ` (${answer.code})` : ""}`;
}

async function main() {
  const { gatewayUrl, token } = await settings();
  if (!gatewayUrl || !token) {
    fill(
    root,
      el("h1", {}, "Dialgate"),
      el("p", { id: "signed-out" }, "Not signed in."),
      el("button", { type: "button", onclick: () => chrome.runtime.openOptionsPage() }, "Open options"),
    );
    return;
  }
  let me;
  try {
    me = await request("/api/auth/me");
  } catch (err) {
    fill(root, el("h1", {}, "Dialgate"), el("p", { class: "error", id: "signed-out" }, `Not signed in: ${err.message}`));
    return;
  }
  ({ dispositions } = await request("/api/settings/crm"));
  const { lastCall } = await chrome.storage.session.get("lastCall");
  // A call's JSON carries `call_id` like the `call_updated` pushes do.
  if (lastCall) call = await request(`/api/calls/${lastCall.id}`).catch(() => lastCall);
  const { lastLead } = await chrome.storage.session.get("lastLead");
  fill(
    root,
    el("h1", {}, "Dialgate"),
    el("p", { id: "signed-in" }, `Signed in as ${me.name}`),
    el("section", { id: "call", "aria-label": "Live call" }),
    lastLead ? el("p", { id: "last-lead", class: lastLead.ok ? "muted" : "error" }, savedText(lastLead)) : null,
  );
  renderCall();
  const socket = io(`${gatewayUrl}/dialer`, { auth: { token }, transports: ["websocket"] });
  // Pushes sent before this socket joined (or while it was away) are not replayed: read the
  // call again on every (re)connection, after which pushes keep it current.
  socket.on("connect", async () => {
    const id = call && (call.call_id ?? call.id);
    if (!id) return;
    const fresh = await request(`/api/calls/${id}`).catch(() => null);
    if (fresh && call && (call.call_id ?? call.id) === id) {
      call = merged(fresh);
      renderCall();
    }
  });
  socket.on("call_updated", (update) => {
    if (update.agent_id !== me.id) return;
    call = merged(update);
    renderCall();
  });
}

main();
