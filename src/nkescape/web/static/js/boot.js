// The page's first requests, started as soon as this small module arrives (index.html loads it
// async, ahead of d3 and the rest), rather than once d3 and every module have run: the data
// then come in while the scripts load. app.js takes the answers from here.

import { getJson, query } from "./api.js";

// The basemap ships with the page (scripts/vendor-web crops it from world-atlas).
const BASEMAP = "static/data/east-asia-50m.json";

/** The date the map first shows: this month of this year, on the reader's clock. */
const today = new Date();
export const firstDate = { month: today.getMonth() + 1, year: today.getFullYear() };

/** The network path for a month and year (strings or numbers). */
export const networkPath = (month, year) => `api/network${query({ month, year })}`;

const started = {
  meta: getJson("api/meta"),
  atlas: getJson("api/atlas"),
  atlasGeo: getJson("api/atlas.geojson"),
  basemap: getJson(BASEMAP),
  network: getJson(networkPath(firstDate.month, firstDate.year)),
};
// Errors are reported where app.js awaits each answer, not as unhandled rejections here.
for (const answer of Object.values(started)) answer.catch(() => {});

export const early = started;
