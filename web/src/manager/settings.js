// The manager console's dialing settings: admins change them, managers see them.
import { api } from "../shared/api.js";
import { h, replace, toast } from "../shared/dom.js";

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
  const current = await api("/api/settings/dialing");
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
  );
}
