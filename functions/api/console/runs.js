// My runs, newest first, 25 a page, refreshed every 5 s while on the first page.

import { api, BULK } from "./api.js";
import { count, failure, fill, h, refill, sequence, when } from "./dom.js";
import { bar, pager, statusBadge } from "./widgets.js";

export function render(main) {
  const body = h("div");
  fill(main, h("div", { class: "heading" }, h("h1", {}, "Runs"), h("a", { class: "button", href: "#/send" }, "Send a command")), body);
  const cursors = [null];
  const slot = sequence();
  let timer;
  let stopped = false;

  async function load() {
    clearTimeout(timer);
    const ticket = slot.next();
    const cursor = cursors[cursors.length - 1];
    try {
      const page = await api(BULK, { query: { per_page: 25, cursor } });
      if (stopped || !slot.current(ticket)) return;
      refill(body, [cursors, page], () => [table(page.data), pager(cursors, page.meta, load)]);
    } catch (error) {
      if (stopped || !slot.current(ticket)) return;
      fill(body, failure(error));
      if (error.status === 401) return;
    }
    if (cursors.length === 1) timer = setTimeout(load, 5000);
  }
  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function table(runs) {
  if (!runs.length) return h("p", { class: "empty" }, "No runs yet. ", h("a", { href: "#/send" }, "Send a command"), ".");
  return h("table", { class: "runs" },
    h("thead", {}, h("tr", {}, ["Run", "Command", "Status", "Progress", "Chargers", "Created"].map((t) => h("th", {}, t)))),
    h("tbody", {}, runs.map((run) => h("tr", {},
      h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(run.uuid)}` }, run.uuid.slice(0, 8))),
      h("td", {}, run.command),
      h("td", {}, statusBadge(run)),
      h("td", { class: "progress-cell" }, bar(run)),
      h("td", { class: "num" }, count(run.total_count)),
      h("td", {}, when(run.created_at))))));
}
