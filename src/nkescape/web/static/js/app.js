// The dashboard's entry point: load what the page needs from the server (its own address only),
// draw the map, and wire the date controls, the details panel and the three tools.

import { ApiError, getJson } from "./api.js";
import { indexAtlas } from "./atlas.js";
import { early, firstDate, networkPath } from "./boot.js";
import { renderDetails, renderEvents } from "./details.js";
import { fill, h, message } from "./dom.js";
import { initFlows } from "./flows.js";
import { MODE_GROUPS, NOT_IN_USE, RISK_TICKS, VIEWS, createMap, riskColour } from "./map.js";
import { initPlanner, planRequest } from "./planner.js";
import { initSimulation } from "./simulate.js";
import { pct } from "./format.js";

// Moving the month slider asks for the network once it rests this long, not on every step;
// typing a year waits longer, so that "20" on the way to "2017" is not asked for.
const DATE_SETTLE_MS = 120;
const YEAR_SETTLE_MS = 500;

async function main() {
  const status = document.getElementById("map-status");
  const month = document.getElementById("month");
  const year = document.getElementById("year");
  // The first date and its network were asked for by boot.js, with the rest of the data.
  month.value = String(firstDate.month);
  year.value = String(firstDate.year);
  let meta;
  let atlas;
  let atlasGeo;
  let basemap;
  try {
    let atlasJson;
    [meta, atlasJson, atlasGeo, basemap] = await Promise.all([
      early.meta, early.atlas, early.atlasGeo, early.basemap,
    ]);
    atlas = indexAtlas(atlasJson, basemap);
    // Marks for timing the page (benchmarks/serve.py can read them): data loaded, map drawn, ready.
    performance.mark("nk-data");
  } catch (err) {
    message(status, `The page could not load its data: ${err.message}`, "error");
    return;
  }

  const state = { network: null, selected: null, plan: null, request: null, rank: null };
  const details = document.getElementById("details");
  const events = document.getElementById("events");
  const showDetails = () => renderDetails(details, state.selected, {
    atlas, network: state.network, months: meta.months, onSelect: (t) => map.select(t),
  });

  const mapSvg = document.getElementById("map");
  const map = createMap(mapSvg, {
    basemap, atlasGeo, atlas,
    onSelect(target) {
      state.selected = target;
      showDetails();
      // Say what the panel now shows, without reading all of it out.
      const name = target.kind === "leg" ? atlas.legsById.get(target.id)?.name : atlas.placeName(target.id);
      document.getElementById("details-live").textContent = `Details: ${name ?? target.id}`;
    },
  });
  performance.mark("nk-map");
  wireZoom(map);
  showDetails();

  let asked = 0;
  let settle = null;
  async function loadNetwork(pending = null) {
    const mine = ++asked;
    clearTimeout(settle);
    showMonth(month, meta.months);
    mapSvg.setAttribute("aria-busy", "true");
    try {
      const network = await (pending ?? getJson(networkPath(month.value, year.value)));
      if (mine !== asked) return; // a later date was asked for meanwhile
      state.network = network;
      map.update(network);
      // The date drawn, for anyone (a test, a script) waiting for the map to catch up.
      mapSvg.dataset.date = network.date;
      mapSvg.removeAttribute("aria-busy");
      renderEvents(events, network, atlas, (t) => map.select(t));
      showDetails();
      const inUse = network.legs.filter((l) => l.in_use).length;
      message(status, `${meta.months[network.month - 1]} ${network.year ?? year.value}: ${inUse} of ${network.legs.length} legs in use.`);
      if (document.body.dataset.ready !== "true") performance.mark("nk-ready");
      document.body.dataset.ready = "true";
    } catch (err) {
      if (mine !== asked) return;
      mapSvg.removeAttribute("aria-busy");
      message(status, err instanceof ApiError ? err.message : String(err), "error");
    }
  }
  const later = (ms) => {
    clearTimeout(settle);
    settle = setTimeout(() => loadNetwork(), ms);
  };
  month.addEventListener("input", () => {
    showMonth(month, meta.months);
    later(DATE_SETTLE_MS);
  });
  year.addEventListener("input", () => later(YEAR_SETTLE_MS));
  year.addEventListener("change", () => loadNetwork());
  await loadNetwork(early.network);
  // Not needed to use the map, so drawn once it is: the legend and the line about the data.
  drawLegend(document.getElementById("legend"));
  renderAbout(meta);

  // A run simulates the plan on show (the request that made it), not what the form says since.
  const simulation = initSimulation({
    meta, atlas, planRequest: () => state.request ?? planRequest(), rank: () => state.rank,
  });
  initPlanner({
    meta, atlas, map,
    onPlan(plan, request) {
      state.plan = plan;
      state.request = request;
      if (!plan) return; // the plan failed: nothing to show or to simulate
      // Show the network as it is on the departure date, so the lines match the plan.
      const [y, m] = plan.date.split("-").map(Number);
      if (Number(month.value) !== m || Number(year.value) !== y) {
        month.value = String(m);
        year.value = String(y);
        loadNetwork();
      }
    },
    onChoose(rank) {
      state.rank = rank;
      simulation.describe(state.plan, rank);
    },
  });
  simulation.describe(null, null);
  const flows = initFlows({ meta, atlas });
  wireTabs({ flows: () => flows.load() });
}

function showMonth(slider, months) {
  const name = months[Number(slider.value) - 1];
  slider.setAttribute("aria-valuetext", name);
  document.getElementById("month-name").textContent = name;
}

// Tabs as in the WAI-ARIA pattern: one tab stop, arrow keys move between tabs.
function wireTabs(onOpen) {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  function open(tab, focus) {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    }
    if (focus) tab.focus();
    onOpen[tab.dataset.tool]?.();
  }
  for (const tab of tabs) {
    tab.addEventListener("click", () => open(tab, false));
    tab.addEventListener("keydown", (event) => {
      const i = tabs.indexOf(tab);
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) open(tabs[(i + step + tabs.length) % tabs.length], true);
      else if (event.key === "Home") open(tabs[0], true);
      else if (event.key === "End") open(tabs[tabs.length - 1], true);
    });
  }
}

function wireZoom(map) {
  document.getElementById("zoom-in").addEventListener("click", () => map.zoomBy(2));
  document.getElementById("zoom-out").addEventListener("click", () => map.zoomBy(0.5));
  document.getElementById("zoom-rivers").addEventListener("click", () => map.zoomTo(VIEWS.rivers));
  document.getElementById("zoom-all").addEventListener("click", () => map.zoomTo(null));
}

// The legend: the colour scale of the chance of interception, and the line style of each way.
function drawLegend(box) {
  const d3 = window.d3;
  const width = 240;
  const scale = d3.scaleSqrt([0, 1], [0, width]);
  const svg = d3.create("svg").attr("viewBox", `0 0 ${width + 30} 34`).attr("class", "risk-scale")
    .attr("role", "img").attr("aria-label", "Colour scale: chance of interception on a leg, from 0% (light yellow) to 100% (dark purple)");
  const gradient = svg.append("defs").append("linearGradient").attr("id", "risk-gradient");
  for (let i = 0; i <= 20; i += 1) {
    const t = i / 20;
    // Stops evenly spaced on the legend's (square-root) axis.
    gradient.append("stop").attr("offset", `${t * 100}%`).attr("stop-color", riskColour(scale.invert(t * width)));
  }
  const g = svg.append("g").attr("transform", "translate(10,4)");
  g.append("rect").attr("width", width).attr("height", 12).attr("fill", "url(#risk-gradient)");
  g.append("g").attr("transform", "translate(0,12)").call(d3.axisBottom(scale).tickValues(RISK_TICKS).tickFormat((p) => pct(p)));
  const modes = MODE_GROUPS.map((m) => h("li", {}, lineSample(m),
    `${m.name} (${m.modes.map((x) => x.replaceAll("-", " ")).join(", ")})`));
  fill(box,
    h("div", { class: "legend-risk" }, h("p", { class: "legend-title" }, "Chance of interception on the leg on this date (one woman paying a broker)"), svg.node()),
    h("div", { class: "legend-modes" }, h("p", { class: "legend-title" }, "Line style: how the leg is travelled"),
      h("ul", {}, modes,
        h("li", {}, lineSample({ dash: "3 3", width: 2.5, colour: NOT_IN_USE, off: true }), "grey: not in use on this date"))));
}

// A short sample of a line style, for the legend.
function lineSample(style) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 40 10");
  svg.setAttribute("class", "mode-sample");
  svg.setAttribute("aria-hidden", "true");
  const line = document.createElementNS(ns, "line");
  const attrs = { x1: 2, y1: 5, x2: 38, y2: 5, stroke: style.colour ?? "#3b2a5a", "stroke-width": Math.min(style.width, 5) };
  if (style.dash) attrs["stroke-dasharray"] = style.dash;
  if (style.round) attrs["stroke-linecap"] = "round";
  if (style.off) attrs.opacity = 0.8;
  for (const [k, v] of Object.entries(attrs)) line.setAttribute(k, String(v));
  svg.append(line);
  return svg;
}

function renderAbout(meta) {
  const about = document.getElementById("about");
  const counts = meta.atlas ?? {};
  fill(about,
    h("p", {}, `${meta.name} ${meta.version} · data as of ${meta.data_date} (the newest date in the atlas) · `,
      `atlas: ${counts.places ?? "?"} places, ${counts.legs ?? "?"} legs, ${counts.sources ?? "?"} sources`,
      meta.overlay ? " · with a private overlay" : "", " · flow-model fit: ", meta.flows ? "saved" : "none"),
    h("p", {}, "This page runs on this computer and asks nothing of any other: the map, the scripts and the data all come from this server. ",
      "Country borders: Natural Earth (public domain), via world-atlas. Libraries: d3 and topojson-client (ISC)."),
    (meta.atlas_warnings ?? []).length ? h("ul", { class: "atlas-warnings" }, meta.atlas_warnings.map((w) => h("li", {}, w))) : null);
}

main();
