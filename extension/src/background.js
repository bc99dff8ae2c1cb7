// The service worker: the only place that uses the stored token. Web pages (through the content
// script) may only ask it to dial a number; the token itself never reaches a page.

async function config() {
  const { gatewayUrl = "", token = "" } = await chrome.storage.local.get(["gatewayUrl", "token"]);
  return { gatewayUrl: gatewayUrl.replace(/\/+$/, ""), token };
}

async function call(path, { method = "GET", json, token } = {}) {
  const { gatewayUrl, token: stored } = await config();
  if (!gatewayUrl) return { ok: false, code: "not_configured", message: "set the gateway URL in the options" };
  const headers = {};
  const bearer = token ?? stored;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(`${gatewayUrl}${path}`, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  } catch (err) {
    return { ok: false, code: "unreachable", message: `cannot reach ${gatewayUrl}: ${err.message}` };
  }
  const body = await resp.json().catch(() => null);
  if (!resp.ok) {
    const err = (body && body.error) || {};
    return { ok: false, status: resp.status, code: err.code || `http_${resp.status}`, message: err.message || resp.statusText };
  }
  return { ok: true, body };
}

function fromExtensionPage(sender) {
  return sender.id === chrome.runtime.id && (sender.url || "").startsWith(chrome.runtime.getURL(""));
}

async function handle(message, sender) {
  switch (message && message.type) {
    case "dial": {
      const number = String(message.number || "").slice(0, 40);
      if (!number) return { ok: false, code: "invalid_input", message: "no number" };
      const result = await call("/api/calls", { method: "POST", json: { number } });
      if (result.ok) {
        await chrome.storage.session.set({ lastCall: result.body });
        return { ok: true, call_id: result.body.id, status: result.body.status };
      }
      return result;
    }
    case "login": {
      if (!fromExtensionPage(sender)) return { ok: false, code: "forbidden", message: "not allowed here" };
      const result = await call("/api/auth/login", {
        method: "POST",
        json: { email: message.email, password: message.password },
        token: "",
      });
      if (!result.ok) return result;
      await chrome.storage.local.set({ token: result.body.token });
      return { ok: true, user: result.body.user };
    }
    default:
      return { ok: false, code: "unknown_message", message: "unknown request" };
  }
}

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  handle(message, sender).then(sendResponse, (err) =>
    sendResponse({ ok: false, code: "error", message: String((err && err.message) || err) }),
  );
  return true; // the answer is sent asynchronously
});
