// SVG charts drawn with d3 from the API's numbers: lines with bands, bars, histograms and step
// curves, each with labelled axes and units. The charts scale with their box (a fixed viewBox),
// so they read the same on a laptop and on a phone.

const d3 = window.d3;

// The charts' drawing box is as wide as the chart on screen (so text stays 11 px on a phone),
// within these bounds; a chart drawn in a hidden tab, which has no width yet, takes the default.
const WIDTH_DEFAULT = 460;
const WIDTH_MIN = 320;
const WIDTH_MAX = 640;
const MARGIN = { top: 28, right: 14, bottom: 44, left: 58 };

// Okabe-Ito, the colour-blind-safe palette, for categories.
export const OKABE_ITO = {
  orange: "#E69F00",
  sky: "#56B4E9",
  green: "#009E73",
  yellow: "#F0E442",
  blue: "#0072B2",
  vermillion: "#D55E00",
  purple: "#CC79A7",
  black: "#000000",
  grey: "#999999",
};

// Legend text is measured by its length in characters, not by the browser, so that a chart
// drawn in a hidden tab lays out the same: about this many SVG units per character at 11px.
const CHAR_WIDTH = 6.2;
const LEGEND_ROW = 16;
// A series with a single value (a one-year projection) is a dot with its interval as an error
// bar; series sharing that x stand this far apart, so that their bars do not hide each other.
const POINT_RADIUS = 3.5;
const DODGE_PX = 10;
const CAP_PX = 4;

/**
 * Clear `svg` and set up a chart of `height` SVG units, with its legend (items [{label,
 * colour, kind: "line" | "band" | "point" | "range", dash}]) across the top, wrapped to fit.
 * Returns its inner group and inner size.
 */
function frame(svg, { height, label, legendItems = [], left = MARGIN.left, bottom = MARGIN.bottom }) {
  const root = d3.select(svg);
  root.selectAll("*").remove();
  const onScreen = svg.getBoundingClientRect().width;
  const width = onScreen ? Math.min(WIDTH_MAX, Math.max(WIDTH_MIN, onScreen)) : WIDTH_DEFAULT;
  root.attr("viewBox", `0 0 ${width} ${height}`).attr("role", "img").attr("aria-label", label);
  root.append("title").text(label);
  const rows = legend(root, legendItems, width);
  const top = Math.max(MARGIN.top, 8 + rows * LEGEND_ROW + 10);
  const inner = { width: width - left - MARGIN.right, height: height - top - bottom };
  const g = root.append("g").attr("transform", `translate(${left},${top})`);
  return { root, g, inner, left, bottom };
}

// Draw the legend from the top left corner; returns the number of rows it took.
function legend(root, items, width) {
  if (!items.length) return 0;
  const g = root.append("g").attr("class", "chart-legend").attr("transform", "translate(8,14)");
  let x = 0;
  let row = 0;
  for (const item of items) {
    const itemWidth = 18 + item.label.length * CHAR_WIDTH + 12;
    if (x > 0 && x + itemWidth > width - 16) {
      x = 0;
      row += 1;
    }
    const entry = g.append("g").attr("transform", `translate(${x},${row * LEGEND_ROW})`);
    if (item.kind === "band") entry.append("rect").attr("y", -6).attr("width", 14).attr("height", 10).attr("fill", item.colour).attr("opacity", item.opacity ?? 0.3);
    else if (item.kind === "point") entry.append("circle").attr("cx", 7).attr("cy", -1).attr("r", 3.5).attr("fill", item.colour);
    else if (item.kind === "range") entry.append("path").attr("d", "M7,-7V5M3,-7H11M3,5H11").attr("stroke", item.colour).attr("stroke-width", 1.5);
    else entry.append("path").attr("d", "M0,-1H14").attr("stroke", item.colour).attr("stroke-width", 2.5).attr("stroke-dasharray", item.dash ?? null);
    entry.append("text").attr("x", 18).attr("y", 3).text(item.label);
    x += itemWidth;
  }
  return row + 1;
}

function axisLabels(g, inner, { xLabel, yLabel, left, bottom }) {
  g.append("text").attr("class", "axis-label")
    .attr("x", inner.width / 2).attr("y", inner.height + bottom - 8)
    .attr("text-anchor", "middle").text(xLabel);
  g.append("text").attr("class", "axis-label")
    .attr("transform", `translate(${-left + 14},${inner.height / 2}) rotate(-90)`)
    .attr("text-anchor", "middle").text(yLabel);
}

function drawAxes(g, inner, x, y, { xFormat, yFormat, xTicks = 6, yTicks = 5 }) {
  const bottom = d3.axisBottom(x).ticks(xTicks, xFormat).tickSizeOuter(0);
  // Years are whole: a short span must not get ticks at half-years printed as the same year.
  if (xFormat === "d") bottom.tickValues(x.ticks(xTicks).filter(Number.isInteger));
  g.append("g").attr("class", "axis x-axis").attr("transform", `translate(0,${inner.height})`)
    .call(bottom);
  const left = typeof yFormat === "function"
    ? d3.axisLeft(y).ticks(yTicks).tickFormat(yFormat)
    : d3.axisLeft(y).ticks(yTicks, yFormat);
  g.append("g").attr("class", "axis y-axis").call(left.tickSizeOuter(0));
  const grid = d3.axisLeft(y).ticks(yTicks).tickSize(-inner.width).tickFormat("");
  // On a log scale, grid lines at the powers of ten only; one at every tick would be a mesh.
  if (typeof y.base === "function") grid.tickValues(y.ticks().filter((v) => Number.isInteger(Math.log10(v))));
  g.append("g").attr("class", "grid").call(grid);
}

/**
 * Lines with shaded bands over years (or any numbers):
 * series: [{label, bandLabel, colour, dash, points: [{x, y, low, high}]}],
 * points: [{label, colour, data: [{x, y}]}] (observed values),
 * ranges: [{label, colour, data: [{x, low, high, title}]}] (published ranges).
 */
export function bandChart(svg, { label, series = [], points = [], ranges = [], xLabel, yLabel,
  yFormat = "~s", xFormat = "d", height = 270, yMin = 0, yLog = false }) {
  const hasBand = (p) => Number.isFinite(p.low) && Number.isFinite(p.high);
  // A line needs two values and a band two intervals; with fewer, dots and error bars.
  const single = (s) => s.points.filter((p) => Number.isFinite(p.y)).length < 2
    && s.points.filter(hasBand).length < 2;
  const items = [
    ...series.map((s) => ({ label: s.label, colour: s.colour, dash: s.dash, kind: single(s) ? "point" : "line" })),
    ...series.filter((s) => s.bandLabel).map((s) => ({ label: s.bandLabel, colour: s.colour, kind: single(s) ? "range" : "band" })),
    ...ranges.map((r) => ({ label: r.label, colour: r.colour, kind: "range" })),
    ...points.map((p) => ({ label: p.label, colour: p.colour, kind: "point" })),
  ];
  const f = frame(svg, { height, label, legendItems: items });
  const xs = [...series.flatMap((s) => s.points.map((p) => p.x)), ...points.flatMap((p) => p.data.map((d) => d.x)),
    ...ranges.flatMap((r) => r.data.map((d) => d.x))];
  const ys = [...series.flatMap((s) => s.points.flatMap((p) => [p.high, p.y])),
    ...points.flatMap((p) => p.data.map((d) => d.y)), ...ranges.flatMap((r) => r.data.map((d) => d.high))]
    .filter((v) => Number.isFinite(v));
  const [x0, x1] = d3.extent(xs);
  // One x (a one-year projection): a unit-wide domain around it, so that it sits mid-chart.
  const x = d3.scaleLinear(x0 === x1 && x0 !== undefined ? [x0 - 0.5, x1 + 0.5] : [x0, x1], [0, f.inner.width]);
  const positive = ys.filter((v) => v > 0);
  const y = yLog
    ? d3.scaleLog([d3.min(positive) ?? 1, d3.max(positive) ?? 10], [f.inner.height, 0]).nice()
    : d3.scaleLinear([yMin, d3.max(ys) ?? 1], [f.inner.height, 0]).nice();
  drawAxes(f.g, f.inner, x, y, { xFormat, yFormat });
  axisLabels(f.g, f.inner, { xLabel, yLabel, left: f.left, bottom: f.bottom });
  const singles = series.filter(single);
  for (const s of series) {
    if (single(s)) {
      singlePoint(f.g, s, x, y, (singles.indexOf(s) - (singles.length - 1) / 2) * DODGE_PX);
      continue;
    }
    const withBand = s.points.filter(hasBand);
    if (withBand.length) {
      f.g.append("path").attr("class", "band").attr("fill", s.colour).attr("opacity", 0.22)
        .attr("d", d3.area().x((p) => x(p.x)).y0((p) => y(p.low)).y1((p) => y(p.high))(withBand));
    }
    f.g.append("path").attr("class", "line").attr("fill", "none").attr("stroke", s.colour)
      .attr("stroke-width", 2).attr("stroke-dasharray", s.dash ?? null)
      .attr("d", d3.line().defined((p) => Number.isFinite(p.y)).x((p) => x(p.x)).y((p) => y(p.y))(s.points));
  }
  for (const r of ranges) {
    const g = f.g.append("g").attr("class", "ranges").attr("stroke", r.colour).attr("stroke-width", 1.5);
    for (const d of r.data) {
      const [cx, lo, hi] = [x(d.x), y(d.low), y(d.high)];
      g.append("path").attr("d", `M${cx},${lo}V${hi}M${cx - 4},${lo}H${cx + 4}M${cx - 4},${hi}H${cx + 4}`)
        .append("title").text(d.title ?? "");
    }
  }
  for (const p of points) {
    f.g.append("g").attr("class", "points").selectAll("circle").data(p.data.filter((d) => Number.isFinite(d.y))).join("circle")
      .attr("cx", (d) => x(d.x)).attr("cy", (d) => y(d.y)).attr("r", 2.8).attr("fill", p.colour)
      .append("title").text((d) => d.title ?? `${d.x}: ${d3.format(",")(d.y)}`);
  }
}

// A series of one value: its interval as an error bar (thick, in the band's colour) and the
// value as a dot, `dodge` pixels off its x.
function singlePoint(g, s, x, y, dodge) {
  const group = g.append("g").attr("class", "single").attr("fill", s.colour).attr("stroke", s.colour);
  for (const p of s.points) {
    const cx = x(p.x) + dodge;
    if (Number.isFinite(p.low) && Number.isFinite(p.high)) {
      const [lo, hi] = [y(p.low), y(p.high)];
      group.append("path").attr("class", "error-bar").attr("fill", "none").attr("stroke-width", 2)
        .attr("d", `M${cx},${lo}V${hi}M${cx - CAP_PX},${lo}H${cx + CAP_PX}M${cx - CAP_PX},${hi}H${cx + CAP_PX}`)
        .append("title").text(`${s.bandLabel ?? s.label}: ${d3.format(",.0f")(p.low)} to ${d3.format(",.0f")(p.high)}`);
    }
    if (Number.isFinite(p.y)) {
      group.append("circle").attr("cx", cx).attr("cy", y(p.y)).attr("r", POINT_RADIUS).attr("stroke", "#fff")
        .attr("stroke-width", 1).append("title").text(`${s.label}, ${p.x}: ${d3.format(",.0f")(p.y)}`);
    }
  }
}

/**
 * The attrition funnel: one bar per leg in journey order (rows [{label, count, ended}]), the
 * journeys that entered it, with those that ended there split by outcome
 * (outcomes [{key, label, colour}]).
 */
export function funnelChart(svg, { rows, runs, outcomes, label }) {
  const barHeight = 24;
  const used = outcomes.filter((o) => rows.some((r) => r.ended?.[o.key]));
  const items = [{ label: "entered the leg", colour: ENTERED, kind: "band", opacity: 1 },
    ...used.map((o) => ({ label: `ended there: ${o.label}`, colour: o.colour, kind: "band", opacity: 1 }))];
  // Leg names are long: the bars start after a wide label column.
  const left = 168;
  const legendRows = Math.ceil(items.length / 2);
  const height = 30 + legendRows * LEGEND_ROW + rows.length * barHeight + MARGIN.bottom;
  const f = frame(svg, { height, label, left, legendItems: items });
  const x = d3.scaleLinear([0, runs], [0, f.inner.width]);
  const y = d3.scaleBand(rows.map((_, i) => i), [0, f.inner.height]).padding(0.2);
  f.g.append("g").attr("class", "axis x-axis").attr("transform", `translate(0,${f.inner.height})`)
    .call(d3.axisBottom(x).ticks(5, "~s").tickSizeOuter(0));
  f.g.append("text").attr("class", "axis-label").attr("x", f.inner.width / 2).attr("y", f.inner.height + f.bottom - 8)
    .attr("text-anchor", "middle").text(`journeys (of ${d3.format(",")(runs)})`);
  const bars = f.g.selectAll("g.bar").data(rows).join("g").attr("class", "bar")
    .attr("transform", (_, i) => `translate(0,${y(i)})`);
  bars.append("rect").attr("fill", ENTERED).attr("height", y.bandwidth()).attr("width", (d) => x(d.count))
    .append("title").text((d) => `${d.label}: ${d3.format(",")(d.count)} journeys entered`);
  bars.each(function (d) {
    let at = 0;
    for (const o of used) {
      const n = d.ended?.[o.key] ?? 0;
      if (!n) continue;
      d3.select(this).append("rect").attr("x", x(at)).attr("width", x(n)).attr("height", y.bandwidth())
        .attr("fill", o.colour).append("title").text(`${d.label}: ${d3.format(",")(n)} ended here, ${o.label}`);
      at += n;
    }
  });
  bars.append("text").attr("class", "bar-label").attr("x", -6).attr("y", y.bandwidth() / 2).attr("dy", "0.35em")
    .attr("text-anchor", "end").text((d) => truncate(d.label, 27)).append("title").text((d) => d.label);
}
const ENTERED = "#d4d4d4";

/** A step curve over log-spaced bins: curves [{label, colour, dash, edges, values}]. */
export function stepChart(svg, { label, curves, xLabel, yLabel, yFormat = ".0%", yMax = 1, height = 250 }) {
  const items = curves.map((c) => ({ label: c.label, colour: c.colour, dash: c.dash, kind: "line" }));
  const f = frame(svg, { height, label, legendItems: items });
  const positive = curves.flatMap((c) => c.edges.filter((e) => e > 0));
  const x = d3.scaleLog(d3.extent(positive.length ? positive : [1, 10]), [0, f.inner.width]).clamp(true);
  const y = d3.scaleLinear([0, yMax], [f.inner.height, 0]);
  drawAxes(f.g, f.inner, x, y, { xFormat: "~s", yFormat, xTicks: 5 });
  axisLabels(f.g, f.inner, { xLabel, yLabel, left: f.left, bottom: f.bottom });
  for (const c of curves) {
    // Each value holds from its bin's right edge on, as plot_days draws it.
    const pts = c.values.map((v, i) => [c.edges[i + 1], v]).filter(([e]) => e > 0);
    f.g.append("path").attr("fill", "none").attr("stroke", c.colour).attr("stroke-width", 2)
      .attr("stroke-dasharray", c.dash ?? null)
      .attr("d", d3.line().curve(d3.curveStepAfter).x((p) => x(p[0])).y((p) => y(p[1]))(pts));
  }
}

/** A histogram over log-spaced bins ({edges, counts}, len(edges) = len(counts) + 1). */
export function histogramChart(svg, { label, edges, counts, xLabel, yLabel, colour = OKABE_ITO.blue, height = 240 }) {
  const f = frame(svg, { height, label });
  const bins = counts.map((n, i) => ({ lo: edges[i], hi: edges[i + 1], n })).filter((b) => b.lo > 0 && b.n > 0);
  const x = d3.scaleLog(bins.length ? [bins[0].lo, bins[bins.length - 1].hi] : [1, 10], [0, f.inner.width]);
  const y = d3.scaleLinear([0, d3.max(bins, (b) => b.n) ?? 1], [f.inner.height, 0]).nice();
  drawAxes(f.g, f.inner, x, y, { xFormat: "$~s", yFormat: d3.format(","), xTicks: 5 });
  axisLabels(f.g, f.inner, { xLabel, yLabel, left: f.left, bottom: f.bottom });
  f.g.append("g").selectAll("rect").data(bins).join("rect")
    .attr("x", (b) => x(b.lo)).attr("width", (b) => Math.max(1, x(b.hi) - x(b.lo) - 0.5))
    .attr("y", (b) => y(b.n)).attr("height", (b) => f.inner.height - y(b.n)).attr("fill", colour)
    .append("title").text((b) => `US$${d3.format(",.0f")(b.lo)}–${d3.format(",.0f")(b.hi)}: ${d3.format(",")(b.n)} journeys`);
}

/** An empty chart with a message, so that a missing figure says why. */
export function emptyChart(svg, text, height = 120) {
  const f = frame(svg, { height, label: text });
  f.g.append("text").attr("class", "empty").attr("x", f.inner.width / 2).attr("y", f.inner.height / 2)
    .attr("text-anchor", "middle").text(text);
}

function truncate(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
