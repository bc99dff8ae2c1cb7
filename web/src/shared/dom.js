// Small DOM helpers: element builder, toasts, time formatting.

/** h("button.primary", {onclick, type: "button"}, "Dial") — attributes, then children. */
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let toastRegion = null;

/** The notifications region, made at start-up: screen readers miss live regions added late. */
export function ensureToasts() {
  if (!toastRegion) {
    toastRegion = h("div.toasts", { role: "region", "aria-label": "Notifications" });
    document.body.append(toastRegion);
  }
  return toastRegion;
}

/** A toast in a polite live region; errors are announced assertively. */
export function toast(message, { kind = "info", title = null, timeout = 6000 } = {}) {
  ensureToasts();
  const item = h(
    "div.toast",
    { role: kind === "error" ? "alert" : "status", dataset: { kind } },
    title ? h("strong", {}, title) : null,
    h("span", {}, message),
    h("button.toast-close", { type: "button", "aria-label": "Dismiss", onclick: () => item.remove() }, "×"),
  );
  toastRegion.append(item);
  if (timeout) setTimeout(() => item.remove(), timeout);
  return item;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function secondsSince(iso) {
  return iso ? (Date.now() - new Date(iso).getTime()) / 1000 : null;
}

export function label(entries, key) {
  const entry = (entries || []).find((x) => x.key === key);
  return entry ? entry.label : key || "—";
}
