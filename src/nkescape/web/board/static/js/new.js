// A new journey from a plan: the planner's itinerary from a start place on a date, for a group
// given as counts. On success the journey's page opens.

import { message } from "/static/js/dom.js";
import { journeyHref, postJson } from "./api.js";
import { options, ready, showError, start } from "./page.js";

const form = document.querySelector("#new-form");
const status = document.querySelector("#new-status");
const submit = document.querySelector("#new-submit");

async function main() {
  const { meta } = await start();
  options(
    form.elements.from,
    meta.places.map((p) => [p.id, `${p.name} (${p.country})`]),
    "hyesan",
  );
  options(form.elements.funding, meta.funding.map((f) => [f, f]), "self");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    if (!f.date.value) {
      message(status, "date: give the departure date.", "error");
      f.date.focus();
      return;
    }
    const body = {
      from: f.from.value,
      date: f.date.value,
      group: f.group.value.trim() || "1w",
      itinerary: Number(f.itinerary.value || 1),
      funding: f.funding.value,
      partner: f.partner.value.trim() || null,
    };
    submit.disabled = true;
    message(status, "Planning and simulating the legs' windows…");
    try {
      const journey = await postJson("/journeys", body);
      message(status, `Journey ${journey.code} created.`);
      window.location.assign(journeyHref(journey.code));
    } catch (err) {
      showError(status, err);
    } finally {
      submit.disabled = false;
    }
  });
  ready();
}

main().catch((err) => showError(status, err));
