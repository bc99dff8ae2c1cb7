// Puts a dial button after every phone number in the page's text, including text that a
// single-page app adds later, and offers to save a selected number (with a name) as a lead.
// Dialing and saving go through the service worker, which holds the token.
import { findNumbers } from "libphonenumber-js/min";
import { looksLikeContact } from "./selection.js";

const BUTTON_CLASS = "dialgate-dial";
const SAVE_CLASS = "dialgate-save";
const SKIP = `script, style, noscript, textarea, input, select, option, code, pre, button, [contenteditable], .${BUTTON_CLASS}, .${SAVE_CLASS}`;
const seen = new WeakSet();
let region = "IN";

function candidates(root) {
  const nodes = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      if (seen.has(node) || !/\d[\d\s().-]{5,}\d/.test(node.data)) return NodeFilter.FILTER_REJECT;
      const parent = node.parentElement;
      if (!parent || parent.closest(SKIP)) return NodeFilter.FILTER_REJECT;
      return NodeFilter.FILTER_ACCEPT;
    },
  });
  while (walker.nextNode()) nodes.push(walker.currentNode);
  return nodes;
}

function button(phone) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = BUTTON_CLASS;
  el.textContent = "☎ Call";
  el.dataset.number = phone.number;
  el.setAttribute("aria-label", `Call ${phone.formatInternational()} with Dialgate`);
  el.addEventListener("click", async (event) => {
    // Numbers often sit inside links (tel:, a row's link): the button must not follow them.
    event.preventDefault();
    event.stopPropagation();
    el.dataset.state = "calling";
    el.textContent = "☎ Calling…";
    const answer = await chrome.runtime.sendMessage({ type: "dial", number: phone.number });
    if (answer && answer.ok) {
      el.title = `Call #${answer.call_id} placed`;
      el.textContent = "☎ Called";
    } else {
      el.dataset.state = "error";
      el.textContent = "☎ Refused";
      el.title = `${(answer && answer.message) || "failed"} (${(answer && answer.code) || "error"})`;
    }
  });
  return el;
}

function decorate(node) {
  seen.add(node);
  const found = findNumbers(node.data, { defaultCountry: region, v2: true }).filter((m) => m.number.isValid());
  // From the last match backwards, so earlier offsets stay valid while splitting.
  for (const match of found.reverse()) {
    const after = node.splitText(match.endsAt);
    seen.add(after);
    node.parentNode.insertBefore(button(match.number), after);
  }
}

function scan(root) {
  for (const node of candidates(root)) decorate(node);
}

let pending = new Set();
let timer = null;

function observe() {
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      for (const added of m.addedNodes) {
        if (added.nodeType === Node.ELEMENT_NODE && !added.classList.contains(BUTTON_CLASS) && !added.classList.contains(SAVE_CLASS)) pending.add(added);
        else if (added.nodeType === Node.TEXT_NODE && !seen.has(added) && added.parentElement) pending.add(added.parentElement);
      }
    }
    // Batched: a single-page app's render adds many nodes at once.
    if (pending.size && !timer) {
      timer = setTimeout(() => {
        const roots = pending;
        pending = new Set();
        timer = null;
        for (const root of roots) if (root.isConnected) scan(root);
      }, 100);
    }
  }).observe(document.body, { childList: true, subtree: true });
}

// --- save a selection as a lead ---------------------------------------------------------------

let saveBox = null;

// The selection's text without the labels of the dial buttons inside it.
function selectedText() {
  const selection = window.getSelection();
  if (!selection || selection.isCollapsed || !selection.rangeCount) return { text: "", rect: null };
  const range = selection.getRangeAt(0);
  const start = range.startContainer.nodeType === Node.ELEMENT_NODE ? range.startContainer : range.startContainer.parentElement;
  if (start && start.closest("input, textarea, [contenteditable], ." + SAVE_CLASS)) return { text: "", rect: null };
  const copy = range.cloneContents();
  for (const node of copy.querySelectorAll(`.${BUTTON_CLASS}, .${SAVE_CLASS}`)) node.remove();
  return { text: copy.textContent.replace(/\s+/g, " ").trim(), rect: range.getBoundingClientRect() };
}

function hideSaveBox() {
  if (saveBox) saveBox.remove();
  saveBox = null;
}

function placeBox(box, rect) {
  if (rect) {
    box.style.position = "absolute";
    box.style.left = `${Math.max(0, rect.left + window.scrollX)}px`;
    box.style.top = `${rect.bottom + window.scrollY + 4}px`;
  } else {
    box.style.position = "fixed";
    box.style.right = "1rem";
    box.style.top = "1rem";
  }
}

const RESULT_TEXT = {
  created: (a) => `Lead saved: ${a.lead.name || a.lead.phone} (${a.lead.phone})`,
  exists: (a) => `Already a lead: ${a.message}`,
  invalid: (a) => `Not saved: ${a.message}${a.code ? ` (${a.code})` : ""}`,
  error: (a) => `Not saved: ${a.message || "failed"}${a.code ? ` (${a.code})` : ""}`,
};

function showResult(box, answer) {
  const outcome = (answer && answer.outcome) || "error";
  box.dataset.state = outcome;
  box.querySelector("[role=status]").textContent = (RESULT_TEXT[outcome] || RESULT_TEXT.error)(answer || {});
  const saveButton = box.querySelector("button");
  if (saveButton) saveButton.remove();
}

function makeBox(rect) {
  hideSaveBox();
  const box = document.createElement("div");
  box.className = SAVE_CLASS;
  const status = document.createElement("p");
  status.setAttribute("role", "status");
  const close = document.createElement("button");
  close.type = "button";
  close.className = "dialgate-close";
  close.textContent = "×";
  close.setAttribute("aria-label", "Close");
  close.addEventListener("click", hideSaveBox);
  box.append(status, close);
  placeBox(box, rect);
  document.body.append(box);
  saveBox = box;
  return box;
}

function offerSave(text, rect) {
  const box = makeBox(rect);
  const save = document.createElement("button");
  save.type = "button";
  save.textContent = "+ Save as lead";
  save.setAttribute("aria-label", "Save selection as a Dialgate lead");
  // Keep the page's selection while the button is pressed.
  save.addEventListener("mousedown", (event) => event.preventDefault());
  save.addEventListener("click", async (event) => {
    // Only a person's click saves: a page's own script cannot create leads with the user's token.
    if (!event.isTrusted) return;
    save.disabled = true;
    save.textContent = "Saving…";
    const answer = await chrome.runtime.sendMessage({ type: "save_lead", text });
    showResult(box, answer);
  });
  box.prepend(save);
}

function onSelectionDone(event) {
  if (saveBox && saveBox.contains(event.target)) return;
  // After the browser has updated the selection for this click or key.
  setTimeout(() => {
    const { text, rect } = selectedText();
    if (looksLikeContact(text)) offerSave(text, rect);
    else if (saveBox && !saveBox.dataset.state) hideSaveBox();
  }, 0);
}

// The context menu's "Save as lead" runs in the service worker, which reports here.
chrome.runtime.onMessage.addListener((message) => {
  if (!message || message.type !== "lead_saved") return;
  const { rect } = selectedText();
  showResult(makeBox(rect), message.answer);
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") hideSaveBox();
});
document.addEventListener("mouseup", onSelectionDone);
document.addEventListener("keyup", onSelectionDone);

chrome.storage.local.get("region").then(({ region: stored }) => {
  if (stored) region = stored;
  scan(document.body);
  observe();
});
