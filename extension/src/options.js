// Options: the gateway's URL, the default country for numbers on pages, and the sign-in.
import { el, fill, settings } from "./pages.js";

async function render() {
  const current = await settings();
  const root = document.getElementById("root");
  const url = el("input", { id: "gateway-url", type: "url", required: true, placeholder: "https://dialgate.example.com", value: current.gatewayUrl });
  const region = el("input", { id: "region", maxlength: 2, value: current.region, pattern: "[A-Za-z]{2}" });
  const email = el("input", { id: "email", type: "email", autocomplete: "username" });
  const password = el("input", { id: "password", type: "password", autocomplete: "current-password" });
  const token = el("input", { id: "token", type: "password", autocomplete: "off", placeholder: current.token ? "(stored)" : "" });
  const status = el("p", { id: "status", role: "status" });
  const error = el("p", { class: "error", role: "alert", id: "error" });
  fill(
    root,
    el("h1", {}, "Dialgate click-to-call"),
    el(
      "form",
      {
        onsubmit: async (event) => {
          event.preventDefault();
          error.textContent = "";
          await chrome.storage.local.set({ gatewayUrl: url.value.trim(), region: region.value.trim().toUpperCase() || "IN" });
          if (token.value.trim()) await chrome.storage.local.set({ token: token.value.trim() });
          if (email.value && password.value) {
            const answer = await chrome.runtime.sendMessage({ type: "login", email: email.value, password: password.value });
            if (!answer.ok) {
              error.textContent = `${answer.message} (${answer.code})`;
              return;
            }
            password.value = "";
            status.textContent = `Saved. Signed in as ${answer.user.name}.`;
            return;
          }
          status.textContent = "Saved.";
        },
      },
      el("label", { for: "gateway-url" }, "Gateway URL"),
      url,
      el("label", { for: "region" }, "Country of numbers written without +country code"),
      region,
      el("p", { class: "muted" }, "Sign in with your Dialgate account, or paste an API token."),
      el("label", { for: "email" }, "E-mail"),
      email,
      el("label", { for: "password" }, "Password"),
      password,
      el("label", { for: "token" }, "API token"),
      token,
      el("button", { type: "submit" }, "Save"),
    ),
    status,
    error,
  );
}

render();
