// The details panel (a place's or a leg's figures with their ranges and sources) and the list of
// events in force on the chosen date. Figures come from the network answer for that date
// (GET /api/network) and from the atlas (GET /api/atlas); they are only formatted here.

import { sourceList } from "./atlas.js";
import { dl, fill, h } from "./dom.js";
import { days, estimate, num, pct, usd } from "./format.js";

const km = (x) => `${num(x)} km`;

/** Show a place or a leg ({kind, id}) in `panel`. `onSelect` lets its links pick another. */
export function renderDetails(panel, target, { atlas, network, months, onSelect }) {
  const body = panel.querySelector(".details-body");
  if (!target) {
    fill(body, h("p", { class: "muted" }, "Choose a place or a leg on the map (click it, or Tab to the map and use the arrow keys and Enter)."));
    return;
  }
  if (target.kind === "place") fill(body, placeDetails(target.id, { atlas, network, onSelect }));
  else fill(body, legDetails(target.id, { atlas, network, months, onSelect }));
}

function placeDetails(id, { atlas, network, onSelect }) {
  const place = atlas.placesById.get(id);
  if (!place) return h("p", {}, `Unknown place ${id}.`);
  const legs = network?.legs ?? [];
  const linkTo = (leg) => h("li", {},
    h("button", { type: "button", class: "link", onclick: () => onSelect({ kind: "leg", id: leg.id }) },
      atlas.legsById.get(leg.id)?.name ?? leg.id),
    leg.in_use ? ` · ${pct(leg.p_intercept?.mid)} caught` : " · not in use");
  const out = legs.filter((l) => l.from === id);
  const into = legs.filter((l) => l.to === id);
  const now = network?.places?.find((p) => p.id === id);
  const policy = now?.policy ? atlas.policiesById.get(now.policy) : null;
  return [
    h("h3", {}, place.name),
    dl([
      ["Country", `${atlas.countryName(place.country)} (${place.country})`],
      ["Kind", place.kind.replaceAll("-", " ")],
      ["Region", place.region],
      ["Where", `${Math.abs(place.lat)}°${place.lat < 0 ? "S" : "N"}, ${Math.abs(place.lon)}°${place.lon < 0 ? "W" : "E"}`],
    ]),
    place.note ? h("p", {}, place.note) : null,
    now ? [
      h("h4", {}, `On ${network.date}`),
      dl([
        ["Safe", now.safe ? "yes: the country does not send people back" : "no"],
        ["Sent back if caught", pct(now.p_sent_back_if_caught)],
        ["Policy", policy ? `${policy.id}${policy.note ? ` (${policy.note})` : ""}` : now.policy],
      ]),
      policy ? policyDetails(policy, atlas) : null,
    ] : null,
    out.length ? [h("h4", {}, "Legs from here"), h("ul", { class: "leg-links" }, out.map(linkTo))] : null,
    into.length ? [h("h4", {}, "Legs to here"), h("ul", { class: "leg-links" }, into.map(linkTo))] : null,
    h("h4", {}, "Sources"),
    sourceList(place.source, atlas),
  ];
}

function legDetails(id, { atlas, network, months, onSelect }) {
  const leg = atlas.legsById.get(id);
  const now = network?.legs.find((l) => l.id === id);
  if (!leg) return h("p", {}, `Unknown leg ${id}.`);
  const place = (pid) => h("button", { type: "button", class: "link", onclick: () => onSelect({ kind: "place", id: pid }) }, atlas.placeName(pid));
  const monthNames = (list) => list.map((m) => months[m - 1] ?? m).join(", ");
  const years = leg.in_use ? `${leg.in_use.from}–${leg.in_use.until ?? "now"}` : "every year in the atlas";
  const status = now
    ? now.in_use
      ? h("span", { class: "badge in-use" }, "in use")
      : h("span", { class: "badge off" }, `not in use${now.why_not ? `: ${now.why_not}` : ""}`)
    : null;
  return [
    h("h3", {}, leg.name),
    h("p", {}, place(leg.from), " to ", place(leg.to), ` · ${leg.mode.replaceAll("-", " ")} · ${leg.operator}`),
    now ? [
      h("h4", {}, `On ${network.date} `, status),
      dl([
        ["Chance of interception", estimate(now.p_intercept, pct)],
        ["Days (10–90%)", estimate(now.days, days)],
        ["Cost per person (10–90%)", estimate(now.cost_usd, usd)],
        ["Sent back if caught", now.p_sent_back_if_caught !== undefined ? pct(now.p_sent_back_if_caught) : null],
        ["Season", now.season],
      ]),
      now.events?.length ? [h("h4", {}, "Events in force that change it"), h("ul", { class: "leg-events" }, now.events.map((e) => h("li", {}, e)))] : null,
      now.sources?.length ? [h("h4", {}, "Sources of these figures"), sourceList(now.sources, atlas)] : null,
    ] : null,
    h("h4", {}, "In the atlas"),
    dl([
      ["Chance of interception", figure(leg.p_intercept, pct)],
      ["Days", figure(leg.duration_days, days)],
      ["Cost per person", figure(leg.cost_usd, usd)],
      ["Distance", leg.distance_km ? figure(leg.distance_km, km) : null],
      ["Months", monthNames(leg.months)],
      ["Years", years],
    ]),
    (leg.seasonal ?? []).length ? [
      h("h4", {}, "Seasons"),
      h("ul", {}, leg.seasonal.map((s) => h("li", {}, h("strong", {}, monthNames(s.months)), `: ${s.note}`, factors(s)))),
    ] : null,
    (leg.group ?? []).length ? h("details", {},
      h("summary", {}, "Who travels (group effects)"),
      h("ul", {}, leg.group.map((g) => h("li", {}, h("strong", {}, g.who), `: ${g.note}`, factors(g))))) : null,
    leg.note ? h("p", {}, leg.note) : null,
    h("h4", {}, "Sources"),
    sourceList([...(leg.source ?? []), ...sourcesOf(leg)], atlas),
  ];
}

// What the country does to those it catches, from the atlas's policy in force.
function policyDetails(policy, atlas) {
  const outcomes = Object.entries(policy.outcomes ?? {});
  return [
    outcomes.length ? h("ul", { class: "policy" }, outcomes.map(([name, est]) => h("li", {},
      h("strong", {}, name.replaceAll("-", " ")), `: ${estimate(est, pct)}`,
      est.note ? h("span", { class: "note" }, ` — ${est.note}`) : null))) : null,
    policy.detention_days ? h("p", {}, "Held: ", figure(policy.detention_days, days), " days") : null,
    policy.hiding?.p_caught_per_day ? h("p", {}, "Hiding here, caught per day: ", figure(policy.hiding.p_caught_per_day, pct)) : null,
    h("details", {}, h("summary", {}, "Sources of the policy"), sourceList([...(policy.source ?? []),
      ...outcomes.flatMap(([, est]) => est.source ?? [])], atlas)),
  ];
}

// An atlas estimate with its note, the figure first.
function figure(est, unit) {
  if (!est) return null;
  return h("span", {}, estimate(est, unit), est.note ? h("span", { class: "note" }, ` — ${est.note}`) : null);
}

function factors(effect) {
  const parts = [];
  if (effect.duration_factor) parts.push(`days ×${num(effect.duration_factor.value)}`);
  if (effect.p_intercept_factor) parts.push(`interception ×${num(effect.p_intercept_factor.value)}`);
  if (effect.cost_factor) parts.push(`cost ×${num(effect.cost_factor.value)}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

function sourcesOf(leg) {
  return ["duration_days", "cost_usd", "p_intercept", "distance_km"].flatMap((k) => leg[k]?.source ?? []);
}

/** The events in force on the network's date, and the legs the month's season changes. */
export function renderEvents(panel, network, atlas, onSelect) {
  const seasonal = (network?.legs ?? []).filter((l) => l.season);
  fill(panel.querySelector(".seasons-body"), seasonal.length
    ? h("ul", { class: "seasons" }, seasonal.map((l) => h("li", {},
      h("button", { type: "button", class: "link", onclick: () => onSelect({ kind: "leg", id: l.id }) }, atlas.legsById.get(l.id)?.name ?? l.id),
      l.in_use ? "" : " (not in use)", `: ${l.season}`)))
    : h("p", { class: "muted" }, "No leg has a season note this month."));
  const body = panel.querySelector(".events-body");
  const events = network?.events ?? [];
  if (!events.length) {
    fill(body, h("p", { class: "muted" }, `No event in the atlas is in force on ${network?.date ?? "this date"}.`));
    return;
  }
  // What each event does, in a line; its full account and sources one click away.
  fill(body, h("ul", { class: "events" }, events.map((e) => h("li", { "data-event": e.id },
    h("strong", {}, e.name),
    h("span", { class: "dates" }, ` ${e.date} to ${e.until ?? "now"}`),
    (e.effects ?? []).length ? h("ul", { class: "effects" }, e.effects.map((x) => h("li", {}, x))) : null,
    h("details", {}, h("summary", {}, "About it, and sources"), h("p", {}, e.description),
      sourceList(e.sources ?? e.source, atlas))))));
}
