// The fleet view: my chargers as they last said of themselves, filtered as GET /v3/chargers filters,
// 25 a page, with the OCPP versions and firmware on the page counted; "send to these" opens the
// send form with the filter as its target.

import { api } from "./api.js";
import { count, failure, fill, h, when } from "./dom.js";
import { pager } from "./widgets.js";

const FIELDS = [["team", "Team"], ["vendor", "Vendor"], ["model", "Model"], ["firmware", "Firmware"], ["firmware_below", "Firmware below"]];

export function render(main, { params }) {
  const inputs = Object.fromEntries(FIELDS.map(([name]) => [name, h("input", { name, id: `f-${name}`, value: params.get(name) ?? "" })]));
  const connected = h("select", { name: "connected", id: "f-connected" },
    [["", "Any"], ["true", "Connected"], ["false", "Not connected"]].map(([value, label]) =>
      h("option", { value, selected: params.get("connected") === value }, label)));
  const body = h("div");
  const form = h("form", { class: "filters-form", onsubmit: (event) => { event.preventDefault(); location.hash = `#/fleet?${query()}`; } },
    FIELDS.map(([name, label]) => h("label", {}, label, inputs[name])),
    h("label", {}, "Connection", connected),
    h("button", { type: "submit" }, "Filter"));
  fill(main,
    h("div", { class: "heading" }, h("h1", {}, "Fleet"), h("a", { class: "button", href: `#/send?${query()}` }, "Send a command to these")),
    h("section", { class: "card" }, form), body);

  function filters() {
    const chosen = Object.fromEntries(FIELDS.map(([name]) => [name, inputs[name].value.trim()]).filter(([, v]) => v));
    if (connected.value) chosen.connected = connected.value;
    return chosen;
  }
  function query() {
    return new URLSearchParams(filters()).toString();
  }

  const cursors = [null];
  async function load() {
    try {
      const page = await api("/v3/chargers", { query: { ...filters(), per_page: 25, cursor: cursors[cursors.length - 1] } });
      fill(body, h("section", { class: "card" }, versions(page.data), table(page.data), pager(cursors, page.meta, load)));
    } catch (error) {
      fill(body, failure(error));
      if (error.body?.errors) body.append(h("p", {}, Object.values(error.body.errors).flat().join(" ")));
    }
  }
  load();
}

/** What the chargers on this page run: OCPP versions and firmware, with their counts. */
function versions(chargers) {
  const tallies = (key) => {
    const seen = new Map();
    for (const charger of chargers) seen.set(charger[key] ?? "unknown", (seen.get(charger[key] ?? "unknown") ?? 0) + 1);
    return [...seen].sort((a, b) => b[1] - a[1]).map(([name, n]) => h("span", { class: "chip" }, `${name} × ${count(n)}`));
  };
  return h("div", { class: "versions" },
    h("div", {}, h("strong", {}, "OCPP on this page: "), tallies("ocpp_version")),
    h("div", {}, h("strong", {}, "Firmware on this page: "), tallies("firmware")));
}

function table(chargers) {
  if (!chargers.length) return h("p", { class: "empty" }, "No charger matches.");
  return h("table", { class: "fleet" },
    h("thead", {}, h("tr", {}, ["Charger", "Team", "Connected", "OCPP", "Vendor / model", "Firmware", "Last seen", "Connectors"].map((t) => h("th", {}, t)))),
    h("tbody", {}, chargers.map((c) => h("tr", {},
      h("td", {}, h("div", {}, c.identity), h("div", { class: "muted" }, c.reference)),
      h("td", {}, c.team),
      h("td", {}, h("span", { class: `badge ${c.connected ? "sent" : "offline"}` }, c.connected ? "yes" : "no")),
      h("td", {}, c.ocpp_version ?? "—"),
      h("td", {}, [c.vendor, c.model].filter(Boolean).join(" / ") || "—"),
      h("td", {}, c.firmware ?? "—"),
      h("td", {}, when(c.last_seen)),
      h("td", {}, c.connectors.map((k) => h("span", { class: "chip" }, `${k.evse_id !== undefined ? `${k.evse_id}/` : ""}${k.connector_id}: ${k.status}`)))))));
}
