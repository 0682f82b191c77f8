// Every request the board's pages make goes through this module, to this server only (paths
// are absolute on the same origin). The session is a cookie the page cannot read (HttpOnly);
// the CSRF token comes from /board/api/session and goes back in a header on every change.

export const API = "/board/api";
export const LOGIN = "/board/login";

/** An API answer that is not 2xx, carrying the server's one-line `detail`. */
export class ApiError extends Error {
  constructor(status, detail, headers) {
    super(detail);
    this.status = status;
    this.headers = headers;
  }
}

let csrf = null;

/** Remember the CSRF token of the session (from the login's answer or /session). */
export function setCsrf(token) {
  csrf = token;
}

async function request(method, path, body, { redirect = true } = {}) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && csrf) init.headers["X-CSRF-Token"] = csrf;
  let response;
  try {
    response = await fetch(`${API}${path}`, init);
  } catch (err) {
    throw new ApiError(0, `the server did not answer (${err.message}); is \`nkescape serve\` running?`);
  }
  if (response.status === 401 && redirect) {
    // The session ended (idle, lifetime or logout elsewhere): back to the login page.
    window.location.assign(LOGIN);
    throw new ApiError(401, "the session ended: log in again");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, detail, response.headers);
  }
  return data;
}

export const getJson = (path, options) => request("GET", path, undefined, options);
export const postJson = (path, body, options) => request("POST", path, body, options);

/** The query string of an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** The session (user, role, CSRF token), or a redirect to the login page without one. */
export async function session() {
  const info = await getJson("/session");
  setCsrf(info.csrf);
  return info;
}

/** Log out and go to the login page. */
export async function logout() {
  try {
    await postJson("/logout", undefined, { redirect: false });
  } finally {
    csrf = null;
    window.location.assign(LOGIN);
  }
}

/** A journey's page address: the code goes in the fragment, which is never sent to a server. */
export const journeyHref = (code) => `/board/journey#${encodeURIComponent(code)}`;
