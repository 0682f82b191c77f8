// The map: Natural Earth countries from the shipped basemap, the atlas's places as points and
// its legs as lines, one line style per way of travel, coloured by the chance of interception
// the API gives for the chosen month. Everything drawn comes from the API or the basemap.

import { central, pct } from "./format.js";

const d3 = window.d3;
const topojson = window.topojson;

// The sequential scale for a probability of interception: viridis, reversed so that the
// riskier legs are the darker ones, on a square-root scale because most legs lie below 15%
// and a linear scale would paint them all alike. The domain is fixed at 0-1 so that colours
// mean the same in every month.
export const riskColour = d3.scaleSequentialSqrt([0, 1], (t) => d3.interpolateViridis(1 - t));
export const RISK_TICKS = [0, 0.05, 0.1, 0.25, 0.5, 1];
export const NOT_IN_USE = "#7b7b7b";

// One line style per kind of way: dash pattern (in screen pixels) and width. River crossings
// are drawn thick so that the month slider's ice against water shows at a glance.
export const MODE_GROUPS = [
  { name: "road", modes: ["car", "bus", "taxi", "hidden-in-vehicle"], dash: null, width: 2.5 },
  { name: "rail", modes: ["train"], dash: "9 3", width: 2.5 },
  { name: "on foot", modes: ["foot", "mountain-trek"], dash: "3 3", width: 2.5 },
  { name: "river, in the water", modes: ["wade", "swim"], dash: null, width: 5 },
  { name: "river, on the ice", modes: ["ice-walk"], dash: "0.1 7", width: 6, round: true },
  { name: "by boat", modes: ["boat", "longboat"], dash: "1 5", width: 3.5, round: true },
  { name: "by air", modes: ["flight"], dash: "12 6", width: 1.5 },
];
const OTHER_MODE = { name: "other", modes: [], dash: "6 2 1 2", width: 2 };
export function modeStyle(mode) {
  return MODE_GROUPS.find((g) => g.modes.includes(mode)) ?? OTHER_MODE;
}

// Short legs (a river crossing is a few hundred metres) are drawn at least this long on
// screen, centred on the real crossing, or they would vanish: long enough, once zoomed in, to
// stick out on both sides of the two places' dots; shorter over the whole region, where many
// short legs around one city would otherwise bristle.
const MIN_LEG_PX = 40;
const MIN_LEG_PX_OVERVIEW = 12;
// Legs joining the same two places (wading and walking on the ice at one spot) bow apart by
// this share of their length, so that each can be seen and clicked.
const PARALLEL_BOW = 0.35;
const PLACE_RADIUS_PX = 4;
// Places closer on screen than their dots' radii plus this gap (a border town and its twin
// across the river, a city and its airport) are nudged apart, each keeping its bearing from
// the other, so that every dot can be clicked and the short leg between two of them shows
// between their dots. The nudge is recomputed at each zoom and fades as the places part.
const PLACE_GAP_PX = 4;
// Rounds of pushing overlapping pairs apart; a cluster of a dozen places settles in fewer.
const NUDGE_ROUNDS = 40;
// Nudges below this (in pixels) are not worth a redraw of the legs that end there.
const NUDGE_EPSILON_PX = 0.05;
const LABEL_PX = 11;
const MAX_ZOOM = 40;
// Room kept around the places when the map first fits them, in pixels.
const FIT_PADDING_PX = 24;
// The order in which place labels claim room; later kinds give way when labels overlap.
const LABEL_PRIORITY = ["destination", "origin-town", "transit-city", "airport", "port",
  "border-crossing", "embassy", "safe-house-area", "detention-centre"];
// Preset views, [lon min, lat min, lon max, lat max].
export const VIEWS = {
  rivers: [124.0, 39.6, 131.2, 43.6],
};

/**
 * Build the map in `svg` from the basemap topology and the atlas's GeoJSON (places and leg
 * lines). `onSelect({kind, id})` is called when a place or leg is clicked or chosen with the
 * keyboard. Returns the handle the rest of the page uses to update it.
 */
export function createMap(svg, { basemap, atlasGeo, atlas, onSelect }) {
  const root = d3.select(svg);
  const view = basemap.view;
  const countries = topojson.feature(basemap, basemap.objects.countries).features;
  const borders = topojson.mesh(basemap, basemap.objects.countries, (a, b) => a !== b);
  const legFeatures = atlasGeo.features.filter((f) => f.properties.feature === "leg");
  const placeFeatures = atlasGeo.features.filter((f) => f.properties.feature === "place");
  const inView = ([lon, lat]) => lon >= view[0] && lon <= view[2] && lat >= view[1] && lat <= view[3];
  const mapped = placeFeatures.filter((f) => inView(f.geometry.coordinates));
  const offMap = placeFeatures.filter((f) => !inView(f.geometry.coordinates));
  const networkCountries = new Set(atlas.places.map((p) => p.country));
  const parallel = parallelIndex(legFeatures);

  const state = { projection: null, k: 1, network: null, selected: null, itineraries: null,
    rank: null, focusIndex: 0, projected: new Map(), shown: new Map() };

  root.selectAll("*").remove();
  root.attr("role", "group").attr("aria-roledescription", "map");
  const sea = root.append("rect").attr("class", "sea");
  const zoomLayer = root.append("g").attr("class", "zoom-layer");
  // The basemap is clipped to its region by an SVG clip path, not by d3's spherical clipping,
  // which took most of the first draw's time (the crop already keeps the shapes near it).
  const viewClip = zoomLayer.append("clipPath").attr("id", "map-view-clip").append("rect");
  const gCountries = zoomLayer.append("g").attr("class", "countries").attr("aria-hidden", "true")
    .attr("clip-path", "url(#map-view-clip)");
  const gBorders = zoomLayer.append("path").attr("class", "borders").attr("aria-hidden", "true")
    .attr("clip-path", "url(#map-view-clip)");
  const gRoutes = zoomLayer.append("g").attr("class", "itineraries").attr("aria-hidden", "true");
  const gLegs = zoomLayer.append("g").attr("class", "legs");
  const gPlaces = zoomLayer.append("g").attr("class", "places");
  // The names lie above every dot, so that no dot drawn later hides part of one; they let
  // clicks through to the dots (style.css), and the dots carry the names for screen readers.
  const gLabels = zoomLayer.append("g").attr("class", "place-labels").attr("aria-hidden", "true");

  const countryPaths = gCountries.selectAll("path").data(countries).join("path")
    .attr("class", (d) => (networkCountries.has(d.id) ? "country in-network" : "country"));
  countryPaths.append("title").text((d) => d.properties.name);

  // Each leg is a casing (a dark edge that keeps light colours visible on the land, and that
  // turns into the focus and selection ring) under the coloured line itself.
  const legGroups = gLegs.selectAll("g.leg-group").data(legFeatures, (d) => d.properties.id)
    .join("g").attr("class", "leg-group");
  legGroups.append("path").attr("class", "leg-casing").attr("aria-hidden", "true");
  const legPaths = legGroups.append("path")
    .attr("class", "leg")
    .attr("data-leg", (d) => d.properties.id)
    .attr("data-mode", (d) => d.properties.mode)
    .attr("data-in-use", "false")
    .attr("role", "button")
    .attr("tabindex", -1)
    .attr("stroke-width", (d) => modeStyle(d.properties.mode).width)
    .attr("stroke-dasharray", (d) => modeStyle(d.properties.mode).dash)
    .attr("stroke-linecap", (d) => (modeStyle(d.properties.mode).round ? "round" : "butt"));
  legGroups.select(".leg-casing")
    .attr("stroke-width", (d) => modeStyle(d.properties.mode).width + 3);

  const placeGroups = gPlaces.selectAll("g.place").data(mapped, (d) => d.properties.id)
    .join("g")
    .attr("class", (d) => `place kind-${d.properties.kind}`)
    .attr("data-place", (d) => d.properties.id)
    .attr("role", "button")
    .attr("tabindex", -1)
    .attr("aria-label", (d) => placeLabel(d.properties));
  placeGroups.append("circle");
  const labelGroups = gLabels.selectAll("g.place-label").data(mapped, (d) => d.properties.id)
    .join("g").attr("class", "place-label");
  labelGroups.append("text").text((d) => d.properties.name);

  // Places beyond the map's region (Moscow, London) are listed beside it as buttons.
  const offList = d3.select(svg.parentNode).select(".off-map");
  offList.selectAll("li").data(offMap).join("li").append("button")
    .attr("type", "button")
    .attr("class", "place off-map-place")
    .attr("data-place", (d) => d.properties.id)
    .text((d) => `${d.properties.name} (${d.properties.country}), off the map`)
    .on("click", (event, d) => select({ kind: "place", id: d.properties.id }));
  offList.attr("hidden", offMap.length ? null : true);

  // One tab stop for the whole map; the arrow keys move between its places and legs.
  const focusables = [...placeGroups.nodes(), ...legPaths.nodes()];

  function select(target) {
    state.selected = target;
    markSelection();
    onSelect(target);
  }

  placeGroups.on("click", (event, d) => select({ kind: "place", id: d.properties.id }));
  legPaths.on("click", (event, d) => select({ kind: "leg", id: d.properties.id }));
  root.on("keydown", (event) => onKey(event));
  root.on("focusin", (event) => {
    const i = focusables.indexOf(event.target);
    if (i >= 0) setFocusIndex(i, false);
    markFocus(event.target);
  });
  root.on("focusout", () => markFocus(null));

  function onKey(event) {
    const i = focusables.indexOf(event.target);
    if (i < 0) return;
    const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      const d = d3.select(event.target).datum();
      const kind = event.target.classList.contains("leg") ? "leg" : "place";
      select({ kind, id: d.properties.id });
    } else if (event.key in moves) {
      event.preventDefault();
      setFocusIndex((i + moves[event.key] + focusables.length) % focusables.length, true);
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      setFocusIndex(event.key === "Home" ? 0 : focusables.length - 1, true);
    }
  }

  function setFocusIndex(i, move) {
    focusables[state.focusIndex]?.setAttribute("tabindex", "-1");
    state.focusIndex = i;
    focusables[i].setAttribute("tabindex", "0");
    if (move) focusables[i].focus();
  }

  function markFocus(node) {
    legGroups.classed("has-focus", function () { return this.contains(node); });
    placeGroups.classed("has-focus", function () { return this === node; });
  }

  function markSelection() {
    const s = state.selected;
    legGroups.classed("selected", (d) => s?.kind === "leg" && s.id === d.properties.id);
    placeGroups.classed("selected", (d) => s?.kind === "place" && s.id === d.properties.id);
    offList.selectAll("button").classed("selected", (d) => s?.kind === "place" && s.id === d.properties.id);
  }

  // The wheel zooms only with Ctrl (or Cmd) held, so that scrolling the page past the map does
  // not zoom it by surprise; dragging pans, pinching zooms.
  const zoom = d3.zoom().scaleExtent([1, MAX_ZOOM])
    .filter((event) => (event.type === "wheel" ? event.ctrlKey || event.metaKey : !event.button))
    .on("zoom", (event) => {
      zoomLayer.attr("transform", event.transform);
      state.k = event.transform.k;
      rescale();
    })
    .on("end", () => placeLabels());
  root.call(zoom).on("dblclick.zoom", null);

  function layout() {
    const width = svg.clientWidth || 800;
    const height = svg.clientHeight || 500;
    root.attr("viewBox", `0 0 ${width} ${height}`);
    sea.attr("width", width).attr("height", height);
    const places = { type: "MultiPoint", coordinates: mapped.map((f) => f.geometry.coordinates) };
    // No adaptive resampling: the basemap's 1:50m lines and the atlas's long legs already
    // carry their points densely enough, and resampling them cost most of the drawing time.
    const projection = d3.geoMercator().precision(0)
      .fitExtent([[FIT_PADDING_PX, FIT_PADDING_PX], [width - FIT_PADDING_PX, height - FIT_PADDING_PX]], places);
    // Nothing is drawn beyond the basemap's region: the crop clamps shapes outside it.
    const [x0, y1] = projection([view[0], view[1]]);
    const [x1, y0] = projection([view[2], view[3]]);
    projection.clipExtent([[x0, y0], [x1, y1]]);
    state.projection = projection;
    zoom.extent([[0, 0], [width, height]]).translateExtent([[Math.min(x0, 0), Math.min(y0, 0)],
      [Math.max(x1, width), Math.max(y1, height)]]);
    viewClip.attr("x", x0).attr("y", y0).attr("width", x1 - x0).attr("height", y1 - y0);
    // Straight lines between the projected points (Mercator keeps the 1:50m lines' shapes at
    // this density), without d3's clipping: see viewClip.
    const planar = d3.geoPath(d3.geoTransform({
      point(lon, lat) {
        const [x, y] = projection([lon, lat]);
        this.stream.point(x, y);
      },
    }));
    countryPaths.attr("d", planar);
    gBorders.attr("d", planar(borders));
    state.projected = new Map(mapped.map((f) => [f.properties.id, projection(f.geometry.coordinates)]));
    // Resetting the zoom redraws the legs, dots and labels (the zoom's own handlers do it).
    root.call(zoom.transform, d3.zoomIdentity);
  }

  // The leg's path at the current zoom: its real line, bowed apart from a twin and stretched
  // to a visible length when it is short.
  function legD(feature) {
    const projection = state.projection;
    const coords = feature.geometry.coordinates;
    const twin = parallel.get(feature.properties.id);
    // Its ends where the places' dots are drawn (nudged apart from close neighbours).
    const from = state.shown.get(feature.properties.from);
    const to = state.shown.get(feature.properties.to);
    const a = from ?? projection(coords[0]);
    const b = to ?? projection(coords[coords.length - 1]);
    const length = Math.hypot(b[0] - a[0], b[1] - a[1]);
    const minLength = Math.min(MIN_LEG_PX, MIN_LEG_PX_OVERVIEW * state.k) / state.k;
    if (coords.length > 2 && !twin && length >= minLength) {
      const moved = (from && from !== state.projected.get(feature.properties.from))
        || (to && to !== state.projected.get(feature.properties.to));
      // A line that leaves the map's region keeps d3's clipping (its ends are not nudged).
      if (!moved || !coords.every(inView)) return d3.geoPath(projection)(feature.geometry);
      const points = coords.map((c) => projection(c));
      points[0] = a;
      points[points.length - 1] = b;
      return `M${points.join("L")}`;
    }
    let [p, q] = [a, b];
    if (length < minLength) {
      const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      const unit = length > 0 ? [(b[0] - a[0]) / length, (b[1] - a[1]) / length] : [1, 0];
      p = [mid[0] - unit[0] * minLength / 2, mid[1] - unit[1] * minLength / 2];
      q = [mid[0] + unit[0] * minLength / 2, mid[1] + unit[1] * minLength / 2];
    }
    if (!twin) return `M${p}L${q}`;
    const span = Math.hypot(q[0] - p[0], q[1] - p[1]);
    const normal = [-(q[1] - p[1]) / span, (q[0] - p[0]) / span];
    const bow = twin.side * PARALLEL_BOW * span;
    const control = [(p[0] + q[0]) / 2 + normal[0] * bow, (p[1] + q[1]) / 2 + normal[1] * bow];
    return `M${p}Q${control} ${q}`;
  }

  function rescale() {
    state.shown = nudgePlaces(mapped, state.projected, state.k);
    const at = (d) => `translate(${state.shown.get(d.properties.id)})`;
    placeGroups.attr("transform", at);
    labelGroups.attr("transform", at);
    legGroups.selectAll("path").attr("d", (d) => legD(d));
    placeGroups.select("circle").attr("r", (d) => radius(d.properties) / state.k);
    labelGroups.select("text")
      .attr("x", (PLACE_RADIUS_PX + 2) / state.k)
      .attr("y", LABEL_PX / 3 / state.k)
      .attr("font-size", LABEL_PX / state.k);
    drawItineraries();
  }

  // Each label goes on the right of its dot, or on the left when the right runs off the map or
  // covers another place's dot; it is hidden when it would overlap the label of a more
  // important place.
  function placeLabels() {
    const edge = svg.getBoundingClientRect().right;
    const dotOf = new Map(placeGroups.nodes().map((node) => [d3.select(node).datum().properties.id, node]));
    const order = [...labelGroups.nodes()].sort((a, b) => labelRank(a) - labelRank(b));
    const texts = order.map((node) => node.querySelector("text"));
    const gap = (PLACE_RADIUS_PX + 2) / state.k;
    // All writes, then all reads: measuring after each write would lay the page out each time.
    for (const text of texts) {
      text.removeAttribute("visibility");
      text.removeAttribute("text-anchor");
      text.setAttribute("x", gap);
    }
    const rights = texts.map((text) => text.getBoundingClientRect());
    const dots = order.map((node) => dotOf.get(d3.select(node).datum().properties.id)
      .querySelector("circle").getBoundingClientRect());
    const overlaps = (box, t) => box.left < t.right && t.left < box.right && box.top < t.bottom && t.top < box.bottom;
    const taken = [];
    texts.forEach((text, i) => {
      const right = rights[i];
      // The same text on the left of the dot: its box mirrored about the dot's centre.
      const middle = (dots[i].left + dots[i].right) / 2;
      const left = { left: 2 * middle - right.right, right: 2 * middle - right.left, top: right.top, bottom: right.bottom };
      const sides = (right.right > edge ? [left] : [right, left])
        .map((box) => ({ box, free: !taken.some((t) => overlaps(box, t)),
          clear: !dots.some((d, j) => j !== i && overlaps(box, d)) }));
      const side = sides.find((x) => x.free && x.clear) ?? sides.find((x) => x.free);
      if (!side) {
        text.setAttribute("visibility", "hidden");
        return;
      }
      if (side.box === left) {
        text.setAttribute("text-anchor", "end");
        text.setAttribute("x", -gap);
      }
      taken.push(side.box);
    });
  }

  function labelRank(node) {
    const kind = d3.select(node).datum().properties.kind;
    const i = LABEL_PRIORITY.indexOf(kind);
    return i < 0 ? LABEL_PRIORITY.length : i;
  }

  /** Colour the legs and mark those in use for the network on one date, from the API. */
  function update(network) {
    state.network = network;
    const byId = new Map(network.legs.map((l) => [l.id, l]));
    legGroups.each(function (d) {
      const leg = byId.get(d.properties.id);
      const inUse = Boolean(leg?.in_use);
      const p = central(leg?.p_intercept);
      const g = d3.select(this).classed("off", !inUse).classed("has-season", Boolean(leg?.season));
      g.select("path.leg")
        .attr("data-in-use", String(inUse))
        .attr("stroke", inUse && p !== null ? riskColour(p) : NOT_IN_USE)
        .attr("aria-label", legLabel(d.properties, leg, atlas));
    });
    // Legs in use are drawn over those out of use where they cross.
    legGroups.sort((a, b) => Number(byId.get(a.properties.id)?.in_use ?? false) - Number(byId.get(b.properties.id)?.in_use ?? false));
  }

  /** Draw a plan's itineraries (GeoJSON from POST /api/plan) under the legs, one picked out. */
  function showItineraries(geojson, rank) {
    state.itineraries = geojson;
    state.rank = rank;
    drawItineraries();
    const onRoute = new Set();
    for (const f of geojson?.features ?? []) {
      if (f.properties.rank === rank && f.properties.kind === "leg") {
        onRoute.add(f.properties.from);
        onRoute.add(f.properties.to);
      }
    }
    placeGroups.classed("on-route", (d) => onRoute.has(d.properties.id));
  }

  function drawItineraries() {
    const features = (state.itineraries?.features ?? [])
      .filter((f) => f.geometry?.type === "LineString" && f.properties.leg)
      // The picked itinerary last, so it lies on top of the others.
      .sort((a, b) => Number(a.properties.rank === state.rank) - Number(b.properties.rank === state.rank));
    const byLeg = new Map(legFeatures.map((f) => [f.properties.id, f]));
    gRoutes.selectAll("path").data(features).join("path")
      .attr("class", (d) => (d.properties.rank === state.rank ? "itinerary-line picked" : "itinerary-line"))
      .attr("data-rank", (d) => d.properties.rank)
      .attr("d", (d) => (byLeg.has(d.properties.leg) ? legD(byLeg.get(d.properties.leg)) : d3.geoPath(state.projection)(d.geometry)));
  }

  /** Zoom to a box [lon min, lat min, lon max, lat max], or back to the whole network. */
  function zoomTo(box) {
    const width = svg.clientWidth || 800;
    const height = svg.clientHeight || 500;
    if (!box) {
      root.transition().call(zoom.transform, d3.zoomIdentity);
      return;
    }
    const [x0, y1] = state.projection([box[0], box[1]]);
    const [x1, y0] = state.projection([box[2], box[3]]);
    const k = Math.min(MAX_ZOOM, 0.95 / Math.max((x1 - x0) / width, (y1 - y0) / height));
    const t = d3.zoomIdentity.translate(width / 2, height / 2).scale(k).translate(-(x0 + x1) / 2, -(y0 + y1) / 2);
    root.transition().call(zoom.transform, t);
  }

  const zoomBy = (factor) => root.transition().call(zoom.scaleBy, factor);

  layout();
  setFocusIndex(0, false);
  // Lay the map out again when its box changes size (a rotated phone, a resized window), not
  // when the observer first reports the size it was laid out at (that would undo a zoom).
  let resizeTimer = null;
  let size = [svg.clientWidth, svg.clientHeight];
  new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      const now = [svg.clientWidth, svg.clientHeight];
      if (now[0] === size[0] && now[1] === size[1]) return;
      size = now;
      layout();
    }, 150);
  }).observe(svg);

  return { update, showItineraries, zoomTo, zoomBy, select, offMap };
}

/**
 * Where each place's dot is drawn at zoom `k`: its projected point, pushed apart from any
 * place whose dot it would overlap on screen (see PLACE_GAP_PX). Positions are in the zoom
 * layer's units; a place not nudged keeps its projected point (the same array).
 */
function nudgePlaces(features, projected, k) {
  const items = features.map((f) => {
    const at = projected.get(f.properties.id);
    return { id: f.properties.id, at, x: at[0] * k, y: at[1] * k, r: radius(f.properties) };
  });
  const widest = 2 * Math.max(...items.map((p) => p.r), 0) + PLACE_GAP_PX;
  for (let round = 0; round < NUDGE_ROUNDS; round += 1) {
    let moved = false;
    // Sorted by x, a place need only be compared with those less than a dot pair's span right.
    items.sort((p, q) => p.x - q.x);
    for (let i = 0; i < items.length; i += 1) {
      const p = items[i];
      for (let j = i + 1; j < items.length && items[j].x - p.x < widest; j += 1) {
        const q = items[j];
        const need = p.r + q.r + PLACE_GAP_PX;
        let dx = q.x - p.x;
        let dy = q.y - p.y;
        let d = Math.hypot(dx, dy);
        if (d >= need) continue;
        if (d === 0) {
          // Two places at one point: part them along the line of their (stable) order.
          [dx, dy, d] = p.id < q.id ? [0, 1, 1] : [0, -1, 1];
        }
        const push = (need - d) / 2;
        p.x -= (dx / d) * push;
        p.y -= (dy / d) * push;
        q.x += (dx / d) * push;
        q.y += (dy / d) * push;
        moved = true;
      }
    }
    if (!moved) break;
  }
  return new Map(items.map((p) => {
    const x = p.x / k;
    const y = p.y / k;
    const still = Math.hypot(x - p.at[0], y - p.at[1]) * k < NUDGE_EPSILON_PX;
    return [p.id, still ? p.at : [x, y]];
  }));
}

function radius(place) {
  return place.kind === "destination" ? PLACE_RADIUS_PX * 1.5 : PLACE_RADIUS_PX;
}

function placeLabel(place) {
  return `${place.name}, ${place.country}, ${place.kind.replaceAll("-", " ")}`;
}

function legLabel(feature, leg, atlas) {
  const from = atlas.placeName(feature.from);
  const to = atlas.placeName(feature.to);
  const status = leg?.in_use ? `in use, chance of interception ${pct(central(leg.p_intercept))}` : `not in use${leg?.why_not ? `: ${leg.why_not}` : ""}`;
  return `${feature.name} (${feature.mode}), ${from} to ${to}; ${status}`;
}

// Legs that join the same two places, each with the side it bows to (-1 or +1).
function parallelIndex(legs) {
  const groups = new Map();
  for (const f of legs) {
    const key = [f.properties.from, f.properties.to].sort().join("|");
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(f);
  }
  const out = new Map();
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    group.forEach((f, i) => {
      // Legs drawn in the other direction bow the other way in their own frame.
      const reversed = f.properties.from !== group[0].properties.from ? -1 : 1;
      const side = (i % 2 === 0 ? 1 : -1) * Math.ceil((i + 1) / 2) * reversed;
      out.set(f.properties.id, { side });
    });
  }
  return out;
}
