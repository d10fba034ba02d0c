// Building the page from data. Everything passed as a child becomes a text node, so what a charger
// sent (a message, a response, a report) is shown as text and never parsed as HTML: there is no
// innerHTML anywhere in the console.

/** An element: `h("a", {href: "#/runs", class: "x", onclick: fn}, "text", otherElement, [more])`. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "value") element.value = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

/** Appends children: elements as they are, anything else as text; null, undefined and false skipped. */
export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Replaces an element's children. */
export function fill(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

/** A date-time from the API, in the browser's zone, to the second; "—" for none. */
export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString(undefined, { hour12: false });
}

/** A count with thousands separators. */
export function count(n) {
  return Number(n ?? 0).toLocaleString("en");
}

/** How many of `items` have each `key(item)`, the most first: `[[value, n], …]`. */
export function countBy(items, key) {
  const seen = new Map();
  for (const item of items) seen.set(key(item), (seen.get(key(item)) ?? 0) + 1);
  return [...seen].sort((a, b) => b[1] - a[1]);
}

/** JSON as indented text, for a <pre>. */
export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

/** A line saying what went wrong, for an error thrown by `api`. */
export function failure(error) {
  return h("p", { class: "error", role: "alert" }, error?.message ?? String(error));
}

/** The validation errors of a 422, field by field. */
export function fieldErrors(body) {
  const errors = body?.errors ?? {};
  const items = Object.entries(errors).flatMap(([field, messages]) =>
    messages.map((message) => h("li", {}, h("code", {}, field), " ", message)));
  return items.length ? h("ul", { class: "errors" }, items) : null;
}

/**
 * Numbers a view's requests of one kind, so that only the answer to the latest is shown: an older
 * answer arriving late (a poll overtaken by a click on Next) is dropped.
 * `const t = slot.next(); const page = await api(…); if (!slot.current(t)) return;`
 */
export function sequence() {
  let latest = 0;
  return { next: () => ++latest, current: (ticket) => ticket === latest };
}

/**
 * Replaces an element's children unless the data they show is unchanged, keeping which of its
 * <details> were open (by their `data-key`), so a poll neither flickers nor closes what was opened.
 */
export function refill(element, data, build) {
  const text = JSON.stringify(data);
  if (element.dataset.shown === text) return;
  const open = new Set([...element.querySelectorAll("details[open]")].map((d) => d.dataset.key));
  fill(element, build());
  for (const details of element.querySelectorAll("details")) details.open = open.has(details.dataset.key);
  element.dataset.shown = text;
}
