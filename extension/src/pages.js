// What the popup and options pages share: stored settings and authenticated requests.
// These are extension pages, not web pages, so reading the token here keeps it from sites.

export async function settings() {
  const { gatewayUrl = "", token = "", region = "IN" } = await chrome.storage.local.get(["gatewayUrl", "token", "region"]);
  return { gatewayUrl: gatewayUrl.replace(/\/+$/, ""), token, region };
}

export async function request(path, { method = "GET", json } = {}) {
  const { gatewayUrl, token } = await settings();
  const headers = { Authorization: `Bearer ${token}` };
  if (json !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(`${gatewayUrl}${path}`, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  const body = await resp.json().catch(() => null);
  if (!resp.ok) {
    const err = (body && body.error) || {};
    throw Object.assign(new Error(err.message || `HTTP ${resp.status}`), { status: resp.status, code: err.code });
  }
  return body;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  node.append(...present(children));
  return node;
}

/** `node`'s children replaced; like `el`, a null, undefined or false child is left out (the
 * DOM's own `replaceChildren` would show it as the text "null"). */
export function fill(node, ...children) {
  node.replaceChildren(...present(children));
}

function present(children) {
  return children
    .flat()
    .filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : String(c)));
}
