// The planner panel: a form with every `nkescape plan` option, POST /api/plan, the Pareto
// itineraries as a table and as lines on the map, and the legs of the one chosen.

import { ApiError, postJson } from "./api.js";
import { sourceList } from "./atlas.js";
import { fill, h, message } from "./dom.js";
import { days, dollars, pct, pctRange, usd } from "./format.js";

/**
 * Wire the planner. `ctx` has the atlas index, the map, and `onPlan(plan, request)` and
 * `onChoose(rank)`, which the page uses to move the map's date and the simulation panel.
 */
export function initPlanner(ctx) {
  const form = document.getElementById("plan-form");
  const table = document.getElementById("plan-table");
  const status = document.getElementById("plan-status");
  const warnings = document.getElementById("plan-warnings");
  const legsBox = document.getElementById("itinerary-legs");
  const submit = document.getElementById("plan-submit");
  const state = { plan: null, rank: null };

  fillPickers(ctx);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const request = planRequest();
    // With a profile and no start, the API starts from the profile's first place.
    if (!request.from && !request.profile) {
      message(status, "Choose where the journey starts (From), or a profile.", "error");
      document.getElementById("plan-from").focus();
      return;
    }
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    message(status, "Planning…");
    try {
      const plan = await postJson("api/plan", request);
      state.plan = plan;
      const count = plan.itineraries.length;
      message(status, `${count} itinerar${count === 1 ? "y" : "ies"} from ${ctx.atlas.placeName(plan.origin)} to ${ctx.atlas.placeName(plan.destination)}, setting out on ${plan.date} (${plan.group}, ${plan.funding}).`);
      renderWarnings(warnings, plan);
      renderContext(document.getElementById("plan-context"), plan);
      renderTable(table, plan, ctx, choose);
      ctx.onPlan(plan, request);
      choose(count ? 1 : null);
    } catch (err) {
      state.plan = null;
      message(status, err instanceof ApiError ? err.message : String(err), "error");
      fill(warnings);
      warnings.hidden = true;
      fill(document.getElementById("plan-context"));
      fill(table.querySelector("tbody"));
      table.hidden = true;
      document.getElementById("plan-table-hint").hidden = true;
      fill(legsBox);
      ctx.map.showItineraries(null, null);
      ctx.onPlan(null, null);
      ctx.onChoose(null);
    } finally {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });

  // A row is chosen by a click or by Enter on it, so it has the focus already.
  function choose(rank) {
    state.rank = rank;
    for (const row of table.querySelectorAll("tr.itinerary")) {
      const picked = Number(row.dataset.rank) === rank;
      row.classList.toggle("picked", picked);
      row.setAttribute("aria-current", String(picked));
    }
    ctx.map.showItineraries(state.plan?.geojson ?? null, rank);
    const it = rank ? state.plan?.itineraries[rank - 1] : null;
    if (it) renderLegs(legsBox, it, rank, ctx);
    else fill(legsBox);
    ctx.onChoose(rank);
  }

  return { planRequest, current: () => state };
}

/** The plan request the form describes, in the API's names (PlanRequest). */
export function planRequest() {
  const value = (id) => document.getElementById(id).value.trim();
  const number = (id) => (value(id) === "" ? null : Number(value(id)));
  const date = value("plan-date");
  const avoid = value("plan-avoid").split(/[\s,]+/).filter(Boolean);
  return {
    from: value("plan-from") || null,
    to: value("plan-to") || "seoul",
    // A date, when given, is the departure; the month is then not sent (the API takes one).
    month: date ? null : number("plan-month"),
    date: date || null,
    group: value("plan-group") || "1w",
    budget: number("plan-budget"),
    profile: value("plan-profile") || null,
    funding: value("plan-funding") || "self",
    avoid,
    max_days: number("plan-max-days"),
    calibrated: document.getElementById("plan-calibrated").checked,
  };
}

function fillPickers(ctx) {
  const places = document.getElementById("places-list");
  const byName = [...ctx.atlas.places].sort((a, b) => a.name.localeCompare(b.name));
  fill(places, byName.map((p) => h("option", { value: p.id }, `${p.name} (${p.country}, ${p.kind.replaceAll("-", " ")})`)));
  const profiles = document.getElementById("profiles-list");
  fill(profiles, ctx.atlas.profiles.map((p) => h("option", { value: p.id }, p.name)));
  const funding = document.getElementById("plan-funding");
  fill(funding, (ctx.meta.funding ?? ["self"]).map((f) => h("option", { value: f }, f.replaceAll("-", " "))));
  const month = document.getElementById("plan-month");
  fill(month, h("option", { value: "" }, "this month"), ctx.meta.months.map((m, i) => h("option", { value: i + 1 }, m)));
  const countries = [...new Set(ctx.atlas.places.map((p) => p.country))].sort();
  document.getElementById("plan-avoid").title = `Place ids or country codes: ${countries.join(", ")}`;
  if (!ctx.meta.flows) {
    document.getElementById("plan-calibrated-hint").textContent =
      "Needs a saved fit (`nkescape flows fit`); this server has none.";
  }
}

// What holds on the departure date: the events in force and what they do to setting out.
function renderContext(box, plan) {
  const events = plan.events_in_force ?? [];
  const notes = plan.departure_notes ?? [];
  fill(box,
    events.length ? h("p", {}, `In force on ${plan.date}: ${events.join("; ")}.`) : null,
    notes.length ? h("ul", {}, notes.map((n) => h("li", {}, n))) : null);
}

function renderWarnings(box, plan) {
  const notes = [...(plan.warnings ?? [])];
  fill(box, notes.length ? h("ul", {}, notes.map((w) => h("li", {}, w))) : null);
  box.hidden = !notes.length;
}

// The places in order, with the waits along the way (two itineraries often differ only there).
export function route(it, atlas) {
  const parts = [];
  for (const step of it.legs) {
    if (!parts.length) parts.push(atlas.placeName(step.from));
    if (step.kind === "wait") parts[parts.length - 1] += ` (waits ${days(step.days)} d)`;
    else parts.push(atlas.placeName(step.to));
  }
  return parts.length ? parts.join(" → ") : it.places.map((p) => atlas.placeName(p)).join(" → ");
}

function renderTable(table, plan, ctx, choose) {
  const body = table.querySelector("tbody");
  table.hidden = !plan.itineraries.length;
  document.getElementById("plan-table-hint").hidden = table.hidden;
  fill(body, plan.itineraries.map((it, i) => {
    const rank = i + 1;
    const row = h("tr", { class: "itinerary", "data-rank": rank, tabindex: 0, "aria-current": "false" },
    h("td", { class: "num" }, rank),
    h("td", { class: "route" }, route(it, ctx.atlas)),
    h("td", { class: "num", title: `range ${pctRange(it.p_reach_safety_range)}` }, pct(it.p_reach_safety),
      h("span", { class: "range" }, pctRange(it.p_reach_safety_range))),
    h("td", { class: "num" }, pct(it.p_reach_destination)),
    h("td", { class: "num", title: `range ${days(it.days_range?.[0])}–${days(it.days_range?.[1])}` }, days(it.days)),
    h("td", { class: "num" }, dollars(it.cost_usd)),
    h("td", { class: "num" }, dollars(it.expected_cost_usd)));
    row.addEventListener("click", () => choose(rank));
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        choose(rank);
      } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const next = event.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
        next?.focus();
      }
    });
    return row;
  }));
}

function renderLegs(box, it, rank, ctx) {
  const atlas = ctx.atlas;
  const header = h("p", { class: "itinerary-summary" },
    h("strong", {}, `Itinerary ${rank}`), `: ${route(it, atlas)}. `,
    `Reaches safety (${atlas.placeName(it.safety_at)}) ${pct(it.p_reach_safety)} (range ${pctRange(it.p_reach_safety_range)}), `,
    `the destination ${pct(it.p_reach_destination)}; about ${days(it.days)} days (${days(it.days_range?.[0])}–${days(it.days_range?.[1])}); `,
    `${usd(it.cost_usd)} if all goes to plan, ${usd(it.expected_cost_usd)} spent on average`,
    it.cost_upfront_usd !== it.cost_usd ? ` (${usd(it.cost_upfront_usd)} paid on the way)` : "", ".");
  const steps = it.legs.map((step) => {
    const isWait = step.kind === "wait";
    return h("li", { class: isWait ? "step wait" : "step", "data-leg": step.leg ?? null },
      h("div", { class: "step-head" },
        step.leg
          ? h("button", { type: "button", class: "link", onclick: () => ctx.map.select({ kind: "leg", id: step.leg }) }, step.name)
          : h("strong", {}, step.name),
        h("span", { class: "step-mode" }, ` · ${step.mode.replaceAll("-", " ")}${step.operator ? `, ${step.operator}` : ""}`)),
      h("dl", { class: "step-figures" },
        h("dt", {}, "Sets out"), h("dd", {}, `${step.date} (day ${days(step.start_day)})`),
        h("dt", {}, "Days"), h("dd", {}, days(step.days)),
        h("dt", {}, "Cost"), h("dd", {}, usd(step.cost_usd), step.cost_later_usd ? ` (${usd(step.cost_later_usd)} paid later)` : ""),
        isWait ? null : [h("dt", {}, "p(caught)"), h("dd", {}, pct(step.p_intercept), h("span", { class: "range" }, ` (${pctRange(step.p_intercept_range)})`))],
        isWait || !step.if_caught || step.if_caught === "-" ? null : [h("dt", {}, "If caught"), h("dd", {}, step.if_caught)]),
      step.notes?.length ? h("ul", { class: "step-notes" }, step.notes.map((n) => h("li", {}, n))) : null,
      step.sources?.length ? h("details", {}, h("summary", {}, `Sources (${step.sources.length})`), sourceList(step.sources, atlas)) : null);
  });
  fill(box, header, h("ol", { class: "steps" }, steps));
}
