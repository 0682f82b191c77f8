// What every page behind the login does first: ask for the session (the login page without
// one), fill the header with the user and the links their role may use, and wire "Log out".
// Nothing of the board is asked for before the session is known.

import { h, fill, message } from "/static/js/dom.js";
import { getJson, logout, session } from "./api.js";

// The links of the header, and the roles that see each (the server refuses the others anyway).
const LINKS = [
  { href: "/board/journeys", text: "Journeys", roles: ["coordinator", "partner", "auditor"] },
  { href: "/board/new", text: "New journey", roles: ["coordinator"] },
  { href: "/board/overdue", text: "Overdue", roles: ["coordinator", "partner", "auditor"] },
  { href: "/board/audit", text: "Audit log", roles: ["coordinator", "auditor"] },
  { href: "/board/users", text: "Users", roles: ["coordinator"] },
];

/** Start a page: returns {session, meta} once the user is known; redirects to login if not. */
export async function start() {
  const info = await session();
  const meta = await getJson("/meta");
  const nav = document.querySelector("#board-nav");
  if (nav) {
    const here = window.location.pathname;
    fill(
      nav,
      h(
        "ul",
        {},
        LINKS.filter((l) => l.roles.includes(info.role)).map((l) =>
          h("li", {}, h("a", { href: l.href, "aria-current": l.href === here ? "page" : null }, l.text)),
        ),
      ),
    );
  }
  const who = document.querySelector("#board-user");
  if (who) fill(who, `${info.user} (${info.role})`);
  document.querySelector("#board-logout")?.addEventListener("click", () => logout());
  return { session: info, meta, placeName: placeNamer(meta) };
}

function placeNamer(meta) {
  const names = new Map(meta.places.map((p) => [p.id, p.name]));
  return (id) => names.get(id) ?? id;
}

/** Show an error of a request in the page's status line, and put the focus on it. */
export function showError(el, err) {
  message(el, err.message || String(err), "error");
  el.focus?.();
}

/** Mark the page as ready (tests and benchmarks wait for it). */
export function ready() {
  document.body.dataset.ready = "true";
}

/** Fill a <select> with options [value, label]. */
export function options(select, pairs, selected) {
  fill(
    select,
    pairs.map(([value, label]) => h("option", { value, selected: String(value) === String(selected) }, label)),
  );
}
