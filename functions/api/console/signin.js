// Sign-in: the operator's bearer token, checked against the API before it is kept for the tab.

import { api, BULK, session } from "./api.js";
import { failure, fill, h } from "./dom.js";

export function render(main) {
  const token = h("input", { type: "password", name: "token", id: "token", autocomplete: "off", required: true });
  const status = h("div", { class: "status" });
  const form = h("form", { class: "card narrow", onsubmit: submit },
    h("h1", {}, "Sign in"),
    h("p", {}, "Your API token. It is kept in this tab only and forgotten when the tab closes."),
    h("label", { for: "token" }, "Bearer token"), token,
    h("button", { type: "submit" }, "Sign in"),
    status);
  fill(main, form);
  token.focus();

  async function submit(event) {
    event.preventDefault();
    session.signIn(token.value.trim());
    try {
      await api(BULK, { query: { per_page: 1 }, signOutOn401: false });
      // On to where the tab was going (a deep link), else my runs; the same fragment again fires no
      // hashchange, so the router is asked directly.
      const next = location.hash && location.hash !== "#/signin" ? location.hash : "#/runs";
      if (location.hash === next) window.dispatchEvent(new HashChangeEvent("hashchange"));
      else location.hash = next;
    } catch (error) {
      session.signOut();
      fill(status, failure(error.status === 401 ? new Error("That token is not known.") : error));
    }
  }
}
