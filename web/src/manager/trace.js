// "Why assigned": a lead's assignment history, with every candidate's verdict, in a dialog.
import { api } from "../shared/api.js";
import { h, replace, toast } from "../shared/dom.js";
import { KIND_LABEL } from "./rules.js";

const PAGE = 20;
const METHOD_LABEL = { auto: "Automatic", manual: "Manual", bulk: "Bulk", import: "Import" };

function stamp(iso) {
  return new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

function candidates(row, userName) {
  if (!row.candidates.length) return h("p.muted", {}, "No agents were weighed.");
  const ruleIds = new Set(row.candidates.map((c) => c.rule_id));
  const byRule = ruleIds.size > 1;
  return h(
    "div.table-wrap",
    {},
    h(
      "table.candidates",
      {},
      h("caption", {}, row.rule_kind ? "Candidates considered" : "The agent chosen by hand"),
      h(
        "thead",
        {},
        h("tr", {}, h("th", { scope: "col" }, "Agent"), h("th", { scope: "col" }, "Verdict"), byRule ? h("th", { scope: "col" }, "Rule") : null, h("th", { scope: "col" }, "Why")),
      ),
      h(
        "tbody",
        {},
        row.candidates.map((c) => {
          // By hand, the one entry is the chosen agent's state then; by a rule, its eligible pick.
          const chosen = c.agent_id === row.agent_id && (row.rule_kind === null || (c.eligible && c.rule_id === row.rule_id));
          const verdict = chosen ? "Chosen" : c.eligible ? "Eligible" : "Skipped";
          return h(
            "tr",
            { dataset: { agentId: c.agent_id, verdict: verdict.toLowerCase() } },
            h("th", { scope: "row" }, userName(c.agent_id)),
            h("td", {}, h("span.badge", { dataset: { status: verdict.toLowerCase() } }, verdict)),
            byRule ? h("td", {}, c.rule_id ? `#${c.rule_id}` : "—") : null,
            h("td", {}, c.reason),
          );
        }),
      ),
    ),
  );
}

function entry(row, userName) {
  const rule = row.rule_kind ? `${KIND_LABEL[row.rule_kind] || row.rule_kind}${row.rule_id ? ` (rule #${row.rule_id})` : " (rule deleted)"}` : "No rule";
  const to = row.agent_id === null ? "Nobody: no agent was found" : userName(row.agent_id);
  return h(
    "li.assignment",
    { dataset: { assignmentId: row.id } },
    h("h3", {}, `${METHOD_LABEL[row.method] || row.method}, ${row.rule_kind ? "by the rules" : "by hand"} · ${stamp(row.created_at)}`),
    h(
      "dl.facts",
      {},
      h("dt", {}, "Assigned to"),
      h("dd.chosen", {}, to),
      h("dt", {}, "Previous owner"),
      h("dd", {}, row.previous_agent_id === null ? "None" : userName(row.previous_agent_id)),
      h("dt", {}, "Rule"),
      h("dd.rule-used", {}, rule),
      h("dt", {}, "By"),
      h("dd.by", {}, row.assigned_by === null ? "The gateway (automatic)" : userName(row.assigned_by)),
      h("dt", {}, "Reason"),
      h("dd.reason", {}, row.reason),
    ),
    candidates(row, userName),
  );
}

/** Open the lead's history in a modal dialog; focus returns to `opener` when it closes. */
export async function showAssignments(lead, { userName, opener }) {
  let body;
  try {
    body = await api(`/api/leads/${lead.id}/assignments?limit=${PAGE}`);
  } catch (err) {
    toast(err.message, { kind: "error", title: "History not loaded" });
    return;
  }
  const title = `Why assigned: ${lead.name || lead.phone}`;
  const dialog = h(
    "dialog.trace",
    { id: "assignment-trace", "aria-labelledby": "trace-title" },
    h(
      "div.card-head",
      {},
      h("h2", { id: "trace-title" }, title),
      h("button", { type: "button", onclick: () => dialog.close() }, "Close"),
    ),
  );
  const list = h("ol.assignments", { "aria-label": "Assignments, newest first" });
  const older = h("button", { type: "button", id: "older-assignments" }, "Show older assignments");
  let cursor = null;
  const add = (page) => {
    list.append(...page.data.map((row) => entry(row, userName)));
    cursor = page.next_cursor;
    older.hidden = !cursor;
  };
  older.addEventListener("click", async () => {
    const first = list.children.length;
    try {
      add(await api(`/api/leads/${lead.id}/assignments?limit=${PAGE}&cursor=${encodeURIComponent(cursor)}`));
    } catch (err) {
      toast(err.message, { kind: "error", title: "History not loaded" });
      return;
    }
    // The keyboard lands on the first entry it asked for.
    const next = list.children[first];
    if (next) {
      next.tabIndex = -1;
      next.focus();
    }
  });
  add(body);
  replace(dialog, dialog.firstChild, body.data.length ? list : h("p", {}, "This lead has never been assigned."), older);
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener && opener.isConnected) opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
}
