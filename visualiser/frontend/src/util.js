// Small DOM and formatting helpers shared by the pages.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null) node.append(child);
  }
  return node;
}

// Where the pipelines' routes are mounted ("/" standalone, e.g. "/pipelines/" in a
// host site): the page says it on <body data-base>.
export const base = (typeof document !== "undefined" && document.body && document.body.dataset.base) || "/";
export const at = (path) => `${base}${path.replace(/^\//, "")}`;

export const taskUrl = (id) => at(`task/?id=${encodeURIComponent(id)}`);
export const graphUrl = (id) => at(`task/graph/?id=${encodeURIComponent(id)}`);

export function when(epochSeconds) {
  if (epochSeconds === null || epochSeconds === undefined || epochSeconds === "") return "";
  const date = typeof epochSeconds === "number" ? new Date(epochSeconds * 1000) : new Date(epochSeconds);
  if (Number.isNaN(date.getTime())) return String(epochSeconds);
  return date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function statusBadge(status) {
  return el("span", { class: `badge status ${status}`, "data-status": status, text: statusLabel(status) });
}

export function statusLabel(status) {
  return (status || "UNKNOWN").toLowerCase().replace("_", " ");
}

export function progressBar(percentage) {
  const bar = el("div", { class: "progress" }, el("div", { class: "bar" }), el("span", { class: "pct" }));
  setProgress(bar, percentage);
  return bar;
}

export function setProgress(bar, percentage) {
  const known = typeof percentage === "number";
  bar.hidden = !known;
  if (!known) return;
  const value = Math.max(0, Math.min(100, percentage));
  bar.querySelector(".bar").style.width = `${value}%`;
  bar.querySelector(".pct").textContent = `${Math.round(value)}%`;
}

// Calls `fn` at most once per `wait` ms, at the end of a burst (trailing edge),
// but no later than `wait` ms after the first call of the burst.
export function throttle(fn, wait) {
  let timer = null;
  return (...args) => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      fn(...args);
    }, wait);
  };
}

export function flash(node) {
  node.classList.remove("flash");
  void node.offsetWidth; // restart the animation
  node.classList.add("flash");
}

// Like throttle for async work: never two runs at once; calls made during a run
// lead to one more run after it (so a slow server is not sent a pile of requests).
export function coalesce(fn, wait) {
  let timer = null;
  let running = false;
  let again = false;
  const run = async () => {
    timer = null;
    running = true;
    try {
      await fn();
    } catch (error) {
      console.warn(error);
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    if (running) again = true;
    else if (timer === null) timer = setTimeout(run, wait);
  };
  return schedule;
}
