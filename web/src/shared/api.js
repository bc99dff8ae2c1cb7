// REST access to the gateway: bearer token from sessionStorage and the one JSON error shape.

const TOKEN_KEY = "dialgate.token";

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `request failed (HTTP ${status})`);
    this.status = status;
    this.code = err.code || `http_${status}`;
    this.field = err.field || null;
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export async function api(path, { method = "GET", json, body, contentType, accept } = {}) {
  const headers = {};
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (contentType) {
    headers["Content-Type"] = contentType;
  }
  const resp = await fetch(path, { method, headers, body });
  if (resp.status === 401 && path !== "/api/auth/login") {
    setToken(null);
    window.dispatchEvent(new CustomEvent("dialgate:logout"));
  }
  if (accept === "text") {
    if (!resp.ok) throw new ApiError(resp.status, null);
    return resp.text();
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export async function login(email, password) {
  const data = await api("/api/auth/login", { method: "POST", json: { email, password } });
  setToken(data.token);
  return data.user;
}
