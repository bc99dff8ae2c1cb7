// Agents: who is in the team and the attributes the assignment rules read, with an edit form;
// admins also add agents (with a one-time initial password) and teams.
import { api } from "../shared/api.js";
import { $, h, replace, toast } from "../shared/dom.js";
import { field as labelled, loadInto, refocus } from "./form.js";
import { pretty } from "../shared/phone.js";

const ROLE_LABEL = { admin: "Admin", manager: "Manager", agent: "Agent" };
const STATE_LABEL = { available: "Available", "on-call": "On a call", "wrap-up": "Wrap-up", paused: "Paused", offline: "Offline" };
const TAG_FIELDS = ["skills", "languages", "territories"];
const COLUMNS = ["Name", "Team", "Role", "State", "Weight", "Territories", "Skills", "Languages", "Open leads", "Daily cap", "Shift", "Caller ID"];

const agents = {
  me: null,
  teams: new Map(),
  list: [],
  // The org's numbers on active carrier accounts ({id, e164, account_name}); null: not offered.
  numbers: null,
  // The user being edited (an id) or null.
  editing: null,
  errors: {},
  // What the form held when the API refused it, so nothing typed is lost.
  draft: null,
  // "agent" or "team" while an admin fills in the add form, else null.
  adding: null,
  // The user whose password an admin is resetting (an id) or null.
  resetting: null,
  // The sign-in details of the agent just added or reset ({name, email, password, reset}): shown once.
  created: null,
  onSaved: () => {},
  onTeamAdded: () => {},
};

/** What the API lets the signed-in user change: admins anyone, managers their team's agents. */
export function canEdit(me, user) {
  if (me.role === "admin") return true;
  return me.role === "manager" && user.role === "agent" && user.team_id !== null && user.team_id === me.team_id;
}

function teamName(teamId) {
  if (teamId === null || teamId === undefined) return "No team";
  const team = agents.teams.get(teamId);
  return team ? team.name : `Team #${teamId}`;
}

function shift(user) {
  return user.shift_start && user.shift_end ? `${user.shift_start}–${user.shift_end}` : "Any time";
}

const list = (values) => (values.length ? values.join(", ") : "—");
const tags = (text) => text.split(",").map((t) => t.trim()).filter(Boolean);

async function load() {
  const [users, numbers] = await Promise.all([
    api("/api/users"),
    api("/api/carrier-numbers").catch(() => null),
  ]);
  agents.list = users.data;
  agents.numbers = numbers ? numbers.data : null;
}

export async function renderAgents(view, { me, teams, onSaved, onTeamAdded }) {
  agents.me = me;
  agents.teams = new Map(teams.map((t) => [t.id, t]));
  agents.onSaved = onSaved || (() => {});
  agents.onTeamAdded = onTeamAdded || (() => {});
  agents.editing = null;
  agents.adding = null;
  agents.resetting = null;
  agents.created = null;
  agents.errors = {};
  agents.draft = null;
  if (await loadInto(view, "Loading agents…", load)) draw(view);
}

function stateCell(presence) {
  return h("span", {}, h("span.dot", { dataset: { state: presence.state }, "aria-hidden": "true" }), STATE_LABEL[presence.state] || presence.state);
}

/** A `presence` push ({user_id, state, reason, since, ...}): the row's state, in place. */
export function showPresence(push) {
  const user = agents.list.find((u) => u.id === push.user_id);
  if (!user) return;
  user.presence = { state: push.state, reason: push.reason ?? null, since: push.since ?? null };
  const cell = document.querySelector(`#people tr[data-user-id="${push.user_id}"] td.state-cell`);
  if (cell) replace(cell, stateCell(user.presence));
}

function editButton(user) {
  return `button[data-edit="${user.id}"]`;
}

function draw(view, focus = null) {
  if (!view.isConnected) return;
  const editing = agents.list.find((u) => u.id === agents.editing) || null;
  const resetting = agents.list.find((u) => u.id === agents.resetting) || null;
  const people = [...agents.list].sort((a, b) => Number(b.is_active) - Number(a.is_active) || a.name.localeCompare(b.name));
  replace(
    view,
    h(
      "section.card.people",
      { "aria-labelledby": "people-title" },
      h(
        "div.card-head",
        {},
        h("h2", { id: "people-title" }, "Agents"),
        // Only admins may create users and teams (POST /api/users, /api/teams).
        agents.me.role === "admin"
          ? h(
              "div.head-actions",
              {},
              h("button", { type: "button", id: "add-agent", onclick: () => startAdding(view, "agent") }, "Add agent"),
              h("button", { type: "button", id: "add-team", onclick: () => startAdding(view, "team") }, "Add team"),
            )
          : null,
      ),
      h(
        "p.muted",
        {},
        agents.me.role === "admin"
          ? "Everyone in the organization. The assignment rules read each agent's weight, territories, skills, languages, caps and shift."
          : "Your team. The assignment rules read each agent's weight, territories, skills, languages, caps and shift; admins change roles and teams.",
      ),
      agents.created ? credentials(view) : null,
      agents.adding === "agent" ? newAgentForm(view) : null,
      agents.adding === "team" ? newTeamForm(view) : null,
      editing ? agentForm(view, editing) : null,
      resetting ? resetForm(view, resetting) : null,
      h(
        "div.table-wrap",
        {},
        h(
          "table.people-table",
          { id: "people" },
          h("caption.visually-hidden", {}, "Agents and their assignment attributes"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              COLUMNS.map((t, i) => h("th", { scope: "col", class: [4, 8, 9].includes(i) ? "num" : null }, t)),
              h("th", { scope: "col" }, h("span.visually-hidden", {}, "Actions")),
            ),
          ),
          h(
            "tbody",
            {},
            people.map((u) =>
              h(
                "tr",
                { dataset: { userId: u.id, active: String(u.is_active) } },
                h("th", { scope: "row" }, u.name, u.is_active ? null : h("span.badge", { dataset: { status: "disabled" } }, "Deactivated")),
                // data-label: the column's name, shown beside the value when rows stack on phones.
                h("td", { dataset: { label: COLUMNS[1] } }, teamName(u.team_id)),
                h("td", { dataset: { label: COLUMNS[2] } }, ROLE_LABEL[u.role] || u.role),
                h("td.state-cell", { dataset: { label: COLUMNS[3] } }, stateCell(u.presence)),
                h("td.num", { dataset: { label: COLUMNS[4] } }, u.weight),
                h("td", { dataset: { label: COLUMNS[5] } }, list(u.territories)),
                h("td", { dataset: { label: COLUMNS[6] } }, list(u.skills)),
                h("td", { dataset: { label: COLUMNS[7] } }, list(u.languages)),
                h("td.num", { dataset: { label: COLUMNS[8] } }, u.max_open_leads === null ? u.open_leads : `${u.open_leads} / ${u.max_open_leads}`),
                h("td.num", { dataset: { label: COLUMNS[9] } }, u.max_daily_leads === null ? "—" : u.max_daily_leads),
                h("td", { dataset: { label: COLUMNS[10] } }, shift(u)),
                h("td.phone", { dataset: { label: COLUMNS[11] } }, u.caller_id ? pretty(u.caller_id) : "Default"),
                h(
                  "td.row-actions",
                  {},
                  canEdit(agents.me, u)
                    ? h("button", { type: "button", dataset: { edit: u.id }, "aria-label": `Edit ${u.name}`, onclick: () => edit(view, u.id) }, "Edit")
                    : null,
                  // Admins reset others' passwords; their own they change from the top bar.
                  agents.me.role === "admin" && u.id !== agents.me.id
                    ? h("button", { type: "button", dataset: { reset: u.id }, "aria-label": `Reset password of ${u.name}`, onclick: () => startReset(view, u.id) }, "Reset password")
                    : null,
                ),
              ),
            ),
          ),
        ),
      ),
    ),
  );
  refocus(view, focus);
}

/** One form open at a time (edit, add or reset), scrolled into view with `focus` in it. */
function openForm(view, { editing = null, adding = null, resetting = null }, focus) {
  Object.assign(agents, { editing, adding, resetting, errors: {}, draft: null });
  // Sign-in details still shown stay while an agent is edited; a new add or reset replaces them.
  if (!editing) agents.created = null;
  draw(view, focus);
  const form = $("form.agent-form", view);
  if (form) form.scrollIntoView({ block: "nearest" });
}

function edit(view, id) {
  openForm(view, { editing: id }, "#agent-name");
}

function close(view, user) {
  agents.editing = null;
  agents.errors = {};
  agents.draft = null;
  draw(view, editButton(user));
}

// --- the form -------------------------------------------------------------------------------

function field(id, text, control, apiField, hint = null) {
  return labelled(agents.errors[apiField], id, text, control, apiField, hint);
}

const text = (value, attrs = {}) => h("input", { type: "text", value, autocomplete: "off", ...attrs });
const idText = (id) => (id === null || id === undefined ? "" : String(id));

/** The form's fields as text, the way the controls hold them. */
function formFrom(user) {
  return {
    name: user.name,
    phone: user.phone ? pretty(user.phone) : "",
    weight: String(user.weight),
    territories: user.territories.join(", "),
    skills: user.skills.join(", "),
    languages: user.languages.join(", "),
    max_open_leads: idText(user.max_open_leads),
    max_daily_leads: idText(user.max_daily_leads),
    shift_start: user.shift_start || "",
    shift_end: user.shift_end || "",
    is_active: user.is_active,
    caller_id_number_id: idText(user.caller_id_number_id),
    role: user.role,
    team_id: idText(user.team_id),
  };
}

const number = (value) => (value === "" ? null : Number(value));
const TO_API = {
  name: (v) => v.trim(),
  phone: (v) => v.trim() || null,
  weight: number,
  territories: tags,
  skills: tags,
  languages: tags,
  max_open_leads: number,
  max_daily_leads: number,
  shift_start: (v) => v || null,
  shift_end: (v) => v || null,
  is_active: (v) => v,
  caller_id_number_id: number,
  role: (v) => v,
  team_id: number,
};
// Compared after trimming, so re-spacing a list is no change.
const SAME = (key, a, b) => (TAG_FIELDS.includes(key) ? tags(a).join("\n") === tags(b).join("\n") : typeof a === "string" ? a.trim() === b.trim() : a === b);

/** "Value error, territories.1: 'X' is …" (a list entry refused) as "Entry 2: 'X' is …". */
function readable(message, key) {
  const text = message.replace(/^Value error, /, "");
  const entry = key ? text.match(new RegExp(`^${key}\\.(\\d+): (.*)$`)) : null;
  return entry ? `Entry ${Number(entry[1]) + 1}: ${entry[2]}` : text;
}

function agentForm(view, user) {
  const me = agents.me;
  const original = formFrom(user);
  const d = agents.draft || original;
  const c = {
    name: text(d.name),
    phone: text(d.phone, { inputmode: "tel" }),
    weight: h("input", { type: "number", min: 0, max: 1000, step: 1, value: d.weight }),
    territories: text(d.territories),
    skills: text(d.skills),
    languages: text(d.languages),
    max_open_leads: h("input", { type: "number", min: 0, step: 1, value: d.max_open_leads }),
    max_daily_leads: h("input", { type: "number", min: 0, step: 1, value: d.max_daily_leads }),
    shift_start: h("input", { type: "time", value: d.shift_start }),
    shift_end: h("input", { type: "time", value: d.shift_end }),
    is_active: h("input", { type: "checkbox", checked: d.is_active, disabled: user.id === me.id }),
  };
  if (agents.numbers) {
    const known = agents.numbers.some((n) => String(n.id) === d.caller_id_number_id);
    c.caller_id_number_id = h(
      "select",
      {},
      h("option", { value: "", selected: d.caller_id_number_id === "" }, "Team's or default line"),
      agents.numbers.map((n) => h("option", { value: String(n.id), selected: String(n.id) === d.caller_id_number_id }, `${pretty(n.e164)}${n.account_name ? ` (${n.account_name})` : ""}`)),
      // A number on an account since switched off: shown so that saving leaves it alone.
      !known && d.caller_id_number_id !== "" ? h("option", { value: d.caller_id_number_id, selected: true }, `${user.caller_id ? pretty(user.caller_id) : `#${d.caller_id_number_id}`} (not usable)`) : null,
    );
  }
  if (me.role === "admin") {
    c.role = h("select", { disabled: user.id === me.id }, Object.entries(ROLE_LABEL).map(([value, label]) => h("option", { value, selected: value === d.role }, label)));
    c.team_id = h(
      "select",
      {},
      h("option", { value: "", selected: d.team_id === "" }, "No team"),
      [...agents.teams.values()].map((t) => h("option", { value: String(t.id), selected: String(t.id) === d.team_id }, t.name)),
    );
  }

  const values = () => Object.fromEntries(Object.entries(c).map(([key, el]) => [key, el.type === "checkbox" ? el.checked : el.value]));

  /** Only what changed: the API then checks just that (a manager's form never sends a role). */
  function payload(now) {
    const body = {};
    for (const [key, value] of Object.entries(now)) {
      if (!SAME(key, value, original[key])) body[key] = TO_API[key](value);
    }
    return body;
  }

  async function save(event) {
    event.preventDefault();
    const submit = event.target.querySelector("button[type=submit]");
    const now = values();
    const body = payload(now);
    if (!Object.keys(body).length) {
      toast("Nothing to save.");
      close(view, user);
      return;
    }
    submit.disabled = true;
    try {
      const saved = await api(`/api/users/${user.id}`, { method: "PATCH", json: body });
      agents.list = agents.list.map((u) => (u.id === saved.id ? saved : u));
      agents.onSaved(saved);
      toast(`${saved.name} saved.`);
      close(view, saved);
    } catch (err) {
      submit.disabled = false;
      // "territories" for the list, whichever entry was refused.
      const key = err.field ? err.field.split(".")[0] : null;
      agents.errors = { [key && key in c ? key : "_form"]: readable(err.message, key) };
      agents.draft = { ...original, ...now };
      draw(view, ["[aria-invalid=true]", "form.agent-form button[type=submit]"]);
    }
  }

  const title = `Edit ${user.name}`;
  return h(
    "form.agent-form",
    {
      "aria-label": title,
      novalidate: true,
      onsubmit: save,
      onkeydown: (event) => {
        if (event.key === "Escape") close(view, user);
      },
    },
    h("h3", {}, title, h("span.muted", {}, ` · ${user.email}`)),
    h(
      "fieldset",
      {},
      h("legend", {}, "Person"),
      h(
        "div.form-grid",
        {},
        field("agent-name", "Name", c.name, "name"),
        field("agent-phone", "Phone the dialer rings", c.phone, "phone"),
        c.role ? field("agent-role", "Role", c.role, "role") : null,
        c.team_id ? field("agent-team", "Team", c.team_id, "team_id") : h("p.muted.field", {}, `Team: ${teamName(user.team_id)} (admins move agents between teams)`),
        c.caller_id_number_id ? field("agent-caller-id", "Caller ID (number calls go out from)", c.caller_id_number_id, "caller_id_number_id") : null,
        field("agent-active", "Active (can sign in and take leads)", c.is_active, "is_active", user.id === me.id ? "You cannot deactivate yourself." : null),
      ),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Assignment"),
      h(
        "div.form-grid",
        {},
        field("agent-weight", "Weight", c.weight, "weight", "Share of leads in weighted rules (0 to 1000)."),
        field("agent-cap", "Open-lead cap", c.max_open_leads, "max_open_leads", "Rules skip the agent at this many open leads; empty: no cap."),
        field("agent-daily-cap", "Daily lead cap", c.max_daily_leads, "max_daily_leads", "Leads the rules give the agent per day at most; empty: no cap."),
        field("agent-territories", "Territories", c.territories, "territories", "Country codes or COUNTRY:Region, separated by commas, e.g. IN, US:California."),
        field("agent-skills", "Skills", c.skills, "skills", "Separated by commas."),
        field("agent-languages", "Languages", c.languages, "languages", "Separated by commas, e.g. hi, en."),
        field("agent-shift-start", "Shift starts", c.shift_start, "shift_start", "In the organization's time zone; empty start and end: any time."),
        field("agent-shift-end", "Shift ends", c.shift_end, "shift_end"),
      ),
    ),
    agents.errors._form ? h("p.form-error", { role: "alert" }, agents.errors._form) : null,
    h(
      "div.actions",
      {},
      h("button.primary", { type: "submit" }, "Save agent"),
      h("button", { type: "button", onclick: () => close(view, user) }, "Cancel"),
    ),
  );
}

// --- adding agents and teams (admins) ---------------------------------------------------------

// No look-alikes (0/O, 1/l/I): the password is read off the screen and typed or passed on.
const PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/** A random 16-character password (about 93 bits), drawn without modulo bias. */
export function newPassword(length = 16) {
  const out = [];
  const limit = 256 - (256 % PASSWORD_ALPHABET.length);
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (byte < limit && out.length < length) out.push(PASSWORD_ALPHABET[byte % PASSWORD_ALPHABET.length]);
    }
  }
  return out.join("");
}

function startAdding(view, what) {
  openForm(view, { adding: what }, what === "agent" ? "#new-agent-name" : "#new-team-name");
}

function stopAdding(view, what) {
  agents.adding = null;
  agents.errors = {};
  agents.draft = null;
  draw(view, what === "agent" ? "#add-agent" : "#add-team");
}

/** The API's refusal shown next to its field (or under the form), keeping what was typed. */
function refused(view, err, controls, now) {
  const key = err.field ? err.field.split(".")[0] : null;
  agents.errors = { [key && key in controls ? key : "_form"]: readable(err.message, key) };
  agents.draft = now;
  draw(view, ["[aria-invalid=true]", "form.agent-form button[type=submit]"]);
}

function newAgentForm(view) {
  const d = agents.draft || { name: "", email: "", role: "agent", team_id: "", phone: "", password: newPassword() };
  const c = {
    name: text(d.name),
    email: h("input", { type: "email", value: d.email, autocomplete: "off", spellcheck: false }),
    role: h("select", {}, Object.entries(ROLE_LABEL).map(([value, label]) => h("option", { value, selected: value === d.role }, label))),
    team_id: h(
      "select",
      {},
      h("option", { value: "", selected: d.team_id === "" }, "No team"),
      [...agents.teams.values()].map((t) => h("option", { value: String(t.id), selected: String(t.id) === d.team_id }, t.name)),
    ),
    phone: text(d.phone, { inputmode: "tel" }),
    password: text(d.password, { spellcheck: false, class: "mono" }),
  };
  const values = () => Object.fromEntries(Object.entries(c).map(([key, el]) => [key, el.value]));

  async function save(event) {
    event.preventDefault();
    const submit = event.target.querySelector("button[type=submit]");
    const now = values();
    const body = {
      name: now.name.trim(),
      email: now.email.trim(),
      role: now.role,
      team_id: number(now.team_id),
      phone: now.phone.trim() || null,
      password: now.password,
    };
    submit.disabled = true;
    try {
      const user = await api("/api/users", { method: "POST", json: body });
      agents.list = [...agents.list, user];
      agents.onSaved(user);
      agents.adding = null;
      agents.errors = {};
      agents.draft = null;
      // The API keeps only a hash: this is the one time anyone sees the password.
      agents.created = { name: user.name, email: user.email, password: body.password };
      draw(view, "#new-agent-done");
    } catch (err) {
      submit.disabled = false;
      refused(view, err, c, now);
    }
  }

  return h(
    "form.agent-form.new-agent",
    { "aria-label": "Add agent", novalidate: true, onsubmit: save, onkeydown: (e) => e.key === "Escape" && stopAdding(view, "agent") },
    h("h3", {}, "Add agent"),
    h(
      "div.form-grid",
      {},
      field("new-agent-name", "Name", c.name, "name"),
      field("new-agent-email", "E-mail (signs in with it)", c.email, "email"),
      field("new-agent-role", "Role", c.role, "role", "Agents take calls; managers run a team; admins run the organization."),
      field("new-agent-team", "Team", c.team_id, "team_id"),
      field("new-agent-phone", "Phone the dialer rings", c.phone, "phone", "Optional; the agent's own phone for click-to-call."),
      field(
        "new-agent-password",
        "Initial password",
        c.password,
        "password",
        "Made up at random here; at least 8 characters. It is shown once more after adding, then never again: pass it on to the agent.",
      ),
    ),
    h("p.muted", {}, "Skills, territories, caps and shift: edit the agent once added."),
    agents.errors._form ? h("p.form-error", { role: "alert" }, agents.errors._form) : null,
    h(
      "div.actions",
      {},
      h("button.primary", { type: "submit" }, "Add agent"),
      h("button", { type: "button", onclick: () => stopAdding(view, "agent") }, "Cancel"),
    ),
  );
}

/** The new (or reset) sign-in details, once: the API stores only the password's hash. */
function credentials(view) {
  const { name, email, password, reset } = agents.created;
  const done = () => {
    agents.created = null;
    draw(view, reset ? `button[data-reset="${reset}"]` : "#add-agent");
  };
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(`${email}\n${password}`);
      toast("Sign-in details copied.");
    } catch {
      toast("Copying is not allowed here: select the text instead.", { kind: "error" });
    }
  };
  return h(
    "section.credentials",
    { role: "region", "aria-labelledby": "credentials-title" },
    h("h3", { id: "credentials-title" }, reset ? `${name}'s password was reset: their sign-in details` : `${name} was added: their sign-in details`),
    h(
      "dl",
      {},
      h("dt", {}, "E-mail"),
      h("dd", {}, h("code", { id: "new-agent-login" }, email)),
      h("dt", {}, "Password"),
      h("dd", {}, h("code", { id: "new-agent-secret" }, password)),
    ),
    h(
      "p",
      { role: "note" },
      h("strong", {}, "Shown only now. "),
      "Dialgate keeps only a hash of the password, so nobody can show it again. Pass it on to the agent privately; they sign in at the agent console with it",
      reset ? " (their sessions were signed out) and can change it from the top bar." : ".",
    ),
    h(
      "div.actions",
      {},
      h("button", { type: "button", onclick: copy }, "Copy e-mail and password"),
      h("button.primary", { type: "button", id: "new-agent-done", onclick: done }, "Done, I have passed it on"),
    ),
  );
}

function newTeamForm(view) {
  const d = agents.draft || { name: "" };
  const c = { name: text(d.name, { maxlength: 200 }) };

  async function save(event) {
    event.preventDefault();
    const submit = event.target.querySelector("button[type=submit]");
    const now = { name: c.name.value };
    submit.disabled = true;
    try {
      const team = await api("/api/teams", { method: "POST", json: { name: now.name.trim() } });
      agents.teams.set(team.id, team);
      agents.onTeamAdded(team);
      toast(`Team ${team.name} added: move agents into it with Edit.`);
      stopAdding(view, "team");
    } catch (err) {
      submit.disabled = false;
      refused(view, err, c, now);
    }
  }

  return h(
    "form.agent-form.new-team",
    { "aria-label": "Add team", novalidate: true, onsubmit: save, onkeydown: (e) => e.key === "Escape" && stopAdding(view, "team") },
    h("h3", {}, "Add team"),
    h("div.form-grid", {}, field("new-team-name", "Team name", c.name, "name", "Unique in the organization.")),
    agents.errors._form ? h("p.form-error", { role: "alert" }, agents.errors._form) : null,
    h(
      "div.actions",
      {},
      h("button.primary", { type: "submit" }, "Add team"),
      h("button", { type: "button", onclick: () => stopAdding(view, "team") }, "Cancel"),
    ),
  );
}

// --- resetting a password (admins) -------------------------------------------------------------

function startReset(view, id) {
  openForm(view, { resetting: id }, "#reset-password");
}

function stopReset(view, user) {
  agents.resetting = null;
  agents.errors = {};
  agents.draft = null;
  draw(view, `button[data-reset="${user.id}"]`);
}

/** A new random password for `user`, set with POST /api/users/{id}/password, then shown once. */
function resetForm(view, user) {
  const d = agents.draft || { password: newPassword() };
  const c = { password: text(d.password, { spellcheck: false, class: "mono" }) };

  async function save(event) {
    event.preventDefault();
    const submit = event.target.querySelector("button[type=submit]");
    const now = { password: c.password.value };
    submit.disabled = true;
    try {
      await api(`/api/users/${user.id}/password`, { method: "POST", json: now });
      agents.resetting = null;
      agents.errors = {};
      agents.draft = null;
      agents.created = { name: user.name, email: user.email, password: now.password, reset: user.id };
      draw(view, "#new-agent-done");
    } catch (err) {
      submit.disabled = false;
      refused(view, err, c, now);
    }
  }

  const title = `Reset password of ${user.name}`;
  return h(
    "form.agent-form.reset-password",
    { "aria-label": title, novalidate: true, onsubmit: save, onkeydown: (e) => e.key === "Escape" && stopReset(view, user) },
    h("h3", {}, title, h("span.muted", {}, ` · ${user.email}`)),
    h(
      "div.form-grid",
      {},
      field(
        "reset-password",
        "New password",
        c.password,
        "password",
        "Made up at random here; at least 8 characters. Resetting signs them out everywhere; the password is shown once more, then never again.",
      ),
    ),
    agents.errors._form ? h("p.form-error", { role: "alert" }, agents.errors._form) : null,
    h(
      "div.actions",
      {},
      h("button.primary", { type: "submit" }, "Reset password"),
      h("button", { type: "button", onclick: () => stopReset(view, user) }, "Cancel"),
    ),
  );
}
