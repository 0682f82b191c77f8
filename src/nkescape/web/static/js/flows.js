// The flows panel: the saved fit of the flow model (GET /api/flows) against the ministry's
// arrivals, women's share and the published estimates of North Koreans in China; and a
// scenario (POST /api/flows/scenario, a job) drawn against the baseline.

import { ApiError, getJson } from "./api.js";
import { OKABE_ITO, bandChart, emptyChart } from "./charts.js";
import { dl, fill, h, message } from "./dom.js";
import { count, num, pct } from "./format.js";
import { jobControls } from "./jobs.js";

// What each series of a scenario counts, for the chart's axis (the report's own titles).
const SCENARIO_SERIES = {
  arrivals: { title: "Arrivals in South Korea", unit: "people per year" },
  repatriated: { title: "Sent back", unit: "people per year" },
  hiding: { title: "In China, settled or hiding (December)", unit: "people" },
};

export function initFlows(ctx) {
  const msg = document.getElementById("flows-message");
  const form = document.getElementById("scenario-form");
  const status = document.getElementById("scenario-status");
  const progress = document.getElementById("scenario-progress");
  const runButton = document.getElementById("scenario-run");
  const cancelButton = document.getElementById("scenario-cancel");
  const seriesPicker = document.getElementById("scenario-series");
  fill(seriesPicker, Object.entries(SCENARIO_SERIES).map(([k, s]) => h("option", { value: k }, s.title)));
  const keys = Object.entries(ctx.meta.scenario_keys ?? {});
  fill(document.getElementById("scenario-key"), keys.map(([k, what]) => h("option", { value: k }, `${k}: ${what}`)));
  const months = ctx.meta.scenario_months;
  if (months) {
    document.getElementById("scenario-from-hint").textContent = `YYYY-MM, ${months.from} to ${months.to}; empty: the command's default.`;
  }
  let loaded = false;
  let scenario = null;

  async function load() {
    if (loaded) return;
    loaded = true;
    message(msg, "Loading the saved fit…");
    try {
      const fit = await getJson("api/flows");
      message(msg, "");
      msg.hidden = true;
      drawFit(fit, ctx);
    } catch (err) {
      // No fit yet (404): the message says how to make one; there is nothing to draw.
      msg.hidden = false;
      message(msg, err instanceof ApiError ? err.message : String(err), "warning");
      document.getElementById("flows-fit-charts").hidden = true;
    }
  }

  jobControls({
    form,
    runButton,
    cancelButton,
    progress,
    status,
    path: "api/flows/scenario",
    body: scenarioRequest,
    onDone(done) {
      scenario = done;
      document.getElementById("scenario-result").hidden = false;
      drawScenario(scenario, seriesPicker.value);
    },
  });

  seriesPicker.addEventListener("change", () => scenario && drawScenario(scenario, seriesPicker.value));

  function scenarioRequest() {
    const key = document.getElementById("scenario-key").value;
    const raw = document.getElementById("scenario-value").value.trim();
    if (raw === "" || !Number.isFinite(Number(raw))) {
      message(status, "Give the factor for the key (a number: 0 stops it, 1 keeps it as it is, 2 doubles it).", "error");
      document.getElementById("scenario-value").focus();
      return null;
    }
    const body = { set: { [key]: Number(raw) } };
    // Empty fields are left out, so the server's defaults (the command's) apply.
    const from = document.getElementById("scenario-from").value.trim();
    const years = document.getElementById("scenario-years").value.trim();
    const seed = document.getElementById("scenario-seed").value.trim();
    if (from) body.from = from;
    if (years) body.years = Number(years);
    if (seed) body.seed = Number(seed);
    return body;
  }

  return { load };
}

function drawFit(fit, ctx) {
  const years = fit.years ?? [];
  const fitted = years.filter((y) => y.fitted && y.observed !== null);
  const notFitted = years.filter((y) => !y.fitted && y.observed !== null);
  bandChart(document.getElementById("chart-arrivals"), {
    label: "Arrivals in South Korea per year: observed against the model's median and 90% interval",
    series: [{ label: "model, median", bandLabel: "model, 90% interval", colour: OKABE_ITO.blue,
      points: years.map((y) => ({ x: y.year, y: y.median, low: y.low, high: y.high })) }],
    points: [
      { label: "observed (fitted)", colour: OKABE_ITO.black, data: fitted.map((y) => ({ x: y.year, y: y.observed })) },
      { label: "observed (not fitted)", colour: OKABE_ITO.vermillion, data: notFitted.map((y) => ({ x: y.year, y: y.observed })) },
    ],
    xLabel: "year",
    yLabel: "people per year",
  });

  const womenRanges = (fit.stock_in_china ?? []).filter((r) => r.measure === "women_share");
  bandChart(document.getElementById("chart-women"), {
    label: "Women's share of arrivals in South Korea: observed against the model",
    series: [{ label: "model, median", colour: OKABE_ITO.blue,
      points: years.map((y) => ({ x: y.year, y: y.women_model })) }],
    points: [{ label: "observed", colour: OKABE_ITO.black,
      data: years.filter((y) => y.women_observed !== null).map((y) => ({ x: y.year, y: y.women_observed, title: `${y.year}: ${pct(y.women_observed)}` })) }],
    ranges: womenRanges.length ? [{ label: "in China, published", colour: OKABE_ITO.vermillion,
      data: womenRanges.map((r) => ({ x: r.year, low: r.published_low, high: r.published_high, title: `${r.year}: ${pct(r.published_low)}–${pct(r.published_high)} (${r.source.join(", ")})` })) }] : [],
    xLabel: "year",
    yLabel: "share of arrivals",
    yFormat: ".0%",
  });

  const stock = fit.stock_in_china_by_year ?? [];
  const published = (fit.stock_in_china ?? []).filter((r) => r.measure === "people");
  bandChart(document.getElementById("chart-stock"), {
    label: "North Koreans in China at the end of the year: the model against published estimates",
    series: [
      { label: "model, median", bandLabel: "model, 90% interval", colour: OKABE_ITO.green,
        points: stock.map((r) => ({ x: r.year, y: r.median, low: r.low, high: r.high })) },
      { label: "of them settled, median", colour: OKABE_ITO.green, dash: "5 3",
        points: stock.filter((r) => r.settled_median !== null).map((r) => ({ x: r.year, y: r.settled_median })) },
    ],
    ranges: [{ label: "published estimates", colour: OKABE_ITO.vermillion,
      data: published.map((r) => ({ x: r.year, low: r.published_low, high: r.published_high,
        title: `${r.year}: ${count(r.published_low)}–${count(r.published_high)} (${r.source.join(", ")})` })) }],
    xLabel: "year",
    yLabel: "people (log scale)",
    yLog: true,
  });

  const m = fit.meta ?? {};
  fill(document.getElementById("flows-fit"), dl([
    ["Error (MAPE)", fit.mape_percent !== null ? `${num(fit.mape_percent)}% over ${fit.score_years?.join("–")}` : null],
    ["Years inside the 90% interval", fit.share_inside_90 !== null ? pct(fit.share_inside_90) : null],
    ["Chains", m.chains ? `${m.chains} × ${m.walkers} walkers × ${m.steps} steps (${m.burn_in} burn-in), seed ${m.seed}` : null],
    ["Largest R-hat", m.r_hat_max === undefined ? null : m.r_hat_max === null ? "not computed (too few draws)" : String(m.r_hat_max)],
    ["Convergence", fit.convergence_warning ?? (typeof m.r_hat_max === "number" ? "the chains agree" : null)],
    ["Fitted years", fit.fit_years?.length ? `${fit.fit_years[0]}–${fit.fit_years[fit.fit_years.length - 1]}` : null],
  ]));
  ctx.onFit?.(fit);
}

function drawScenario(result, what) {
  const series = SCENARIO_SERIES[what] ?? { title: what, unit: "people" };
  const arms = result[what];
  const svg = document.getElementById("chart-scenario");
  if (!arms) {
    emptyChart(svg, `The scenario has no series ${what}.`);
    return;
  }
  const points = (arm) => result.years.map((year, i) => ({ x: year, y: arm.median[i], low: arm.low[i], high: arm.high[i] }));
  const set = Object.entries(result.scenario).map(([k, v]) => `${k}=${v}`).join(", ");
  const level = Math.round(result.interval * 100);
  bandChart(svg, {
    label: `${series.title}: scenario ${set} from ${result.from} against the baseline, ${level}% intervals`,
    series: [
      { label: "baseline", bandLabel: `baseline, ${level}%`, colour: OKABE_ITO.blue, points: points(arms.baseline) },
      { label: `scenario ${set}`, bandLabel: `scenario, ${level}%`, colour: OKABE_ITO.orange, dash: "6 3", points: points(arms.scenario) },
    ],
    xLabel: `year (from ${result.from})`,
    yLabel: series.unit,
  });
}
