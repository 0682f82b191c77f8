// The login page: name, password and, when the server asks for it, the authenticator's code.
// A throttled login says when to try again (the server's Retry-After).

import { message } from "/static/js/dom.js";
import { ApiError, postJson, setCsrf } from "./api.js";

const HOME = "/board/journeys";

const form = document.querySelector("#login-form");
const status = document.querySelector("#login-status");
const totpField = document.querySelector("#login-totp-field");
const totp = document.querySelector("#login-totp");
const submit = document.querySelector("#login-submit");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    name: form.elements.name.value.trim(),
    password: form.elements.password.value,
  };
  if (!totpField.hidden && totp.value.trim()) body.totp = totp.value.trim();
  if (!body.name || !body.password) {
    message(status, "Enter your user name and password.", "error");
    status.focus();
    return;
  }
  submit.disabled = true;
  message(status, "Logging in…");
  try {
    const info = await postJson("/login", body, { redirect: false });
    setCsrf(info.csrf);
    window.location.assign(HOME);
  } catch (err) {
    if (err instanceof ApiError && err.headers?.get("X-Board-Second-Factor") === "required") {
      totpField.hidden = false;
      message(status, err.message, "info");
      totp.focus();
    } else {
      const wait = err instanceof ApiError ? err.headers?.get("Retry-After") : null;
      message(status, err.message, "error");
      if (wait) status.dataset.retryAfter = wait;
      form.elements.password.select();
      status.focus();
    }
  } finally {
    submit.disabled = false;
  }
});

document.body.dataset.ready = "true";
