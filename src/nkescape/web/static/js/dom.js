// Small helpers for building the page's HTML safely: text always goes in as text, never as
// markup, since much of it (notes, names) comes from atlas files an overlay can change.

/**
 * Create an element: h("p", {class: "x"}, "text", child, ...). Attributes whose value is
 * null, undefined or false are left out; true gives an empty attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    // Through the CSS object model: the server's Content-Security-Policy (style-src 'self')
    // refuses style attributes, not styles set from a script of its own.
    else if (key === "style") el.style.cssText = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything in `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A definition list from [term, value] pairs, leaving out pairs whose value is empty. */
export function dl(pairs, attrs = {}) {
  const list = h("dl", attrs);
  for (const [term, value, ddAttrs] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    list.append(h("dt", {}, term), h("dd", ddAttrs ?? {}, value));
  }
  return list;
}

/** Show a message of some kind ("error", "warning", "info") in `el`, or clear it. */
export function message(el, text, kind = "info") {
  el.classList.remove("is-error", "is-warning", "is-info");
  if (!text) {
    el.textContent = "";
    return;
  }
  el.classList.add(`is-${kind}`);
  el.textContent = text;
}
