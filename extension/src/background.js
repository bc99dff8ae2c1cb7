// The service worker: the only place that uses the stored token. Web pages (through the content
// script) may only ask it to dial a number or save a selection as a lead; the token itself never
// reaches a page.
import { splitSelection } from "./selection.js";

const SAVE_LEAD_MENU = "dialgate-save-lead";

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
    return {
      ok: false,
      status: resp.status,
      code: err.code || `http_${resp.status}`,
      message: err.message || resp.statusText,
      field: err.field || null,
      lead_ids: err.lead_ids,
    };
  }
  return { ok: true, body };
}

// Creates a lead from selected text; `outcome` says what became of it: created, exists (the number
// is already a lead's) or invalid / error (with the API's message).
async function saveLead(text) {
  const { region = "IN" } = await chrome.storage.local.get("region");
  const { phone, name } = splitSelection(text, region);
  if (!phone) return { ok: false, outcome: "invalid", code: "no_number", field: "phone", message: "the selection holds no phone number" };
  const json = { phone, source: "extension" };
  if (name) json.name = name;
  const result = await call("/api/leads", { method: "POST", json });
  if (result.ok) {
    const { id, name: saved, phone: e164 } = result.body;
    return { ok: true, outcome: "created", lead: { id, name: saved, phone: e164 } };
  }
  if (result.code === "duplicate_phone") return { ...result, outcome: "exists" };
  return { ...result, outcome: result.status === 400 ? "invalid" : "error" };
}

async function showSaved(tabId, answer) {
  await chrome.storage.session.set({ lastLead: answer });
  if (tabId === undefined || tabId < 0) return;
  try {
    await chrome.tabs.sendMessage(tabId, { type: "lead_saved", answer });
  } catch {
    // A page without the content script (chrome://, the web store): the popup shows it instead.
  }
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
    case "save_lead": {
      // From the content script's "Save as lead" button, which only a user's click triggers.
      if (sender.id !== chrome.runtime.id) return { ok: false, code: "forbidden", message: "not allowed here" };
      const answer = await saveLead(String(message.text || ""));
      await chrome.storage.session.set({ lastLead: answer });
      return answer;
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

chrome.runtime.onInstalled.addListener(() => {
  chrome.contextMenus.create({ id: SAVE_LEAD_MENU, title: "Save “%s” as a Dialgate lead", contexts: ["selection"] });
});

chrome.contextMenus.onClicked.addListener((info, tab) => {
  if (info.menuItemId !== SAVE_LEAD_MENU) return;
  saveLead(info.selectionText || "").then((answer) => showSaved(tab && tab.id, answer));
});
