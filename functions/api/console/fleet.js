// The fleet view: my chargers as they last said of themselves, filtered as GET /v3/chargers filters,
// 25 a page, with the OCPP versions and firmware on the page counted; "send to these" opens the
// send form with the filter as its target.

import { api } from "./api.js";
import { count, countBy, failure, fill, h, when } from "./dom.js";
import { fleetFilters, pager } from "./widgets.js";

export function render(main, { params }) {
  const { labels, chosen: filters } = fleetFilters("f", params);
  const body = h("div");
  const form = h("form", { class: "filters-form", onsubmit: (event) => { event.preventDefault(); location.hash = `#/fleet?${query()}`; } },
    labels,
    h("button", { type: "submit" }, "Filter"));
  fill(main,
    h("div", { class: "heading" }, h("h1", {}, "Fleet"), h("a", { class: "button", href: `#/send?${query()}` }, "Send a command to these")),
    h("section", { class: "card" }, form), body);

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
  const tallies = (key) => countBy(chargers, (charger) => charger[key] ?? "unknown")
    .map(([name, n]) => h("span", { class: "chip" }, `${name} × ${count(n)}`));
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
