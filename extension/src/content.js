// Puts a dial button after every phone number in the page's text, including text that a
// single-page app adds later. Dialing goes through the service worker, which holds the token.
import { findNumbers } from "libphonenumber-js/min";

const BUTTON_CLASS = "dialgate-dial";
const SKIP = "script, style, noscript, textarea, input, select, option, code, pre, button, [contenteditable], .dialgate-dial";
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
        if (added.nodeType === Node.ELEMENT_NODE && !added.classList.contains(BUTTON_CLASS)) pending.add(added);
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

chrome.storage.local.get("region").then(({ region: stored }) => {
  if (stored) region = stored;
  scan(document.body);
  observe();
});
