// The audit log (coordinators and auditors) and a check of its hash chain.

import { fill, h, message } from "/static/js/dom.js";
import { getJson } from "./api.js";
import { time } from "./format.js";
import { ready, showError, start } from "./page.js";

const status = document.querySelector("#audit-status");
const body = document.querySelector("#audit-table tbody");
const verified = document.querySelector("#audit-verified");

async function main() {
  await start();
  const { rows } = await getJson("/audit");
  fill(
    body,
    [...rows].reverse().map((r) =>
      h(
        "tr",
        { "data-seq": r.seq },
        h("td", { class: "num" }, r.seq),
        h("td", {}, time(r.at)),
        h("td", {}, r.actor),
        h("td", {}, r.action),
        h("td", {}, r.journey ? h("code", {}, r.journey) : "–"),
        h("td", {}, r.detail ?? ""),
      ),
    ),
  );
  message(status, `${rows.length} rows.`);
  document.querySelector("#audit-verify").addEventListener("click", async () => {
    message(verified, "Checking…");
    try {
      const result = await getJson("/audit/verify");
      message(verified, `The chain is whole: ${result.rows} rows checked.`);
    } catch (err) {
      showError(verified, err);
    }
  });
  ready();
}

main().catch((err) => showError(status, err));
