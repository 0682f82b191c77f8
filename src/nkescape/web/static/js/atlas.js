// The atlas as the API sends it (GET /api/atlas, the same JSON as `nkescape atlas show --json`),
// indexed by id for the details panel and the planner's pickers.

import { h } from "./dom.js";

export function indexAtlas(json, basemap) {
  const byId = (items) => new Map((items ?? []).map((x) => [x.id, x]));
  const places = byId(json.places);
  const countryNames = new Map(
    basemap.objects.countries.geometries.map((g) => [g.id, g.properties.name]),
  );
  return {
    json,
    places: json.places,
    legs: json.legs,
    profiles: json.profiles ?? [],
    placesById: places,
    legsById: byId(json.legs),
    sourcesById: byId(json.sources),
    policiesById: byId(json.policies),
    placeName: (id) => places.get(id)?.name ?? id,
    // The basemap names the countries it draws; others (GB) show their code.
    countryName: (code) => countryNames.get(code) ?? code,
  };
}

/** The sources behind a figure, as a list: title, publisher and year, with the address. */
export function sourceList(ids, atlas) {
  const unique = [...new Set(ids ?? [])];
  if (!unique.length) return h("p", { class: "muted" }, "No source listed.");
  return h(
    "ul",
    { class: "sources" },
    unique.map((id) => {
      const s = atlas.sourcesById.get(id);
      if (!s) return h("li", {}, h("code", {}, id));
      const about = [s.publisher, s.year].filter(Boolean).join(", ");
      // A link is only followed if the reader clicks it; the page itself never loads it.
      const link = s.url
        ? h("a", { href: s.url, rel: "noopener noreferrer external", target: "_blank" }, s.url)
        : null;
      return h(
        "li",
        {},
        h("span", { class: "source-title" }, s.title),
        about ? ` (${about})` : "",
        " ",
        h("code", { class: "source-id" }, `[${id}]`),
        link ? h("br") : null,
        link,
      );
    }),
  );
}
