// Formatting of the API's numbers for reading. Nothing here changes a value's meaning: the page
// computes nothing of the model itself, it only rounds and labels what the API sends.

const LOCALE = "en";
const integer = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1 });
const twoSignificant = new Intl.NumberFormat(LOCALE, { maximumSignificantDigits: 2 });

// Probabilities below this print with more digits, so a small risk does not read as 0%.
const SMALL_SHARE = 0.01;

const isNumber = (x) => typeof x === "number" && Number.isFinite(x);

/** A probability as a percentage: 0.1921 -> "19.2%", 0.004 -> "0.4%". */
export function pct(p) {
  if (!isNumber(p)) return "–";
  if (p > 0 && p < SMALL_SHARE) return `${twoSignificant.format(p * 100)}%`;
  return `${oneDecimal.format(p * 100)}%`;
}

/** A range of probabilities [low, high] as "9.4–39.3%". */
export function pctRange(range) {
  if (!Array.isArray(range) || range.length !== 2) return "";
  return `${pct(range[0]).replace("%", "")}–${pct(range[1])}`;
}

/** US dollars, whole: 57617 -> "US$57,617". */
export function usd(x) {
  return isNumber(x) ? `US$${integer.format(x)}` : "–";
}

/** Dollars without the sign, for a column headed US$: 57617 -> "57,617". */
export function dollars(x) {
  return isNumber(x) ? integer.format(x) : "–";
}

/** Days with one decimal below 10 and none above: 0.44 -> "0.4", 118.5 -> "119". */
export function days(x) {
  if (!isNumber(x)) return "–";
  return x < 10 ? oneDecimal.format(x) : integer.format(x);
}

/** A plain number, rounded for reading. */
export function num(x) {
  if (!isNumber(x)) return "–";
  return Math.abs(x) >= 10 ? integer.format(x) : twoSignificant.format(x);
}

/** A count: 20000 -> "20,000". */
export function count(x) {
  return isNumber(x) ? integer.format(x) : "–";
}

/**
 * One of the atlas's estimates or the network's figures, whatever form it takes:
 * {low, high}, {low, mid, high}, {median, p90} or {value}. `unit` formats each number.
 */
export function estimate(e, unit = num) {
  if (e === null || e === undefined) return "–";
  if (isNumber(e)) return unit(e);
  if (isNumber(e.value)) return unit(e.value);
  if (isNumber(e.median)) {
    const p90 = isNumber(e.p90) ? ` (p90 ${unit(e.p90)})` : "";
    return `median ${unit(e.median)}${p90}`;
  }
  if (isNumber(e.low) && isNumber(e.high)) {
    const range = e.low === e.high ? unit(e.low) : `${unit(e.low)} to ${unit(e.high)}`;
    return isNumber(e.mid) ? `${unit(e.mid)} (${range})` : range;
  }
  return "–";
}

/** The single number the API gives for an estimate (mid, median or value), for colour. */
export function central(e) {
  if (e === null || e === undefined) return null;
  if (isNumber(e)) return e;
  for (const key of ["mid", "median", "value"]) if (isNumber(e[key])) return e[key];
  return null;
}
