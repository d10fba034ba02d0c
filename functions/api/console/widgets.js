// Pieces several views share: a run's status, its progress bar and figures, and a pager.

import { count, h } from "./dom.js";

/** The statuses a result may have, in the order the bar shows them. */
export const STATUSES = [
  ["sent", "sent_count", "Sent"],
  ["error", "error_count", "Error"],
  ["offline", "offline_count", "Offline"],
  ["skipped_forbidden", "skipped_count", "Skipped"],
  ["pending", null, "Pending"],
];

/** How many of the run's results have `status` (pending: those not yet counted). */
export function tally(run, status) {
  const [, field] = STATUSES.find(([name]) => name === status);
  if (field) return run[field] ?? 0;
  const counted = STATUSES.reduce((sum, [, f]) => sum + (f ? run[f] ?? 0 : 0), 0);
  return Math.max(0, (run.total_count ?? 0) - counted);
}

/** scheduled, running, paused, aborted, completed or cancelled. */
export function state(run) {
  if (run.status === "aborted") return "aborted";
  if (run.cancelled_at) return run.status === "completed" ? "cancelled" : "cancelling";
  return run.status;
}

export function statusBadge(run) {
  const name = state(run);
  return h("span", { class: `badge ${name}` }, name);
}

/** A bar of the run's results by status, each segment as wide as its share. */
export function bar(run) {
  const total = Math.max(1, run.total_count ?? 0);
  const segments = STATUSES.map(([status, , label]) => {
    const n = tally(run, status);
    const segment = h("span", { class: `segment ${status}`, title: `${label}: ${count(n)}` });
    segment.style.width = `${(100 * n) / total}%`;
    return segment;
  });
  return h("div", { class: "bar-chart", role: "img", "aria-label": figuresText(run) }, segments);
}

function figuresText(run) {
  return STATUSES.map(([status, , label]) => `${label} ${count(tally(run, status))}`).join(", ");
}

/** The figures under the bar: one per status, each a link that filters the results by it. */
export function figures(run, link) {
  return h("dl", { class: "figures" }, STATUSES.map(([status, , label]) =>
    h("div", { class: `figure ${status}` },
      h("dt", {}, link ? h("a", { href: link(status) }, label) : label),
      h("dd", { "data-status": status }, count(tally(run, status))))),
  h("div", { class: "figure total" }, h("dt", {}, "Total"), h("dd", {}, count(run.total_count))));
}

/**
 * The fleet view's filters (GET /v3/chargers, and a run's `target`) as inputs with ids `{prefix}-…`,
 * filled from `params`: `labels` to place in a form, `chosen()` the filters filled in (`connected`
 * as "true" or "false"), and `given`, whether `params` named any.
 */
export function fleetFilters(prefix, params) {
  const fields = [["team", "Team"], ["vendor", "Vendor"], ["model", "Model"], ["firmware", "Firmware"], ["firmware_below", "Firmware below"]];
  const inputs = Object.fromEntries(fields.map(([name]) => [name, h("input", { name, id: `${prefix}-${name}`, value: params.get(name) ?? "" })]));
  const connected = h("select", { name: "connected", id: `${prefix}-connected` },
    [["", "Any"], ["true", "Connected"], ["false", "Not connected"]].map(([value, label]) =>
      h("option", { value, selected: params.get("connected") === value }, label)));
  const chosen = () => {
    const filled = Object.fromEntries(fields.map(([name]) => [name, inputs[name].value.trim()]).filter(([, value]) => value));
    if (connected.value) filled.connected = connected.value;
    return filled;
  };
  return {
    labels: [...fields.map(([name, label]) => h("label", {}, label, inputs[name])), h("label", {}, "Connection", connected)],
    chosen,
    given: fields.some(([name]) => params.has(name)) || params.has("connected"),
  };
}

/**
 * Previous / next over a cursor-paged route. `cursors` is the stack of cursors that led to this
 * page (null first); `load` is called after it changes.
 */
export function pager(cursors, meta, load) {
  const previous = h("button", { type: "button", class: "secondary", disabled: cursors.length === 1, onclick: () => { cursors.pop(); load(); } }, "← Previous");
  const next = h("button", { type: "button", class: "secondary", disabled: !meta?.next_cursor, onclick: () => { cursors.push(meta.next_cursor); load(); } }, "Next →");
  return h("div", { class: "pager" }, previous, h("span", {}, `Page ${cursors.length}`), next);
}
