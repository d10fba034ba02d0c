// The console's router: the fragment names the view (#/runs, #/runs/{uuid}?status=error, #/fleet,
// #/send, #/signin); each view module renders into <main> and returns what stops its timers.

import { session } from "./api.js";
import { fill } from "./dom.js";
import * as signin from "./signin.js";
import * as runs from "./runs.js";
import * as run from "./run.js";
import * as fleet from "./fleet.js";
import * as send from "./send.js";

const main = document.getElementById("view");
const nav = document.getElementById("nav");
let stop = () => {};

/** The view a fragment names, and its parameters. */
function route(hash) {
  const [path, search] = hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(search ?? "");
  const parts = path.split("/").filter(Boolean);
  if (!session.token() || parts[0] === "signin") return { view: signin, name: "signin", params };
  if (parts[0] === "runs" && parts[1]) {
    try {
      return { view: run, name: "runs", params, id: decodeURIComponent(parts[1]) };
    } catch {
      return { view: runs, name: "runs", params };
    }
  }
  if (parts[0] === "fleet") return { view: fleet, name: "fleet", params };
  if (parts[0] === "send") return { view: send, name: "send", params };
  return { view: runs, name: "runs", params };
}

function show() {
  stop();
  const target = route(location.hash);
  nav.hidden = !session.token();
  for (const link of nav.querySelectorAll("a")) {
    link.classList.toggle("current", link.dataset.view === target.name);
  }
  fill(main);
  stop = target.view.render(main, target) ?? (() => {});
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.signOut();
  location.hash = "#/signin";
});
window.addEventListener("hashchange", show);
show();
