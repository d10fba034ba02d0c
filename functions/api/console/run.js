// One run, live while it runs: its figures and bar (the run alone, every 2 s), its results filtered
// by status and paged 25 at a time, the messages grouped, each result's response and report, and
// retry / cancel / pause / resume; a rollout's wave and an outcome's state. Nothing here reads the
// whole run: a page, or at most 1,000 results for the groups.

import { api, BULK } from "./api.js";
import { count, countBy, failure, fieldErrors, fill, h, pretty, refill, sequence, when } from "./dom.js";
import { bar, figures, pager, STATUSES, state, statusBadge, tally } from "./widgets.js";

const PER_PAGE = 25;
/** How many results of the filter the message groups are counted over. */
const GROUPED = 1000;
/** The filters whose messages are grouped as soon as they are shown: the failures'. Others on request. */
const GROUPED_AT_ONCE = ["error", "offline", "skipped_forbidden"];

export function render(main, { id, params }) {
  const path = `${BULK}/${encodeURIComponent(id)}`;
  const filter = params.get("status") ?? "";
  const summary = h("section", { class: "card" }, h("p", {}, "Loading…"));
  const actions = h("div", { class: "actions" });
  const notice = h("div", { class: "notice" });
  const results = h("div");
  const groups = h("div", { class: "groups" });
  const report = h("div", { class: "report" });
  const filters = h("nav", { class: "filters", "aria-label": "Filter results by status" });
  fill(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/runs" }, "Runs"), " / ", id),
    summary, actions, notice,
    h("section", { class: "card" }, h("h2", {}, "Results"), filters, results),
    h("section", { class: "card" }, h("h2", {}, "Messages"), groups),
    report);

  const cursors = [null];
  let run = null;
  let timers = [];
  let stopped = false;
  let confirming = false;
  const later = (fn, ms) => timers.push(setTimeout(fn, ms));
  const slots = { results: sequence(), groups: sequence(), report: sequence() };

  /** Reads the run's figures: true when shown; "gone" for a 404; false for a failure worth retrying. */
  async function loadRun() {
    try {
      run = (await api(path, { query: { results: 0 } })).data;
    } catch (error) {
      if (stopped) return false;
      if (error.status === 404 || !run) {
        stopped = error.status === 404 || error.status === 401;
        fill(summary, error.status === 404 ? h("p", { class: "error", role: "alert" }, "Not found: no run of yours has this id.") : failure(error));
        fill(actions);
        return error.status === 404 ? "gone" : false;
      }
      // The last figures stay; the page says why they are not fresh and tries again.
      fill(notice, h("p", { class: "error" }, `Live updates paused: ${error.message} Trying again.`));
      notice.dataset.kind = "stale";
      return false;
    }
    if (stopped) return false;
    if (notice.dataset.kind === "stale") {
      fill(notice);
      delete notice.dataset.kind;
    }
    showSummary();
    return true;
  }

  function showSummary() {
    const link = (status) => `#/runs/${encodeURIComponent(id)}?status=${status}`;
    refill(summary, run, () => [
      h("div", { class: "heading" }, h("h1", {}, run.command, " ", statusBadge(run)), h("code", { class: "uuid" }, run.uuid)),
      bar(run), figures(run, link),
      h("dl", { class: "facts" },
        fact("Created", when(run.created_at)),
        fact("Completed", when(run.completed_at)),
        run.cancelled_at && fact("Cancelled", when(run.cancelled_at)),
        fact("Timeout", `${run.timeout_seconds ?? "—"} s`),
        run.max_per_second && fact("Pace", `${count(run.max_per_second)} a second`),
        run.target && fact("Target", h("code", {}, JSON.stringify(run.target))),
        run.retry_of && fact("Retries", h("a", { href: `#/runs/${encodeURIComponent(run.retry_of)}` }, run.retry_of)),
        run.retries?.length > 0 && fact("Retried by", run.retries.map((r) => h("a", { href: `#/runs/${encodeURIComponent(r)}` }, r.slice(0, 8), " "))),
        run.webhook && fact("Webhook", `${run.webhook.state}, ${run.webhook.attempts} attempt(s)${run.webhook.last_error ? `: ${run.webhook.last_error}` : ""}`),
        run.outcome && fact("Outcomes", ["succeeded", "failed", "stalled", "open"].map((s) => `${count(run.outcome[`${s}_count`])} ${s}`).join(" · ")),
        run.rollout && fact("Rollout", rolloutLine(run)),
        run.rollout?.held && fact("Held", run.rollout.held),
        run.rollout?.abort_reason && fact("Aborted", run.rollout.abort_reason),
        run.paused_at && fact("Paused", when(run.paused_at))),
      h("details", { "data-key": "data" }, h("summary", {}, "Command data"), h("pre", {}, pretty({ data: run.data, versions: run.versions }))),
    ]);
    const counts = [["", "All", run.total_count], ...STATUSES.map(([s, , label]) => [s, label, tally(run, s)])];
    refill(filters, counts, () => counts.map(([status, label, n]) =>
      h("a", { href: status ? link(status) : `#/runs/${encodeURIComponent(id)}`, class: status === filter ? "current" : null }, `${label} ${count(n)}`)));
    showActions();
  }

  /** What the retry button retries: offline and error, and failed and stalled outcomes. */
  const RETRIED = ["offline", "error"];
  const RETRIED_OUTCOMES = ["failed", "stalled"];

  function showActions() {
    const failed = tally(run, "error") + tally(run, "offline")
      + (run.outcome ? RETRIED_OUTCOMES.reduce((sum, s) => sum + (run.outcome[`${s}_count`] ?? 0), 0) : 0);
    const running = !run.completed_at;
    const cancellable = running && !run.cancelled_at;
    const paused = run.status === "paused";
    confirming = confirming && cancellable;
    const state = { failed, running, cancellable, confirming, paused };
    refill(actions, state, () => [
      // A run is retried once it has ended (the API refuses a running one).
      h("button", { type: "button", disabled: running || failed === 0, onclick: retryFailures }, `Retry ${count(failed)} failed`),
      h("button", { type: "button", class: "secondary", disabled: !cancellable, onclick: () => act(paused ? "resume" : "pause") },
        paused ? "Resume" : "Pause"),
      h("button", { type: "button", class: "danger", disabled: !cancellable, onclick: confirming ? cancelRun : confirmCancel },
        confirming ? "Confirm: cancel this run" : "Cancel run"),
    ]);
  }

  async function act(action) {
    try {
      run = (await api(`${path}/${action}`, { method: "POST", query: { results: 0 } })).data;
      fill(notice, h("p", { class: "ok" }, action === "pause" ? "Paused: CALLs already out end as they do; nothing new starts." : "Resumed."));
      showSummary();
    } catch (error) {
      fill(notice, failure(error));
    }
  }

  function confirmCancel() {
    confirming = true;
    showActions();
  }

  async function cancelRun() {
    try {
      run = (await api(`${path}/cancel`, { method: "POST", query: { results: 0 } })).data;
      confirming = false;
      fill(notice, h("p", { class: "ok" }, "Cancelled: what was not sent ends as cancelled."));
      showSummary();
    } catch (error) {
      fill(notice, failure(error));
    }
  }

  async function retryFailures() {
    try {
      const statuses = run.outcome ? [...RETRIED, ...RETRIED_OUTCOMES] : RETRIED;
      const retry = await api(`${path}/retry`, { method: "POST", body: { statuses }, headers: { "Idempotency-Key": `console-retry-${run.uuid}-${run.retries?.length ?? 0}` } });
      location.hash = `#/runs/${retry.data.uuid}`;
    } catch (error) {
      fill(notice, failure(error), fieldErrors(error.body));
    }
  }

  async function loadResults() {
    const ticket = slots.results.next();
    try {
      const page = await api(`${path}/results`, { query: { status: filter, per_page: PER_PAGE, cursor: cursors[cursors.length - 1] } });
      if (!slots.results.current(ticket) || stopped) return;
      refill(results, [cursors, page], () => [resultTable(page.data), pager(cursors, page.meta, loadResults)]);
    } catch (error) {
      if (slots.results.current(ticket)) fill(results, failure(error));
    }
  }

  async function loadGroups() {
    const ticket = slots.groups.next();
    try {
      const page = await api(`${path}/results`, { query: { status: filter, per_page: GROUPED } });
      if (!slots.groups.current(ticket) || stopped) return;
      fill(groups, messageGroups(page.data, page.meta.next_cursor !== null));
    } catch (error) {
      if (slots.groups.current(ticket)) fill(groups, failure(error));
    }
  }

  function resultTable(rows) {
    if (!rows.length) return h("p", { class: "empty" }, "No results here yet.");
    return h("table", { class: "results" },
      h("thead", {}, h("tr", {}, ["Charger", "Status", "Message", "Executed", "Response"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.map((result) => h("tr", {},
        h("td", {}, h("div", {}, result.charger?.identity ?? result.charger_uuid), h("div", { class: "muted" }, result.charger?.reference)),
        h("td", {}, h("span", { class: `badge ${result.status}` }, result.status),
          result.outcome && [" ", h("span", { class: `badge ${result.outcome.state}`, title: result.outcome.message ?? result.outcome.status ?? "" }, result.outcome.state)]),
        h("td", { class: "message" }, result.outcome ? `${result.message ?? ""} ${result.outcome.message ?? result.outcome.status ?? ""}`.trim() : result.message),
        h("td", {}, when(result.executed_at)),
        h("td", {}, responseCell(result))))));
  }

  function responseCell(result) {
    return [
      result.response && h("details", { "data-key": result.charger_uuid }, h("summary", {}, "Response"), h("pre", {}, pretty(result.response))),
      result.report && h("button", { type: "button", class: "secondary small", onclick: () => loadReport(result.report.position) },
        `Report: ${count(result.report.parts)} part(s)${result.report.complete ? "" : ", incomplete"}`),
    ];
  }

  async function loadReport(position, cursor) {
    const ticket = slots.report.next();
    try {
      const page = await api(`${path}/reports/${encodeURIComponent(position)}`, { query: { cursor } });
      if (!slots.report.current(ticket) || stopped) return;
      const more = page.meta.next_cursor && h("button", { type: "button", class: "secondary", onclick: () => loadReport(position, page.meta.next_cursor) }, "Next page of the report");
      fill(report, h("section", { class: "card" },
        h("h2", {}, `Report of result ${position}`),
        h("p", {}, `Request ${page.data.request_id}, ${count(page.data.parts)} part(s), ${page.data.complete ? "complete" : "incomplete"}, ${count(page.data.data.length)} entries on this page`),
        h("pre", { class: "report-data" }, pretty(page.data.data)), more));
      report.scrollIntoView();
    } catch (error) {
      if (slots.report.current(ticket)) fill(report, failure(error));
    }
  }

  /** Every 2 s while the run runs (and once more as it ends): its figures, and page 1 of its results. */
  async function tick(failures = 0) {
    if (stopped) return;
    const wasRunning = run && !run.completed_at;
    const shown = await loadRun();
    if (shown === "gone" || stopped) return;
    if (!shown) {
      // Backs off to 30 s while the API fails, and goes on.
      later(() => tick(failures + 1), Math.min(30000, 2000 * 2 ** failures));
      return;
    }
    const running = !run.completed_at;
    if (running || wasRunning) {
      if (cursors.length === 1) await loadResults();
      if (!running && grouping) await loadGroups();
    }
    if (running) later(tick, 2000);
  }

  let grouping = GROUPED_AT_ONCE.includes(filter);
  const groupOnRequest = () => {
    fill(groups, h("button", { type: "button", class: "secondary", onclick: () => { grouping = true; loadGroups(); } },
      `Group the messages of up to ${count(GROUPED)} results`));
  };

  (async () => {
    if ((await loadRun()) !== true) return;
    await Promise.all([loadResults(), grouping ? loadGroups() : groupOnRequest()]);
    if (!run.completed_at) {
      later(tick, 2000);
      const regroup = async () => {
        if (stopped || run.completed_at) return;
        if (grouping) await loadGroups();
        later(regroup, 10000);
      };
      later(regroup, 10000);
    }
  })();
  return () => { stopped = true; timers.forEach(clearTimeout); timers = []; };
}

/** "wave 2 of 3 (10, 20, 20)", and when it starts or why it waits. */
function rolloutLine(run) {
  const r = run.rollout;
  const sizes = r.wave_sizes ?? [];
  const parts = [`wave ${r.wave} of ${sizes.length} (${sizes.map(count).join(", ")})`];
  if (run.status === "scheduled" && r.start_at) parts.push(`starts ${when(r.start_at)}`);
  if (r.outside_window) parts.push("outside its window");
  if (r.window) parts.push(`window ${r.window.from}–${r.window.to} ${r.window.time_zone}`);
  return parts.join(" · ");
}

function fact(label, value) {
  return h("div", {}, h("dt", {}, label), h("dd", {}, value));
}

/** The results' messages, most frequent first, each with its count. */
function messageGroups(rows, partial) {
  const sorted = countBy(rows, (result) => result.message ?? "(no message)");
  if (!sorted.length) return h("p", { class: "empty" }, "No results here yet.");
  return [
    h("p", { class: "muted" }, partial ? `Over the first ${count(rows.length)} results of this filter.` : `Over all ${count(rows.length)} results of this filter.`),
    h("table", { class: "groups" }, h("tbody", {}, sorted.map(([message, n]) =>
      h("tr", {}, h("td", { class: "num" }, count(n)), h("td", { class: "message" }, message))))),
  ];
}
