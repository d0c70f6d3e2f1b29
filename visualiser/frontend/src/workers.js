// Workers and resources: small tables from the REST API, re-read when tasks change.

import { get } from "./api.js";
import { LiveFeed } from "./live.js";
import { $, at, coalesce, el, taskUrl, when } from "./util.js";

function live(load) {
  load();
  const again = coalesce(load, 1000);
  new LiveFeed({ subscribe: "all", snapshot: false }, { opened: again, events: again }).start();
  setInterval(again, 15000); // last seen moves with pings, which are not events
}

async function all(url) {
  const items = [];
  let next = url;
  while (next && items.length < 5000) {
    const page = await get(next);
    items.push(...(page.results || []));
    next = page.next;
  }
  return items;
}

const taskLinks = (ids) => el("span", {}, ...(ids || []).flatMap((id, i) => [i ? ", " : "", el("a", { href: taskUrl(id), text: id })]));

export function workersPage() {
  live(async () => {
    const workers = await all(at("api/v1/workers/?page_size=500"));
    $("#workers tbody").replaceChildren(
      ...(workers.length
        ? workers.map((w) =>
            el("tr", { "data-worker-id": w.worker_id, class: w.alive === false ? "gone" : "" },
              el("td", { class: "id", text: w.worker_id }),
              el("td", { text: w.host || "" }),
              el("td", { text: w.pid ?? "" }),
              el("td", { text: w.username || "" }),
              el("td", {}, taskLinks(w.running)),
              el("td", { text: when(w.last_seen) }),
              el("td", { text: w.disabled ? "disabled" : w.alive === false ? "gone" : "active" }),
            ))
        : [el("tr", {}, el("td", { colspan: 7, class: "empty", text: "No workers have called in." }))]),
    );
    document.body.dataset.loaded = "true";
  });
}

export function resourcesPage() {
  live(async () => {
    const resources = await all(at("api/v1/resources/?page_size=500"));
    $("#resources tbody").replaceChildren(
      ...(resources.length
        ? resources.map((r) => {
            const share = r.limit ? Math.min(100, (100 * r.in_use) / r.limit) : 0;
            return el("tr", { "data-resource": r.name },
              el("td", { text: r.name }),
              el("td", { class: "in-use", text: r.in_use }),
              el("td", { class: "limit", text: r.limit }),
              el("td", {}, el("div", { class: `progress${share >= 100 ? " full" : ""}` }, el("div", { class: "bar", style: `width:${share}%` }), el("span", { class: "pct", text: `${r.in_use}/${r.limit}` }))),
              el("td", {}, taskLinks(r.running)),
            );
          })
        : [el("tr", {}, el("td", { colspan: 5, class: "empty", text: "No resources are configured or in use." }))]),
    );
    document.body.dataset.loaded = "true";
  });
}
