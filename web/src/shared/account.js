// The signed-in user's own account, from either console's top bar: change password, sign out.
import { ApiError, api, setToken } from "./api.js";
import { h } from "./dom.js";

/** End this session on the gateway (its token stops working), then forget the token here. */
export async function signOut() {
  try {
    await api("/api/auth/logout", { method: "POST" });
  } catch {
    // Already expired or the gateway is unreachable: the token is dropped here all the same.
  }
  setToken(null);
  window.location.reload();
}

const FIELDS = [
  { key: "current_password", id: "pw-current", text: "Current password", autocomplete: "current-password" },
  {
    key: "new_password",
    id: "pw-new",
    text: "New password",
    autocomplete: "new-password",
    hint: "At least 8 characters. Your other sessions are signed out.",
  },
  { key: "confirm", id: "pw-confirm", text: "New password again", autocomplete: "new-password" },
];

/** Open the change-password dialog; focus returns to `opener` when it closes. */
export function changePassword(opener) {
  const inputs = {};
  const errors = {};
  const rows = FIELDS.map((f) => {
    inputs[f.key] = h("input", { id: f.id, type: "password", autocomplete: f.autocomplete, required: true, minlength: f.key === "current_password" ? null : 8 });
    errors[f.key] = h("p.field-error", { id: `${f.id}-error`, hidden: true });
    const described = [f.hint ? `${f.id}-hint` : null, `${f.id}-error`].filter(Boolean).join(" ");
    inputs[f.key].setAttribute("aria-describedby", described);
    return h(
      "div.field",
      { dataset: { field: f.key } },
      h("label", { for: f.id }, f.text),
      inputs[f.key],
      f.hint ? h("p.hint", { id: `${f.id}-hint` }, f.hint) : null,
      errors[f.key],
    );
  });
  const formError = h("p.form-error", { role: "alert" });
  const done = h("p.form-ok", { role: "status", id: "pw-done" });
  const submit = h("button.primary", { type: "submit" }, "Change password");
  const close = h("button", { type: "button", onclick: () => dialog.close() }, "Close");

  function show(key, message) {
    for (const [name, el] of Object.entries(errors)) {
      const mine = name === key;
      el.hidden = !mine;
      el.textContent = mine ? message : "";
      if (mine) inputs[name].setAttribute("aria-invalid", "true");
      else inputs[name].removeAttribute("aria-invalid");
    }
    formError.textContent = key in errors ? "" : message || "";
    if (key in inputs) inputs[key].focus();
  }

  async function save(event) {
    event.preventDefault();
    done.textContent = "";
    const current = inputs.current_password.value;
    const next = inputs.new_password.value;
    if (!current) return show("current_password", "Enter your current password.");
    if (next.length < 8) return show("new_password", "The new password needs at least 8 characters.");
    if (inputs.confirm.value !== next) return show("confirm", "This does not match the new password.");
    show(null, "");
    submit.disabled = true;
    try {
      await api("/api/auth/password", { method: "POST", json: { current_password: current, new_password: next } });
      for (const input of Object.values(inputs)) input.value = "";
      done.textContent = "Password changed. Your other sessions were signed out; this one stays signed in.";
      close.focus();
    } catch (err) {
      const key = err instanceof ApiError && err.field in errors ? err.field : null;
      show(key, err.message);
    } finally {
      submit.disabled = false;
    }
  }

  const dialog = h(
    "dialog.account",
    { id: "password-dialog", "aria-labelledby": "password-title" },
    h(
      "form",
      { novalidate: true, onsubmit: save, "aria-labelledby": "password-title" },
      h("h2", { id: "password-title" }, "Change password"),
      rows,
      formError,
      done,
      h("div.actions", {}, submit, close),
    ),
  );
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener && opener.isConnected) opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  inputs.current_password.focus();
  return dialog;
}

/** The top bar's account controls: change password, sign out. */
export function accountControls() {
  const change = h("button.link", { type: "button", id: "change-password", onclick: () => changePassword(change) }, "Change password");
  return [change, h("button.link", { type: "button", id: "sign-out", onclick: signOut }, "Sign out")];
}
