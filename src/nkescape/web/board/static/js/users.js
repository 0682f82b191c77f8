// Add an account (coordinators). With a second factor, its secret is shown here once, to type
// into an authenticator app; the server keeps it only in the encrypted user record.

import { fill, h, message } from "/static/js/dom.js";
import { postJson } from "./api.js";
import { options, ready, showError, start } from "./page.js";

const form = document.querySelector("#user-form");
const status = document.querySelector("#user-status");
const secretBox = document.querySelector("#user-secret");

async function main() {
  const { meta } = await start();
  options(form.elements.role, meta.roles.map((r) => [r, r]), "partner");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    const body = { name: f.name.value.trim(), role: f.role.value, password: f.password.value, totp: f.totp.checked };
    try {
      const user = await postJson("/users", body);
      message(status, `Account ${user.name} (${user.role}) added.`);
      form.reset();
      if (user.totp_secret) {
        secretBox.hidden = false;
        fill(
          secretBox,
          h("p", {}, "Type this secret into the authenticator app now; it is not shown again:"),
          h("p", {}, h("code", { "data-testid": "totp-secret" }, user.totp_secret)),
          h("p", { class: "hint" }, user.totp_uri),
        );
      } else {
        secretBox.hidden = true;
      }
    } catch (err) {
      showError(status, err);
    }
  });
  ready();
}

main().catch((err) => showError(status, err));
