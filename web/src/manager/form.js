// Form pieces the console's editors share: a labelled control with the API's error under it.
import { $, h, replace } from "../shared/dom.js";

/** A labelled control, its hint and `error` (the API's message for `apiField`) right under it. */
export function field(error, id, text, control, apiField, hint = null) {
  const described = [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(" ");
  control.id = id;
  control.dataset.field = apiField;
  if (described) control.setAttribute("aria-describedby", described);
  if (error) control.setAttribute("aria-invalid", "true");
  const isBox = control.type === "checkbox";
  return h(
    "div.field",
    { dataset: { field: apiField } },
    isBox ? h("label.check", { for: id }, control, ` ${text}`) : [h("label", { for: id }, text), control],
    hint ? h("p.hint", { id: `${id}-hint` }, hint) : null,
    error ? h("p.field-error", { id: `${id}-error` }, error) : null,
  );
}

/** Focus stays where the keyboard was: the first of the given controls still enabled. */
export function refocus(view, focus) {
  for (const selector of [focus || []].flat()) {
    const el = $(selector, view);
    if (el && !el.disabled) {
      el.focus();
      break;
    }
  }
}

/** Shows `text` while `load` runs, or its error in its place; true when it loaded. */
export async function loadInto(view, text, load) {
  replace(view, h("p.loading", { role: "status" }, text));
  try {
    await load();
    return true;
  } catch (err) {
    replace(view, h("p.form-error", { role: "alert" }, err.message));
    return false;
  }
}
