// The manager console's settings (dialing, missed-call SMS): admins change them, managers see them.
import { api } from "../shared/api.js";
import { h, replace, toast } from "../shared/dom.js";
import { field, refocus } from "./form.js";

// [field, label, kind, hint]
const FIELDS = [
  ["calling_window_start", "Calling hours start", "hhmm", "HH:MM in the callee's own time zone"],
  ["calling_window_end", "Calling hours end", "hhmm", "HH:MM, up to 24:00; before the start: the hours run past midnight"],
  ["max_daily_attempts", "Attempts per lead per day", "count", "Empty: no limit"],
  ["wrapup_limit_s", "Wrap-up time (seconds)", "count", "Empty: no limit"],
  ["wrapup_requires_disposition", "Wrap-up lasts until a disposition is recorded", "bool", null],
  ["timezone", "Organization time zone", "zone", "Its day counts the attempts (e.g. Asia/Kolkata)"],
  ["default_region", "Default country", "region", "ISO code for numbers typed without a country code (e.g. IN)"],
];

function control([name, text, kind], value) {
  const id = `setting-${name}`;
  if (kind === "bool") return h("input", { id, name, type: "checkbox", checked: Boolean(value) });
  const attrs = { id, name, value: value ?? "", "aria-describedby": `${id}-hint` };
  if (kind === "hhmm") return h("input", { ...attrs, inputmode: "numeric", pattern: "[0-9]{2}:[0-9]{2}", placeholder: "09:00", required: true, size: 5 });
  if (kind === "count") return h("input", { ...attrs, type: "number", min: 0, step: 1 });
  if (kind === "zone") return h("input", { ...attrs, list: "zone-names", required: true, autocomplete: "off" });
  return h("input", { ...attrs, maxlength: 2, pattern: "[A-Za-z]{2}", required: true, size: 2 });
}

function read(form, [name, , kind]) {
  const input = form.elements[name];
  if (kind === "bool") return input.checked;
  const text = input.value.trim();
  if (kind === "count") return text === "" ? null : Number(text);
  return kind === "region" ? text.toUpperCase() : text;
}

export async function renderSettings(view, me) {
  const [current, sms] = await Promise.all([api("/api/settings/dialing"), api("/api/settings/missed-call-sms")]);
  const admin = me.role === "admin";
  const error = h("p.form-error", { id: "settings-error", role: "alert" });
  const saved = h("p.muted", { id: "settings-saved", role: "status" });
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const form = h(
    "form.settings",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = "";
        saved.textContent = "";
        for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
        // Only what changed: another admin's edit of another field stays.
        const changes = {};
        for (const field of FIELDS) {
          const value = read(form, field);
          if (value !== current[field[0]]) changes[field[0]] = value;
        }
        if (!Object.keys(changes).length) {
          saved.textContent = "Nothing to save.";
          return;
        }
        try {
          Object.assign(current, await api("/api/settings/dialing", { method: "PATCH", json: changes }));
          // As stored (the country in capitals).
          for (const [name, , kind] of FIELDS) if (kind !== "bool") form.elements[name].value = current[name] ?? "";
          saved.textContent = "Saved. The next dial follows the new settings.";
        } catch (err) {
          const input = err.field && form.elements[err.field];
          if (input) {
            input.setAttribute("aria-invalid", "true");
            input.focus();
          }
          error.textContent = err.field ? `${err.message} (${err.field})` : err.message;
          if (!input) toast(err.message, { kind: "error", title: "Settings not saved" });
        }
      },
    },
    h(
      "fieldset",
      { disabled: !admin },
      h("legend", {}, "Dialing"),
      FIELDS.map((field) => {
        const [name, text, kind, hint] = field;
        const id = `setting-${name}`;
        return h(
          `div.setting${kind === "bool" ? ".check" : ""}`,
          {},
          kind === "bool" ? control(field, current[name]) : null,
          h("label", { for: id }, text),
          kind === "bool" ? null : control(field, current[name]),
          hint ? h("small.muted", { id: `${id}-hint` }, hint) : null,
        );
      }),
    ),
    h("datalist", { id: "zone-names" }, zones.map((z) => h("option", { value: z }))),
    error,
    saved,
    admin ? h("div.actions", {}, h("button.primary", { type: "submit" }, "Save settings")) : null,
  );
  replace(
    view,
    h(
      "section.card",
      { "aria-labelledby": "settings-title" },
      h("h2", { id: "settings-title" }, "Dialing settings"),
      admin ? null : h("p.muted", { id: "settings-readonly" }, "Only admins change these settings."),
      form,
    ),
    h("div", { id: "missed-sms" }),
  );
  drawSms(view.querySelector("#missed-sms"), { me, stored: sms, errors: {}, draft: null });
}

// --- missed-call SMS ---------------------------------------------------------------------------

// The API's limit: three concatenated SMS segments of GSM-7 text.
const MAX_TEMPLATE = 459;
const RECIPIENTS = [
  ["caller", "The caller (\u201csorry we missed you\u201d)"],
  ["owner", "The lead's owner, on their own phone"],
  ["both", "Both"],
];
// What each placeholder becomes, with the example the preview uses.
const PLACEHOLDERS = [
  ["{org}", "the organization's name", "Demo Sales"],
  ["{caller}", "the caller's number", "+91 98450 12345"],
  ["{lead}", "the lead's name, or the number when there is no lead", "Priya Shah"],
  ["{agent}", "the name of the lead's owner (or the agent the call rang)", "Anita Agent"],
];

function preview(template) {
  return PLACEHOLDERS.reduce((text, [name, , example]) => text.split(name).join(example), template);
}

/** The missed-call SMS card; drawn again (keeping what was typed) when the API refuses a save. */
function drawSms(card, state) {
  const admin = state.me.role === "admin";
  const d = state.draft || state.stored;
  const c = {
    enabled: h("input", { type: "checkbox", checked: d.enabled }),
    to: h("select", {}, RECIPIENTS.map(([value, label]) => h("option", { value, selected: value === d.to }, label))),
    caller_template: h("textarea", { rows: 3, maxlength: MAX_TEMPLATE }, d.caller_template),
    owner_template: h("textarea", { rows: 3, maxlength: MAX_TEMPLATE }, d.owner_template),
  };
  const values = () => ({
    enabled: c.enabled.checked,
    to: c.to.value,
    caller_template: c.caller_template.value.trim(),
    owner_template: c.owner_template.value.trim(),
  });
  const status = h("p.muted", { id: "sms-saved", role: "status" }, state.saved || "");
  const example = (name) => {
    const out = h("p.sms-preview", { id: `sms-${name}-preview` }, `Preview, with the examples below: ${preview(d[name])}`);
    c[name].addEventListener("input", () => {
      out.textContent = `Preview, with the examples below: ${preview(c[name].value)}`;
    });
    return out;
  };

  async function save(event) {
    event.preventDefault();
    const now = values();
    // Only what changed: another admin's edit of another field stays.
    const changes = Object.fromEntries(Object.entries(now).filter(([key, value]) => value !== state.stored[key]));
    if (!Object.keys(changes).length) {
      status.textContent = "Nothing to save.";
      return;
    }
    const submit = event.target.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const stored = await api("/api/settings/missed-call-sms", { method: "PUT", json: changes });
      const saved = stored.enabled ? "Saved. Missed calls from now on are texted about." : "Saved. No texts are sent after missed calls.";
      drawSms(card, { ...state, stored, errors: {}, draft: null, saved });
    } catch (err) {
      const key = err.field && err.field in c ? err.field : "_form";
      drawSms(card, { ...state, errors: { [key]: err.message.replace(/^Value error, /, "") }, draft: now, saved: "" });
      refocus(card, ["[aria-invalid=true]", "button[type=submit]"]);
    }
  }

  const e = state.errors;
  replace(
    card,
    h(
      "section.card",
      { "aria-labelledby": "sms-title" },
      h("h2", { id: "sms-title" }, "Missed-call SMS"),
      h(
        "p.muted",
        {},
        "After an inbound call nobody answered, Dialgate can send a text through the carrier account the call came in on, from the number the caller dialed. Each text is tried once; numbers on the do-not-call list and leads who withdrew consent are never texted.",
      ),
      admin ? null : h("p.muted", { id: "sms-readonly" }, "Only admins change this setting."),
      h(
        "form.sms-settings",
        { "aria-label": "Missed-call SMS", novalidate: true, onsubmit: save },
        h(
          "fieldset",
          { disabled: !admin },
          h("legend", {}, "Text after a missed call"),
          field(e.enabled, "sms-enabled", "Send a text after a missed call", c.enabled, "enabled"),
          field(e.to, "sms-to", "Who gets the text", c.to, "to", "The owner is texted on the phone in their profile: for agents away from the console."),
          field(e.caller_template, "sms-caller-template", "Message to the caller", c.caller_template, "caller_template", `Up to ${MAX_TEMPLATE} characters (three SMS segments).`),
          example("caller_template"),
          field(e.owner_template, "sms-owner-template", "Message to the lead's owner", c.owner_template, "owner_template", `Up to ${MAX_TEMPLATE} characters.`),
          example("owner_template"),
          h(
            "div.placeholders",
            { id: "sms-placeholders" },
            h("p", {}, "The messages may use these placeholders, filled in for each call:"),
            h("dl", {}, PLACEHOLDERS.map(([name, meaning, sample]) => [h("dt", {}, h("code", {}, name)), h("dd", {}, `${meaning}, e.g. ${sample}`)])),
          ),
        ),
        e._form ? h("p.form-error", { role: "alert" }, e._form) : null,
        status,
        admin ? h("div.actions", {}, h("button.primary", { type: "submit" }, "Save missed-call SMS")) : null,
      ),
    ),
  );
}
