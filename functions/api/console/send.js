// Send a command: the command list and each command's official schema come from the API; the body
// is checked as it is typed (POST /v3/chargers/commands/check, the same rules and 422 as the run's
// POST) and sent with an Idempotency-Key, so a double click makes one run.

import { api, BULK } from "./api.js";
import { failure, fieldErrors, fill, h, pretty, sequence } from "./dom.js";
import { fleetFilters } from "./widgets.js";

const VERSIONS = [["ocpp1.6", "OCPP 1.6"], ["ocpp2.0.1", "OCPP 2.0.1"]];

export function render(main, { params }) {
  let key = `console-${randomId()}`;
  const command = h("select", { id: "command", name: "command", required: true });
  const data = h("textarea", { id: "data", name: "data", rows: 6, spellcheck: "false" }, "{}");
  const schema = h("div", { class: "schema" });
  const target = fleetFilters("target", params);
  const byTarget = target.given;
  const ids = h("textarea", { id: "charger-ids", name: "charger_ids", rows: 4, spellcheck: "false", placeholder: "Charger uuids, one per line (or separated by commas or spaces)" });
  const modeIds = h("input", { type: "radio", name: "mode", id: "mode-ids", value: "ids", checked: !byTarget });
  const modeTarget = h("input", { type: "radio", name: "mode", id: "mode-target", value: "target", checked: byTarget });
  const idsBox = h("div", { class: "mode-ids" }, ids);
  const targetBox = h("div", { class: "mode-target grid" }, target.labels);
  const instead = Object.fromEntries(VERSIONS.map(([version]) => [version, {
    on: h("input", { type: "checkbox", id: `instead-${version}` }),
    command: h("select", { id: `instead-${version}-command` }),
    data: h("textarea", { id: `instead-${version}-data`, rows: 3, spellcheck: "false" }, "{}"),
  }]));
  const timeout = h("input", { type: "number", id: "timeout", min: 1, max: 900, placeholder: "30" });
  const pace = h("input", { type: "number", id: "pace", min: 1, placeholder: "no limit" });
  const verdict = h("div", { class: "verdict", id: "verdict", "aria-live": "polite" });
  const submit = h("button", { type: "submit", id: "send" }, "Send");

  const form = h("form", { class: "card send", onsubmit: send, oninput: changed, onchange: changed },
    h("h1", {}, "Send a command"),
    h("label", { for: "command" }, "Command"), command, schema,
    h("label", { for: "data" }, "Data (JSON, checked against the command's schema)"), data,
    h("fieldset", {}, h("legend", {}, "Chargers"),
      h("label", { class: "inline" }, modeIds, " By id"), h("label", { class: "inline" }, modeTarget, " By what they are (the fleet view's filters)"),
      idsBox, targetBox),
    h("fieldset", {}, h("legend", {}, "A mixed fleet: send one version something else"),
      VERSIONS.map(([version, label]) => h("div", { class: "instead" },
        h("label", { class: "inline" }, instead[version].on, ` ${label} chargers get instead:`),
        instead[version].command, instead[version].data))),
    h("div", { class: "grid" }, h("label", {}, "Timeout (seconds)", timeout), h("label", {}, "At most, a second", pace)),
    verdict, submit);
  fill(main, form);

  let commands = [];
  let checkTimer;
  const slots = { schema: sequence(), check: sequence() };
  (async () => {
    try {
      commands = (await api("/v3/commands")).data;
    } catch (error) {
      fill(verdict, failure(error));
      return;
    }
    const options = (list) => list.map((c) => h("option", { value: c.command }, `${c.command} (${c.versions.map((v) => v.replace("ocpp", "")).join(", ")})`));
    fill(command, options(commands));
    command.value = params.get("command") ?? "Reset";
    for (const [version] of VERSIONS) fill(instead[version].command, options(commands.filter((c) => c.versions.includes(version))));
    showMode();
    showSchema();
    check();
  })();

  function showMode() {
    idsBox.hidden = !modeIds.checked;
    targetBox.hidden = !modeTarget.checked;
  }

  async function showSchema() {
    const ticket = slots.schema.next();
    try {
      const shown = (await api(`/v3/commands/${encodeURIComponent(command.value)}`)).data;
      if (!slots.schema.current(ticket)) return;
      fill(schema, Object.entries(shown.schemas).map(([version, s]) =>
        h("details", {}, h("summary", {}, `${version}: required ${(s.required ?? []).join(", ") || "nothing"}`), h("pre", {}, pretty(s)))));
    } catch (error) {
      fill(schema, failure(error));
    }
  }

  /** The request body as the form stands, or the fields whose JSON does not parse. */
  function body() {
    const broken = {};
    const parse = (field, text) => {
      try {
        return JSON.parse(text.trim() || "{}");
      } catch (error) {
        broken[field] = [`Not JSON: ${error.message}`];
        return null;
      }
    };
    const request = { command: command.value, data: parse("data", data.value) };
    if (modeIds.checked) {
      request.charger_ids = ids.value.split(/[\s,;]+/).filter(Boolean);
    } else {
      request.target = target.chosen();
      if (request.target.connected) request.target.connected = request.target.connected === "true";
    }
    const versions = {};
    for (const [version] of VERSIONS) {
      if (instead[version].on.checked) versions[version] = { command: instead[version].command.value, data: parse(`versions.${version}.data`, instead[version].data.value) };
    }
    if (Object.keys(versions).length) request.versions = versions;
    if (timeout.value) request.timeout_seconds = Number(timeout.value);
    if (pace.value) request.max_per_second = Number(pace.value);
    return Object.keys(broken).length ? { errors: broken } : { request };
  }

  function changed(event) {
    if (event.target === modeIds || event.target === modeTarget) showMode();
    for (const [version] of VERSIONS) {
      // Ticked: start from the run's own command, where the version has it.
      const choice = instead[version];
      if (event.target === choice.on && choice.on.checked && [...choice.command.options].some((o) => o.value === command.value)) {
        choice.command.value = command.value;
      }
    }
    if (event.target === command && event.type === "change") showSchema();
    clearTimeout(checkTimer);
    checkTimer = setTimeout(check, 350);
  }

  async function check() {
    const ticket = slots.check.next();
    const { request, errors } = body();
    showTarget(request);
    if (errors) return fill(verdict, fieldErrors({ errors }));
    try {
      const checked = (await api("/v3/chargers/commands/check", { method: "POST", body: request })).data;
      if (!slots.check.current(ticket)) return;
      fill(verdict, h("ul", { class: "checked" }, Object.entries(checked.versions).map(([version, v]) =>
        h("li", { class: v.sent ? "ok" : "muted" }, `${version} chargers: `, v.sent ? `${v.command} is sent` : v.reason))));
      return true;
    } catch (error) {
      if (!slots.check.current(ticket)) return;
      fill(verdict, error.status === 422 ? [h("p", { class: "error" }, "Not sendable yet:"), fieldErrors(error.body)] : failure(error));
      return false;
    }
  }

  /** A target without a filter is every charger of the caller's: the button says so. */
  function showTarget(request) {
    const everyCharger = request?.target && Object.keys(request.target).length === 0;
    fill(submit, everyCharger ? "Send to every charger of yours" : "Send");
    submit.classList.toggle("danger", Boolean(everyCharger));
  }

  async function send(event) {
    event.preventDefault();
    clearTimeout(checkTimer);
    slots.check.next();
    const { request, errors } = body();
    if (errors) return fill(verdict, fieldErrors({ errors }));
    submit.disabled = true;
    try {
      const created = await api(BULK, { method: "POST", body: request, headers: { "Idempotency-Key": key } });
      location.hash = `#/runs/${created.data.uuid}`;
    } catch (error) {
      fill(verdict, failure(error), fieldErrors(error.body));
      // Refused as it stands, so nothing was made: a corrected form is a new request. Any other
      // failure (409: the first is still being made, 429, 5xx, no answer) keeps the key, so sending
      // again can only ever make the one run.
      if ([400, 413, 422].includes(error.status)) key = `console-${randomId()}`;
      submit.disabled = false;
    }
  }
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
