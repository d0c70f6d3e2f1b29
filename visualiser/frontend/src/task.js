// One task: parameters, dependencies and dependents, status history, error,
// progress, and the operator's buttons (re-enable, retry, mark done).

import { ApiError, get, post, query, taskPath } from "./api.js";
import { LiveFeed } from "./live.js";
import { $, at, coalesce, el, flash, setProgress, statusBadge, statusLabel, taskUrl, when } from "./util.js";

const ACTIONS = [
  ["re_enable", "re-enable", "Re-enable"],
  ["retry", "retry", "Retry"],
  ["mark_done", "mark-done", "Mark done"],
];

export function taskPage() {
  const id = document.body.dataset.taskId;
  const canOperate = document.body.dataset.canOperate === "true";
  const root = $("#task");
  let task = null;

  async function load() {
    try {
      task = await get(taskPath(id));
    } catch (error) {
      notice(error.status === 404 ? `No task ${id} is known to the scheduler.` : `Could not load the task: ${error.message}`, true);
      return;
    }
    render();
    loadHistory().catch(() => {});
    document.body.dataset.loaded = "true";
  }

  function render() {
    root.dataset.status = task.status;
    const badge = $('[data-field="status"]', root);
    badge.className = `badge status ${task.status}`;
    badge.dataset.status = task.status;
    badge.textContent = statusLabel(task.status);
    $('[data-field="display_name"]', root).textContent = task.display_name || task.task_id;
    const tracking = $(".tracking", root);
    tracking.replaceChildren(...(task.tracking_url ? [" · ", el("a", { href: task.tracking_url, rel: "noopener", text: "Tracking" })] : []));
    setProgress($(".progress", root), task.progress_percentage);
    const message = $(".status-message", root);
    message.hidden = !task.status_message;
    message.textContent = task.status_message || "";
    $(".params tbody", root).replaceChildren(
      ...Object.entries(task.params || {}).map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: typeof v === "string" ? v : JSON.stringify(v) }))),
    );
    const details = [
      ["Family", task.family],
      ["Task id", task.task_id],
      ["Priority", task.priority],
      ["Worker running", task.status === "RUNNING" ? task.worker_running : ""],
      ["Workers", (task.workers || []).join(", ")],
      ["Started", when(task.start_time)],
      ["Running since", when(task.time_running)],
      ["Last updated", when(task.last_updated)],
      ["Failures", task.failures],
      ["Resources", task.resources && Object.keys(task.resources).length ? JSON.stringify(task.resources) : ""],
    ];
    $(".details tbody", root).replaceChildren(
      ...details.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: String(v) }))),
    );
    $(".deps", root).replaceChildren(...links(task.deps, "No dependencies."));
    $(".dependents", root).replaceChildren(...links(task.dependents, "Nothing depends on it."));
    const error = readable(task.error);
    $(".error-section", root).hidden = !error;
    $(".error", root).textContent = error;
    renderActions();
  }

  // Luigi workers send the traceback JSON-encoded; show the text itself.
  function readable(error) {
    if (!error) return "";
    if (error.startsWith('"')) {
      try {
        return JSON.parse(error);
      } catch {
        // not JSON after all: shown as it is
      }
    }
    return error;
  }

  function links(items, empty) {
    if (!items || !items.length) return [el("li", { class: "empty", text: empty })];
    return items.map((dep) => el("li", { "data-task-id": dep.task_id }, statusBadge(dep.status), " ", el("a", { href: taskUrl(dep.task_id), text: dep.display_name || dep.task_id })));
  }

  function renderActions() {
    const box = $("#actions");
    if (!canOperate || !task.actions) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    const buttons = ACTIONS.filter(([key]) => task.actions[key]).map(([, path, label]) =>
      el("button", { type: "button", "data-action": path, onclick: () => act(path, label) }, label),
    );
    box.replaceChildren(...buttons);
    box.hidden = !buttons.length;
  }

  async function act(path, label) {
    for (const button of document.querySelectorAll("#actions button")) button.disabled = true;
    try {
      task = await post(`${taskPath(id)}${path}/`);
      notice(`${label}: done.`);
      render();
    } catch (error) {
      notice(`${label} failed: ${error instanceof ApiError ? error.message : error}`, true);
      renderActions();
    }
  }

  function notice(text, bad = false) {
    const box = $("#notice");
    box.hidden = false;
    box.textContent = text;
    box.classList.toggle("bad", bad);
  }

  async function loadHistory() {
    const runs = await get(`${at("api/v1/")}history/runs/${query({ task_id: id, page_size: 5 })}`);
    const rows = [];
    for (const run of (runs.results || []).slice(0, 3)) {
      const detail = await get(`${at("api/v1/")}history/runs/${run.id}/`);
      for (const event of (detail.events || []).slice().reverse()) {
        rows.push(
          el("tr", {},
            el("td", { text: when(event.at) }),
            el("td", {}, event.old_status ? `${statusLabel(event.old_status)} → ` : "new → ", statusBadge(event.status)),
            el("td", { text: event.cause || "" }),
            el("td", { text: event.user || event.worker || "" }),
          ),
        );
      }
    }
    $(".history tbody", root).replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 4, class: "empty", text: "No recorded changes." }))]));
  }

  const reload = coalesce(load, 500);
  load();
  new LiveFeed({ subscribe: "all", snapshot: false }, {
    events(events) {
      for (const event of events) {
        if (event.task_id === id) {
          if (task) task.status = event.new_status;
          reload();
        }
        for (const li of document.querySelectorAll(`li[data-task-id="${CSS.escape(event.task_id)}"]`)) {
          li.firstChild.replaceWith(statusBadge(event.new_status));
          flash(li);
        }
      }
    },
    progress(tasks) {
      const fields = tasks[id];
      if (!fields || !task) return;
      Object.assign(task, fields);
      setProgress($(".progress", root), fields.progress_percentage);
      const message = $(".status-message", root);
      message.hidden = !fields.status_message;
      message.textContent = fields.status_message || "";
    },
  }).start();
}
