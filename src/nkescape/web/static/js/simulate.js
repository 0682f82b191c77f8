// The simulation panel: run the chosen itinerary (POST /api/simulate, then GET /api/jobs/{id}
// until it is done), with a progress bar and a cancel button, and draw what comes back.

import { jobControls } from "./jobs.js";
import { OKABE_ITO, emptyChart, funnelChart, histogramChart, stepChart } from "./charts.js";
import { dl, fill, h, message } from "./dom.js";
import { count, days, pct, usd } from "./format.js";
import { route } from "./planner.js";

// The colour of each way a journey ends, Okabe-Ito, in the order the funnel stacks them.
const OUTCOME_COLOURS = {
  "reached-destination": OKABE_ITO.green,
  "reached-safety": OKABE_ITO.blue,
  repatriated: OKABE_ITO.vermillion,
  "in-hiding": OKABE_ITO.orange,
  dead: OKABE_ITO.black,
};

/** Wire the panel; `ctx.planRequest()` and `ctx.rank()` say what to simulate. */
export function initSimulation(ctx) {
  const form = document.getElementById("sim-form");
  const runButton = document.getElementById("sim-run");
  const cancelButton = document.getElementById("sim-cancel");
  const progress = document.getElementById("sim-progress");
  const status = document.getElementById("sim-status");
  const result = document.getElementById("sim-result");
  const runs = document.getElementById("sim-runs");
  runs.max = String(ctx.meta.max_runs);
  document.getElementById("sim-runs-hint").textContent = `1 to ${count(ctx.meta.max_runs)} on this server.`;

  jobControls({
    form,
    runButton,
    cancelButton,
    progress,
    status,
    path: "api/simulate",
    body() {
      const request = ctx.planRequest();
      if (!request.from && !request.profile) {
        message(status, "Plan first, or choose where the journey starts in the planner (From).", "error");
        return null;
      }
      return {
        ...request,
        itinerary: ctx.rank() ?? 1,
        runs: Number(runs.value),
        seed: Number(document.getElementById("sim-seed").value),
        adaptive: document.getElementById("sim-adaptive").checked,
      };
    },
    onDone: (done) => renderResult(result, done, ctx),
  });

  return {
    /** Say which itinerary a run will simulate, when the planner's choice changes. */
    describe(plan, rank) {
      const what = document.getElementById("sim-what");
      if (!plan || !rank) {
        what.textContent = "Plan a journey first; the run simulates the itinerary chosen in the planner (or, with Adaptive, re-plans at every place).";
        return;
      }
      const it = plan.itineraries[rank - 1];
      what.textContent = `Itinerary ${rank} of the plan from ${ctx.atlas.placeName(plan.origin)}, setting out on ${plan.date}: ${route(it, ctx.atlas)}.`;
    },
  };
}


function interval(share) {
  const [lo, hi] = share.ci95 ?? [];
  return `${pct(share.value)} (95% interval ${pct(lo)} to ${pct(hi)})`;
}

function quantiles(q, unit) {
  if (!q || q.p50 === null || q.p50 === undefined) return "none reached it";
  return `median ${unit(q.p50)}; 10–90%: ${unit(q.p10)} to ${unit(q.p90)}; mean ${unit(q.mean)}`;
}

function renderResult(box, result, ctx) {
  const s = result.summary;
  const outcomes = Object.entries(s.outcomes ?? {});
  fill(box.querySelector(".sim-figures"),
    dl([
      ["P(safety)", interval(s.p_reach_safety), { "data-testid": "p-safety" }],
      ["P(destination)", interval(s.p_reach_destination), { "data-testid": "p-destination" }],
      ["Days to safety", quantiles(s.days_to_safety, days)],
      ["Cost (US$)", quantiles(s.cost_usd, usd)],
      ["Journeys", `${count(s.runs)} (seed ${Array.isArray(s.seed) ? s.seed.join(",") : s.seed}, ${s.kernel} kernel on the ${s.device})`],
    ]),
    h("table", { class: "outcomes" },
      h("caption", {}, "Where the journeys ended"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Outcome"), h("th", { scope: "col", class: "num" }, "Share"))),
      h("tbody", {}, outcomes.map(([k, v]) => h("tr", {}, h("td", {}, h("span", { class: "swatch", style: `background:${OUTCOME_COLOURS[k] ?? OKABE_ITO.grey}` }), k.replaceAll("-", " ")), h("td", { class: "num" }, pct(v)))))));
  box.hidden = false;

  const funnelSvg = document.getElementById("chart-funnel");
  if (result.funnel?.length) {
    funnelChart(funnelSvg, {
      rows: result.funnel,
      runs: s.runs,
      outcomes: Object.keys(OUTCOME_COLOURS).map((key) => ({ key, label: key.replaceAll("-", " "), colour: OUTCOME_COLOURS[key] })),
      label: `Where journeys end, leg by leg, of ${count(s.runs)} journeys`,
    });
  } else emptyChart(funnelSvg, "No leg in this run (adaptive journeys that never set out).");

  const d = result.days;
  if (d?.edges?.length) {
    // plot_days's curves: each histogram's running sum over all journeys run.
    const runningShare = (counts) => {
      let sum = 0;
      return counts.map((n) => (sum += n) / Math.max(d.runs ?? s.runs, 1));
    };
    stepChart(document.getElementById("chart-days"), {
      label: "Share of all journeys that reached safety, and the destination, by day",
      curves: [
        { label: "reached safety", colour: OKABE_ITO.blue, edges: d.edges, values: runningShare(d.counts) },
        { label: "reached the destination", colour: OKABE_ITO.orange, dash: "5 3", edges: d.edges, values: runningShare(d.destination_counts ?? []) },
      ],
      xLabel: "days since setting out (log scale)",
      yLabel: "share of all journeys",
    });
  } else emptyChart(document.getElementById("chart-days"), "No journey reached safety.");

  const c = result.cost;
  if (c?.edges?.length) {
    histogramChart(document.getElementById("chart-cost"), {
      label: "What the groups spent, US$, log scale",
      edges: c.edges,
      counts: c.counts,
      xLabel: "US$ spent by the group (log scale)",
      yLabel: "journeys",
    });
  } else emptyChart(document.getElementById("chart-cost"), "No cost recorded.");
  ctx.onSimulated?.(s);
}
