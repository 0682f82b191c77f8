// The overdue list: journeys whose next leg's end is later than that leg's p90, the most urgent
// first, as `nkescape board overdue` prints them.

import { fill, h, message } from "/static/js/dom.js";
import { getJson, journeyHref } from "./api.js";
import { late, time, words } from "./format.js";
import { ready, showError, start } from "./page.js";

const status = document.querySelector("#overdue-status");
const body = document.querySelector("#overdue-table tbody");

async function main() {
  const { placeName } = await start();
  const data = await getJson("/overdue");
  fill(
    body,
    data.overdue.map((o) =>
      h(
        "tr",
        { "data-code": o.code, class: "is-overdue" },
        h("td", {}, h("a", { href: journeyHref(o.code) }, h("code", {}, o.code))),
        h("td", {}, `${o.leg} (${o.leg_id})`),
        h("td", {}, placeName(o.to)),
        h("td", {}, time(o.due)),
        h("td", { class: "num" }, h("strong", { class: "late" }, late(o.late_hours))),
        h("td", {}, time(o.last_contact)),
        h("td", {}, words(o.status)),
        h("td", {}, o.partner ?? "–"),
      ),
    ),
  );
  const n = data.overdue.length;
  message(
    status,
    n ? `${n} ${n === 1 ? "journey is" : "journeys are"} overdue at ${time(data.now)}.` : `Nothing overdue at ${time(data.now)}.`,
    n ? "warning" : "info",
  );
  ready();
}

main().catch((err) => showError(status, err));
