// Formatting of the board's times and figures for reading. Every time is shown in UTC, as the
// server keeps it, and says so: a coordinator and a partner in different zones read the same.

const integer = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
const HOURS_PER_DAY = 24;
const MS_PER_DAY = 86_400_000;

/** An ISO time as "2017-09-03 02:09 UTC"; "–" for none. */
export function time(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Days after departure (midnight UTC of the departure date) as a time. */
export function afterDeparture(departure, days) {
  const start = Date.parse(`${departure}T00:00:00Z`);
  if (Number.isNaN(start) || typeof days !== "number") return "–";
  return time(new Date(start + days * MS_PER_DAY).toISOString());
}

/** Days as "0.3 d" below 10, "12 d" above. */
export function days(x) {
  if (typeof x !== "number" || !Number.isFinite(x)) return "–";
  return `${x < 10 ? oneDecimal.format(x) : integer.format(x)} d`;
}

/** Hours late as "5.2 h" under a day, "3 d 4 h" under a month, "81 d" beyond. */
export function late(hours) {
  if (typeof hours !== "number" || !Number.isFinite(hours)) return "–";
  if (hours < HOURS_PER_DAY) return `${oneDecimal.format(hours)} h`;
  const d = Math.floor(hours / HOURS_PER_DAY);
  const h = Math.round(hours - d * HOURS_PER_DAY);
  return d >= 30 ? `${integer.format(d)} d` : `${d} d ${h} h`;
}

/** US dollars, whole. */
export function usd(x) {
  return typeof x === "number" && Number.isFinite(x) ? `US$${integer.format(x)}` : "–";
}

/** A status word for reading: "lost-contact" -> "lost contact". */
export const words = (s) => String(s ?? "").replaceAll("-", " ");
