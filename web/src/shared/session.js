// Sign-in shared by both consoles: a login form until a valid token is in sessionStorage.
import { ApiError, api, getToken, login, setToken } from "./api.js";
import { h, replace } from "./dom.js";

/** Resolve with the signed-in user (GET /api/auth/me), showing the login form if needed. */
export async function signIn(root, { title, roles = null } = {}) {
  if (getToken()) {
    try {
      const me = await api("/api/auth/me");
      if (!roles || roles.includes(me.role)) return me;
      setToken(null);
    } catch {
      setToken(null);
    }
  }
  return new Promise((resolve) => {
    const error = h("p.form-error", { id: "login-error", role: "alert" });
    const email = h("input", { id: "login-email", name: "email", type: "email", autocomplete: "username", required: true });
    const password = h("input", {
      id: "login-password",
      name: "password",
      type: "password",
      autocomplete: "current-password",
      required: true,
    });
    const submit = h("button.primary", { type: "submit" }, "Sign in");
    const form = h(
      "form.login card",
      {
        "aria-labelledby": "login-title",
        onsubmit: async (event) => {
          event.preventDefault();
          submit.disabled = true;
          error.textContent = "";
          try {
            const user = await login(email.value, password.value);
            if (roles && !roles.includes(user.role)) {
              setToken(null);
              throw new Error(`this console is for ${roles.join(" and ")} accounts`);
            }
            resolve(user);
          } catch (err) {
            error.textContent = err instanceof ApiError ? err.message : String(err.message || err);
            password.select();
          } finally {
            submit.disabled = false;
          }
        },
      },
      h("h1", { id: "login-title" }, title),
      h("label", { for: "login-email" }, "E-mail"),
      email,
      h("label", { for: "login-password" }, "Password"),
      password,
      error,
      submit,
    );
    replace(root, h("main.login-page", {}, form));
    email.focus();
  });
}
