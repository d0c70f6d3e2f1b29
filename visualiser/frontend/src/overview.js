// The overview: counts per status, a filtered, sorted, paginated task table.
// Rows come from /api/v1/tasks/ (server-side pagination); live events recolour
// rows and counts at once, and the page and counts are re-read shortly after.

import { get, query } from "./api.js";
import { LiveFeed } from "./live.js";
import { $, at, $$, coalesce, el, flash, progressBar, setProgress, statusBadge, taskUrl, throttle, when } from "./util.js";

const PAGE_SIZE = 50;
const BASE = ["PENDING", "RUNNING", "DONE", "FAILED", "DISABLED"];
const FILTERS = ["status", "family", "search", "updated_after", "updated_before"];

export function overview() {
  const form = $("#filters");
  const state = readState();
  let counts = null;
  let loading = 0;

  for (const name of FILTERS) {
    const field = form.elements[name];
    if (field && state[name]) field.value = name.startsWith("updated_") ? toLocalInput(state[name]) : state[name];
  }

  function readState() {
    const params = new URLSearchParams(location.search);
    const result = { ordering: params.get("ordering") || "-updated", page: Number(params.get("page") || 1) };
    for (const name of FILTERS) result[name] = params.get(name) || "";
    return result;
  }

  function writeState() {
    const params = {};
    for (const name of [...FILTERS, "ordering"]) if (state[name]) params[name] = state[name];
    if (state.page > 1) params.page = state.page;
    history.replaceState(null, "", location.pathname + query(params));
  }

  function filters() {
    const params = {};
    for (const name of FILTERS) if (state[name]) params[name] = state[name];
    return params;
  }

  async function loadCounts() {
    const { status, ...rest } = filters();
    counts = await get(`${at("api/v1/")}tasks/counts/${query(rest)}`);
    for (const link of $$("#counts .count")) {
      link.querySelector(".n").textContent = (counts[link.dataset.status] ?? 0).toLocaleString();
      link.classList.toggle("selected", state.status === link.dataset.status);
    }
  }

  async function loadRows() {
    const ticket = ++loading;
    const page = await get(`${at("api/v1/")}tasks/${query({ ...filters(), ordering: state.ordering, page: state.page, page_size: PAGE_SIZE })}`).catch((error) => {
      if (error.status === 404 && state.page > 1) {
        state.page = 1;
        return get(`${at("api/v1/")}tasks/${query({ ...filters(), ordering: state.ordering, page_size: PAGE_SIZE })}`);
      }
      throw error;
    });
    if (ticket !== loading) return; // a newer request went out meanwhile
    const body = $("#tasks tbody");
    body.replaceChildren(...page.results.map(row));
    if (!page.results.length) body.append(el("tr", {}, el("td", { colspan: 6, class: "empty", text: "No tasks match." })));
    const first = (state.page - 1) * PAGE_SIZE;
    $("#pager .where").textContent = page.count
      ? `${(first + 1).toLocaleString()}–${(first + page.results.length).toLocaleString()} of ${page.count.toLocaleString()}`
      : "";
    $('#pager [data-page="prev"]').disabled = !page.previous;
    $('#pager [data-page="next"]').disabled = !page.next;
    for (const th of $$("#tasks th[data-sort]")) {
      const key = th.dataset.sort;
      th.dataset.order = state.ordering === key ? "asc" : state.ordering === `-${key}` ? "desc" : "";
    }
    document.body.dataset.loaded = "true";
  }

  function row(task) {
    return el(
      "tr",
      { "data-task-id": task.task_id, "data-status": task.status },
      el("td", {}, statusBadge(task.display_status || task.status)),
      el("td", { class: "name" }, el("a", { href: taskUrl(task.task_id), text: task.display_name || task.task_id })),
      el("td", {}, progressBar(task.progress_percentage)),
      el("td", { text: task.priority ?? "" }),
      el("td", { class: "updated", text: when(task.last_updated) }),
      el("td", { class: "worker", title: task.worker_running || "", text: task.status === "RUNNING" ? task.worker_running || "" : "" }),
    );
  }

  function reload() {
    writeState();
    loadCounts().catch(showError);
    loadRows().catch(showError);
  }

  function showError(error) {
    $("#tasks tbody").replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "error", text: `Could not load tasks: ${error.message}` })));
  }

  form.addEventListener("input", throttle(() => {
    for (const name of FILTERS) {
      const value = form.elements[name].value.trim();
      state[name] = value && name.startsWith("updated_") ? new Date(value).toISOString() : value;
    }
    state.page = 1;
    reload();
  }, 250));
  form.addEventListener("reset", () => setTimeout(() => form.dispatchEvent(new Event("input")), 0));
  form.addEventListener("submit", (event) => event.preventDefault());

  for (const link of $$("#counts .count")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      const status = state.status === link.dataset.status ? "" : link.dataset.status;
      form.elements.status.value = status;
      state.status = status;
      state.page = 1;
      reload();
    });
  }
  for (const th of $$("#tasks th[data-sort]")) {
    th.addEventListener("click", () => {
      const key = th.dataset.sort;
      state.ordering = state.ordering === key ? `-${key}` : key;
      state.page = 1;
      reload();
    });
  }
  $("#pager").addEventListener("click", (event) => {
    const step = event.target.dataset.page;
    if (!step) return;
    state.page = Math.max(1, state.page + (step === "next" ? 1 : -1));
    reload();
  });

  const refreshCounts = coalesce(loadCounts, 1000);
  const refreshRows = coalesce(loadRows, 2000);

  reload();
  let openings = 0;
  new LiveFeed({ subscribe: "all", snapshot: false }, {
    // A later opening is a reconnect the outbox could not catch up: read everything again.
    opened: () => openings++ && reload(),
    events(events) {
      const onlyStatus = Object.keys(filters()).every((name) => name === "status");
      for (const event of events) {
        if (counts && onlyStatus) {
          if (BASE.includes(event.old_status)) counts[event.old_status] -= 1;
          if (BASE.includes(event.new_status)) counts[event.new_status] += 1;
        }
        const tr = document.querySelector(`#tasks tr[data-task-id="${CSS.escape(event.task_id)}"]`);
        if (tr && tr.dataset.status !== event.new_status) {
          tr.dataset.status = event.new_status;
          tr.cells[0].replaceChildren(statusBadge(event.new_status));
          tr.querySelector(".updated").textContent = when(event.at);
          flash(tr);
        }
      }
      if (counts && onlyStatus) {
        for (const status of BASE) {
          const n = document.querySelector(`#counts [data-status="${status}"] .n`);
          n.textContent = counts[status].toLocaleString();
        }
      }
      refreshCounts();
      refreshRows();
    },
    progress(tasks) {
      for (const [id, fields] of Object.entries(tasks)) {
        const tr = document.querySelector(`#tasks tr[data-task-id="${CSS.escape(id)}"]`);
        if (tr) setProgress(tr.querySelector(".progress"), fields.progress_percentage);
      }
    },
  }).start();
}

function toLocalInput(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}
