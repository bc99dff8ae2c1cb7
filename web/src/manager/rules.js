// Assignment rules: the ordered list the gateway runs to give new leads an agent, and its editor.
import { api } from "../shared/api.js";
import { h, replace, toast } from "../shared/dom.js";
import { field as labelled, loadInto, refocus } from "./form.js";

export const KIND_LABEL = {
  round_robin: "Round robin",
  least_loaded: "Least loaded",
  weighted: "Weighted",
  territory: "Territory",
  skill: "Skill",
  language: "Language",
  sticky: "Sticky owner",
};

const KIND_HELP = {
  round_robin: "Takes available agents in turn.",
  least_loaded: "Gives the lead to the agent with the least work; ties take turns.",
  weighted: "Shares leads in proportion to each agent's weight (set on the agent).",
  territory: "Matches the lead's country and region to the agents' territories.",
  skill: "Matches what the lead asks for to the agents' skills.",
  language: "Matches the lead's language to the languages the agents speak.",
  sticky: "Keeps the lead with its owner, or a returning caller with the agent they know.",
};

const MEASURE_LABEL = { open_leads: "Open leads", calls_today: "Calls today" };
const FROM_LABEL = { tag: "A lead tag", "lead.language": "The lead's language", custom: "A custom field" };

// Skill and language rules read the same config with different defaults.
const SKILLED = { skill: { require: "skills", from: "tag" }, language: { require: "languages", from: "lead.language" } };

const rules = {
  me: null,
  teams: new Map(),
  list: [],
  // The rule being edited: null (none), "new", or a rule id.
  editing: null,
  errors: {},
  // What the form last sent, kept when the API refused it so nothing typed is lost.
  draft: null,
};

function canManage(rule) {
  return rules.me.role === "admin" || (rule.team_id !== null && rule.team_id === rules.me.team_id);
}

function scopeName(teamId) {
  if (teamId === null || teamId === undefined) return "Whole organization";
  const team = rules.teams.get(teamId);
  return team ? `Team ${team.name}` : `Team #${teamId}`;
}

/** The rule's parameters in words, e.g. "skills from tags starting with skill:, all". */
export function describeConfig(kind, config = {}) {
  const parts = [];
  if (kind === "least_loaded") parts.push(`by ${(MEASURE_LABEL[config.measure || "open_leads"] || config.measure).toLowerCase()}`);
  if (SKILLED[kind]) {
    const from = config.from || SKILLED[kind].from;
    const source = from.startsWith("custom_field:") ? `custom field ${from.slice("custom_field:".length)}` : from === "tag" ? "tags" : "the lead's language";
    parts.push(`${config.require || SKILLED[kind].require} from ${source}`);
    if (from === "tag" && config.tag_prefix) parts.push(`prefix ${config.tag_prefix}`);
    parts.push(config.match === "all" ? "must match all" : "matches any");
  }
  if (config.include_offline) parts.push("includes offline agents");
  return parts.join(" · ");
}

async function load() {
  const body = await api("/api/assignment-rules");
  rules.list = body.data;
}

async function save(rule, payload) {
  try {
    if (rule) await api(`/api/assignment-rules/${rule.id}`, { method: "PATCH", json: payload });
    else await api("/api/assignment-rules", { method: "POST", json: payload });
  } catch (err) {
    if (!err.field) throw err;
    rules.errors = { [err.field]: err.message };
    rules.draft = payload;
    return false;
  }
  rules.errors = {};
  rules.draft = null;
  rules.editing = null;
  toast(rule ? "Rule saved." : "Rule added.");
  await load();
  return true;
}

/** A PUT of every rule the caller manages, in the new order; org rules keep their places. */
async function move(rule, step) {
  const managed = rules.list.filter(canManage);
  const at = managed.findIndex((r) => r.id === rule.id);
  const to = at + step;
  if (to < 0 || to >= managed.length) return;
  [managed[at], managed[to]] = [managed[to], managed[at]];
  const body = await api("/api/assignment-rules/order", { method: "PUT", json: { rule_ids: managed.map((r) => r.id) } });
  rules.list = body.data;
}

// --- the view ---------------------------------------------------------------------------

export async function renderRules(view, { me, teams }) {
  rules.me = me;
  rules.teams = new Map(teams.map((t) => [t.id, t]));
  rules.editing = null;
  rules.errors = {};
  rules.draft = null;
  if (await loadInto(view, "Loading rules…", load)) draw(view);
}

function draw(view, focus = null) {
  if (!view.isConnected) return;
  const managed = rules.list.filter(canManage);
  replace(
    view,
    h(
      "section.card.rules",
      { "aria-labelledby": "rules-title" },
      h(
        "div.card-head",
        {},
        h("h2", { id: "rules-title" }, "Assignment rules"),
        rules.editing === "new" ? null : h("button.primary", { type: "button", id: "add-rule", onclick: () => edit(view, "new") }, "Add rule"),
      ),
      h("p.muted", {}, "New and unowned leads go through the enabled rules from the top; the first rule that finds an agent decides."),
      rules.editing === "new" ? ruleForm(view, null) : null,
      rules.list.length
        ? h(
            "ol.rule-list",
            { id: "rule-list", "aria-label": "Rules in the order they run" },
            rules.list.map((rule, i) => ruleItem(view, rule, i, managed)),
          )
        : h("p", { id: "no-rules" }, "No rules yet: leads stay unassigned until a manager assigns them."),
    ),
  );
  refocus(view, focus);
}

function edit(view, what) {
  rules.editing = what;
  rules.errors = {};
  rules.draft = null;
  draw(view, "#rule-kind");
}

function ruleItem(view, rule, index, managed) {
  const mine = canManage(rule);
  const name = `rule ${index + 1} (${KIND_LABEL[rule.kind] || rule.kind})`;
  const at = managed.findIndex((r) => r.id === rule.id);
  const act = (fn, focus) => async () => {
    try {
      await fn();
    } catch (err) {
      toast(err.message, { kind: "error", title: "Rule not changed" });
    }
    draw(view, focus);
  };
  if (rules.editing === rule.id) {
    return h("li.rule", { dataset: { ruleId: rule.id, active: String(rule.is_active) } }, ruleForm(view, rule));
  }
  const params = describeConfig(rule.kind, rule.config);
  return h(
    "li.rule",
    { dataset: { ruleId: rule.id, active: String(rule.is_active) }, "aria-label": name },
    h("span.rule-pos", { "aria-hidden": "true" }, String(index + 1)),
    h(
      "div.rule-body",
      {},
      h("strong.rule-kind", {}, KIND_LABEL[rule.kind] || rule.kind),
      rule.is_active ? null : h("span.badge", { dataset: { status: "disabled" } }, "Disabled"),
      h("span.muted.rule-scope", {}, ` ${scopeName(rule.team_id)}`),
      params ? h("div.rule-params", {}, params) : null,
      mine ? null : h("div.muted.rule-note", {}, "Organization rule: admins change it."),
    ),
    mine
      ? h(
          "div.rule-actions",
          {},
          h(
            "label.switch",
            {},
            h("input", {
              type: "checkbox",
              checked: rule.is_active,
              onchange: act(async () => {
                await api(`/api/assignment-rules/${rule.id}`, { method: "PATCH", json: { is_active: !rule.is_active } });
                await load();
              }, `li[data-rule-id="${rule.id}"] .switch input`),
            }),
            "Enabled",
            // Every rule has this switch: its accessible name says whose it is.
            h("span.visually-hidden", {}, `: ${name}`),
          ),
          h(
            "button",
            { type: "button", "aria-label": `Move ${name} up`, disabled: at <= 0, onclick: act(() => move(rule, -1), [`li[data-rule-id="${rule.id}"] .move-up`, `li[data-rule-id="${rule.id}"] .move-down`]), class: "move-up" },
            "↑",
          ),
          h(
            "button",
            { type: "button", "aria-label": `Move ${name} down`, disabled: at >= managed.length - 1, onclick: act(() => move(rule, 1), [`li[data-rule-id="${rule.id}"] .move-down`, `li[data-rule-id="${rule.id}"] .move-up`]), class: "move-down" },
            "↓",
          ),
          h("button", { type: "button", "aria-label": `Edit ${name}`, onclick: () => edit(view, rule.id) }, "Edit"),
          h(
            "button.danger-outline",
            {
              type: "button",
              "aria-label": `Delete ${name}`,
              onclick: act(async () => {
                if (!window.confirm(`Delete ${name}? Leads it assigned keep their history.`)) return;
                await api(`/api/assignment-rules/${rule.id}`, { method: "DELETE" });
                toast("Rule deleted.");
                await load();
              }, "#add-rule"),
            },
            "Delete",
          ),
        )
      : null,
  );
}

// --- the form -------------------------------------------------------------------------------

function field(id, text, control, apiField, hint = null) {
  return labelled(rules.errors[apiField], id, text, control, apiField, hint);
}

function options(map, selected) {
  return Object.entries(map).map(([value, text]) => h("option", { value, selected: value === selected }, text));
}

function ruleForm(view, rule) {
  const fallbackTeam = rule ? rule.team_id : rules.me.role === "admin" ? null : rules.me.team_id;
  const draft = rules.draft
    ? { team_id: fallbackTeam, ...rules.draft }
    : rule
      ? { ...rule, config: { ...rule.config } }
      : { kind: "round_robin", team_id: fallbackTeam, config: {}, is_active: true };
  const kind = h("select", { onchange: () => paramsFor(kind.value) }, options(KIND_LABEL, draft.kind));
  const help = h("p.hint", { id: "rule-kind-hint" }, KIND_HELP[draft.kind]);
  let team = null;
  if (rules.me.role === "admin") {
    team = h(
      "select",
      {},
      h("option", { value: "", selected: draft.team_id === null }, "Whole organization"),
      [...rules.teams.values()].map((t) => h("option", { value: String(t.id), selected: t.id === draft.team_id }, t.name)),
    );
  }
  const active = h("input", { type: "checkbox", checked: draft.is_active });
  const params = h("fieldset.rule-config", {}, h("legend", {}, "Parameters"));
  const controls = {};

  function paramsFor(k) {
    help.textContent = KIND_HELP[k];
    const config = k === draft.kind ? draft.config : {};
    for (const key of Object.keys(controls)) delete controls[key];
    const parts = [];
    if (k === "least_loaded") {
      controls.measure = h("select", {}, options(MEASURE_LABEL, config.measure || "open_leads"));
      parts.push(field("rule-measure", "Least work by", controls.measure, "config.measure"));
    }
    if (SKILLED[k]) {
      const from = config.from || SKILLED[k].from;
      const custom = from.startsWith("custom_field:");
      controls.require = h("select", {}, options({ skills: "Skills", languages: "Languages" }, config.require || SKILLED[k].require));
      controls.from = h("select", { onchange: () => showSource() }, options(FROM_LABEL, custom ? "custom" : from));
      controls.customField = h("input", { type: "text", value: custom ? from.slice("custom_field:".length) : "", autocomplete: "off" });
      controls.tagPrefix = h("input", { type: "text", value: config.tag_prefix || "", autocomplete: "off", placeholder: "e.g. skill:" });
      controls.match = h("select", {}, options({ any: "Any of them", all: "All of them" }, config.match || "any"));
      const customBox = field("rule-custom-field", "Custom field name", controls.customField, "config.from");
      const prefixBox = field("rule-tag-prefix", "Only tags starting with", controls.tagPrefix, "config.tag_prefix", "Leave empty to use every tag; the prefix is removed before matching.");
      const showSource = () => {
        customBox.hidden = controls.from.value !== "custom";
        prefixBox.hidden = controls.from.value !== "tag";
      };
      parts.push(
        field("rule-require", "Agents must have", controls.require, "config.require"),
        // The API names `config.from` for both the source and a custom field's name.
        field("rule-from", "What the lead asks for comes from", controls.from, controls.from.value === "custom" ? "config.from.source" : "config.from"),
        customBox,
        prefixBox,
        field("rule-match", "An agent must have", controls.match, "config.match"),
      );
      showSource();
    }
    controls.includeOffline = h("input", { type: "checkbox", checked: Boolean(config.include_offline) });
    parts.push(field("rule-include-offline", "Also offline and paused agents (for imports)", controls.includeOffline, "config.include_offline"));
    replace(params, h("legend", {}, "Parameters"), parts);
  }
  paramsFor(draft.kind);

  function payload() {
    const k = kind.value;
    const config = {};
    if (controls.measure) config.measure = controls.measure.value;
    if (controls.require) {
      config.require = controls.require.value;
      config.from = controls.from.value === "custom" ? `custom_field:${controls.customField.value.trim()}` : controls.from.value;
      if (controls.from.value === "tag" && controls.tagPrefix.value) config.tag_prefix = controls.tagPrefix.value;
      config.match = controls.match.value;
    }
    if (controls.includeOffline.checked) config.include_offline = true;
    const body = { kind: k, config, is_active: active.checked };
    if (team) body.team_id = team.value === "" ? null : Number(team.value);
    return body;
  }

  const title = rule ? `Edit rule: ${KIND_LABEL[rule.kind] || rule.kind}` : "New rule";
  const generalError = Object.entries(rules.errors).find(([key]) => !FORM_FIELDS.has(key) && !key.startsWith("config."));
  return h(
    "form.rule-form",
    {
      "aria-label": title,
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        const submit = event.target.querySelector("button[type=submit]");
        submit.disabled = true;
        try {
          const ok = await save(rule, payload());
          draw(view, ok ? (rule ? `li[data-rule-id="${rule.id}"] button[aria-label^="Edit"]` : "#add-rule") : "[aria-invalid=true]");
        } catch (err) {
          submit.disabled = false;
          toast(err.message, { kind: "error", title: "Rule not saved" });
        }
      },
      onkeydown: (event) => {
        if (event.key === "Escape") {
          rules.editing = null;
          rules.errors = {};
          rules.draft = null;
          draw(view, rule ? `li[data-rule-id="${rule.id}"] button[aria-label^="Edit"]` : "#add-rule");
        }
      },
    },
    h("h3", {}, title),
    field("rule-kind", "Policy", kind, "kind"),
    help,
    team ? field("rule-team", "Applies to", team, "team_id") : h("p.muted", {}, `Applies to: ${scopeName(draft.team_id)}`),
    params,
    field("rule-active", "Enabled", active, "is_active"),
    generalError ? h("p.form-error", { role: "alert" }, generalError[1]) : null,
    h(
      "div.actions",
      {},
      h("button.primary", { type: "submit" }, rule ? "Save rule" : "Add rule"),
      h(
        "button",
        {
          type: "button",
          onclick: () => {
            rules.editing = null;
            rules.errors = {};
            rules.draft = null;
            draw(view, rule ? `li[data-rule-id="${rule.id}"] button[aria-label^="Edit"]` : "#add-rule");
          },
        },
        "Cancel",
      ),
    ),
  );
}

const FORM_FIELDS = new Set(["kind", "team_id", "is_active"]);
