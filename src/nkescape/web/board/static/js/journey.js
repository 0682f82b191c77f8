// One journey: its summary, each leg's expected window (p50, p90) and state, the overdue alert
// when it is late, the check-in form (coordinators and its partner), the coordinator's controls
// (status, partner, re-plan), and the history of check-ins and plans. The code is in the page's
// fragment (#CODE), which the browser never sends to a server or puts in a Referer.

import { dl, fill, h, message } from "/static/js/dom.js";
import { getJson, postJson } from "./api.js";
import { afterDeparture, days, late, time, usd, words } from "./format.js";
import { options, ready, showError, start } from "./page.js";

const $ = (sel) => document.querySelector(sel);
const status = $("#journey-status");
const alertBox = $("#journey-alert");
const summary = $("#journey-summary");
const legsBody = $("#legs-table tbody");
const checkinForm = $("#checkin-form");
const checkinMessage = $("#checkin-message");
const manageMessage = $("#manage-message");

let ctx = null;
let code = null;

const codeFromHash = () => decodeURIComponent(window.location.hash.replace(/^#/, "")).trim();
const path = (suffix = "") => `/journeys/${encodeURIComponent(code)}${suffix}`;

function legState(j, leg) {
  if (leg.index <= j.current_leg) return h("span", { class: "badge in-use" }, "reached");
  if (j.overdue && j.overdue.leg === leg.index) {
    return h("strong", { class: "late" }, `overdue by ${late(j.overdue.late_hours)}`);
  }
  if (leg.index === j.next_leg) return h("span", { class: "badge next" }, "next");
  return h("span", { class: "muted" }, "ahead");
}

function render(j) {
  const plan = j.plans.at(-1);
  const place = ctx.placeName;
  fill($("#journey-code"), j.code);
  document.title = `Journey ${j.code} · nkescape board`;
  if (j.overdue) {
    const o = j.overdue;
    alertBox.hidden = false;
    fill(
      alertBox,
      h("strong", {}, `Overdue by ${late(o.late_hours)}: `),
      `leg ${o.leg} (to ${place(o.to)}) was due by ${time(o.due)} (its p90); last contact ${time(o.last_contact)}.`,
    );
  } else {
    alertBox.hidden = true;
    fill(alertBox);
  }
  summary.hidden = false;
  fill(
    summary,
    dl([
      ["Status", words(j.status), { "data-testid": "status" }],
      ["Group", j.group_label],
      ["Funding", j.funding],
      ["Departure", `${j.departure} from ${place(plan.from)} to ${place(plan.to)}`],
      ["Partner", j.partner ?? "none"],
      ["Reached", j.current_leg ? `the end of leg ${j.current_leg} of ${plan.legs.length}` : "no leg yet"],
      ["Next due by", j.next_due ? `${time(j.next_due)} (leg ${j.next_leg}, p90)` : "–"],
      ["Last contact", time(j.last_contact)],
      ["Spent", usd(j.spent_total_usd)],
      ["Closed on", j.closed_on],
    ]),
  );
  fill(
    legsBody,
    plan.legs.map((leg) =>
      h(
        "tr",
        { "data-leg": leg.index, class: j.overdue?.leg === leg.index ? "is-overdue" : null },
        h("td", { class: "num" }, leg.index),
        h("td", {}, leg.leg),
        h("td", {}, place(leg.to)),
        h("td", { class: "num" }, days(leg.p50_days)),
        h("td", {}, afterDeparture(plan.departure, leg.p50_days)),
        h("td", { class: "num" }, days(leg.p90_days)),
        h("td", {}, afterDeparture(plan.departure, leg.p90_days)),
        h("td", { "data-testid": "leg-state" }, legState(j, leg)),
        h("td", { class: "num" }, usd(j.spent_usd[leg.index - 1])),
      ),
    ),
  );
  options(
    checkinForm.elements.leg,
    plan.legs.map((leg) => [leg.index, `${leg.index}: ${place(leg.from)} → ${place(leg.to)}`]),
    j.next_leg ?? plan.legs.length,
  );
  fill(
    $("#checkins-list"),
    [...j.checkins].reverse().map((c) =>
      h(
        "li",
        {},
        h("strong", {}, words(c.status)),
        ` on leg ${c.leg}${j.plans.length > 1 ? ` of plan ${c.plan}` : ""}, ${time(c.at)} by ${c.by}`,
        c.spent_usd ? `, ${usd(c.spent_usd)}` : "",
        c.note ? h("span", { class: "note" }, ` — ${c.note}`) : "",
      ),
    ),
  );
  if (!j.checkins.length) fill($("#checkins-list"), h("li", { class: "muted" }, "No check-in yet."));
  fill(
    $("#plans-list"),
    j.plans.map((p, i) =>
      h(
        "li",
        {},
        `${i + 1 === j.plans.length ? "Current: " : ""}from ${place(p.from)} on ${p.departure}, itinerary ${p.itinerary}, ` +
          `${p.legs.length} legs (made ${time(p.made_at)})`,
      ),
    ),
  );
  $("#assign-partner").value = j.partner ?? "";
  options($("#status-value"), ctx.meta.journey_statuses.filter((s) => s !== "at-leg").map((s) => [s, words(s)]), j.status);
  const here = j.current_leg ? plan.legs[j.current_leg - 1].to : plan.from;
  $("#replan-from").value = here;
}

async function load() {
  code = codeFromHash();
  if (!code) {
    message(status, "No journey code in the address: open one from the list.", "error");
    return;
  }
  message(status, "Loading…");
  const j = await getJson(path());
  render(j);
  message(status, "");
}

async function send(form, messageEl, suffix, body, done) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  message(messageEl, "Saving…");
  try {
    const j = await postJson(path(suffix), body);
    render(j);
    message(messageEl, done);
    return true;
  } catch (err) {
    showError(messageEl, err);
    return false;
  } finally {
    button.disabled = false;
  }
}

async function main() {
  ctx = await start();
  const role = ctx.session.role;
  options(checkinForm.elements.status, ctx.meta.checkin_statuses.map((s) => [s, s]), "ok");
  checkinForm.elements.note.maxLength = ctx.meta.note_max;
  options($("#replan-from"), ctx.meta.places.map((p) => [p.id, `${p.name} (${p.country})`]), "");
  $("#checkin-section").hidden = role === "auditor";
  $("#manage-section").hidden = role !== "coordinator";

  checkinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = checkinForm.elements;
    const body = { leg: Number(f.leg.value), status: f.status.value };
    if (f.note.value.trim()) body.note = f.note.value.trim();
    if (f.spent_usd.value !== "") body.spent_usd = Number(f.spent_usd.value);
    // The field has no zone: what is typed is UTC, as every time on the board.
    if (f.at.value) body.at = `${f.at.value.length === 16 ? `${f.at.value}:00` : f.at.value}+00:00`;
    send(checkinForm, checkinMessage, "/checkins", body, "Checked in.").then((ok) => {
      if (ok) checkinForm.reset();
    });
  });
  $("#status-form").addEventListener("submit", (event) => {
    event.preventDefault();
    send(event.target, manageMessage, "/status", { status: $("#status-value").value }, "Status set.");
  });
  $("#assign-form").addEventListener("submit", (event) => {
    event.preventDefault();
    send(event.target, manageMessage, "/assign", { partner: $("#assign-partner").value.trim() || null }, "Assigned.");
  });
  $("#replan-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {
      from: $("#replan-from").value,
      date: $("#replan-date").value,
      itinerary: Number($("#replan-itinerary").value || 1),
    };
    if (!body.date) {
      message(manageMessage, "date: give the date the group sets out again.", "error");
      $("#replan-date").focus();
      return;
    }
    send(event.target, manageMessage, "/replan", body, "Re-planned; the earlier plan is kept in the history.");
  });
  window.addEventListener("hashchange", () => load().catch((err) => showError(status, err)));
  await load();
  ready();
}

main().catch((err) => showError(status, err));
