// The journeys list: every journey this user may see, with the overdue ones flagged and an
// alert above the table naming how many are late.

import { h, fill, message } from "/static/js/dom.js";
import { getJson, journeyHref } from "./api.js";
import { late, time, words } from "./format.js";
import { ready, showError, start } from "./page.js";

const status = document.querySelector("#journeys-status");
const body = document.querySelector("#journeys-table tbody");
const alertBox = document.querySelector("#overdue-alert");

function row(j, placeName) {
  const next = j.next_leg ? j.plans.at(-1).legs[j.next_leg - 1] : null;
  const overdue = j.overdue;
  return h(
    "tr",
    { "data-code": j.code, class: overdue ? "is-overdue" : null },
    h("td", {}, h("a", { href: journeyHref(j.code) }, h("code", {}, j.code))),
    h("td", {}, h("span", { class: `badge status-${j.status}` }, words(j.status))),
    h("td", {}, j.group_label),
    h("td", {}, j.departure),
    h("td", {}, j.partner ?? "–"),
    h("td", {}, next ? `${next.index}: to ${placeName(next.to)}` : "–"),
    h("td", {}, time(j.next_due)),
    h("td", { class: "num" }, overdue ? h("strong", { class: "late" }, late(overdue.late_hours)) : "–"),
  );
}

async function main() {
  const { placeName } = await start();
  const { journeys } = await getJson("/journeys");
  fill(body, journeys.map((j) => row(j, placeName)));
  const overdue = journeys.filter((j) => j.overdue);
  if (overdue.length) {
    alertBox.hidden = false;
    fill(
      alertBox,
      h("strong", {}, `${overdue.length} ${overdue.length === 1 ? "journey is" : "journeys are"} overdue. `),
      h("a", { href: "/board/overdue" }, "See them, the most urgent first"),
    );
  } else {
    alertBox.hidden = true;
  }
  const n = journeys.length;
  message(status, n ? `${n} ${n === 1 ? "journey" : "journeys"}.` : "No journeys yet.");
  ready();
}

main().catch((err) => showError(status, err));
