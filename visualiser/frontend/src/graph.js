// A task's dependency graph: positions come laid out from the server
// (/dashboard/graph-layout/, igraph's layered layout), cytoscape.js draws them
// with pan and zoom; live events recolour nodes, progress updates their labels.

import cytoscape from "cytoscape";
import { decode, get, query } from "./api.js";
import { LiveFeed } from "./live.js";
import { $, at, taskUrl } from "./util.js";

export const COLOURS = {
  DONE: "#2e9e44",
  PENDING: "#e6b91e",
  RUNNING: "#2f76d2",
  BATCH_RUNNING: "#2f76d2",
  FAILED: "#d23b2f",
  DISABLED: "#8c8c8c",
  UNKNOWN: "#c9c9c9",
};
const INK = { PENDING: "#111", UNKNOWN: "#111" }; // label colour on light fills
const BIG = 1500; // above this many elements: plain edges, cheaper drawing while panning
const SHORT = 30; // label characters drawn in a node
const EDGE_CHUNK = 1500; // edges added per turn of the event loop on big graphs
const turn = () => new Promise((resolve) => setTimeout(resolve, 0));
const NODE_W = 160;
const NODE_H = 28;
const MIN_ZOOM = 0.02;
const REPAINT = 250; // ms: live changes are applied together at most this often

export function graphPage() {
  const id = document.body.dataset.taskId;
  const container = $("#graph");
  const direction = $("#direction");
  const params = new URLSearchParams(location.search);
  direction.value = params.get("direction") || "both";
  let cy = null;
  let nodes = new Map(); // task id -> node data
  let generation = 0; // a newer load() abandons an older one's drawing

  // The page's inline script already asked for the graph while the bundle loaded.
  function fetchGraph(url) {
    const early = window.earlyGraph;
    window.earlyGraph = null;
    if (early && early.url === url) return early.reply.then(decode);
    return get(url);
  }

  async function load() {
    const mine = ++generation;
    const started = performance.now();
    container.dataset.state = "loading";
    container.replaceChildren(Object.assign(document.createElement("p"), { className: "loading", textContent: "Loading the graph…" }));
    let data;
    try {
      data = await fetchGraph(`${at("dashboard/graph-layout/")}${query({ id, direction: direction.value })}`);
    } catch (error) {
      container.dataset.state = "error";
      container.firstChild.textContent = error.status === 404 ? `No task ${id} is known to the scheduler.` : `Could not load the graph: ${error.message}`;
      return;
    }
    if (mine !== generation) return;
    const fetched = performance.now();
    if (!(await draw(data, mine))) return;
    const built = performance.now();
    const message = $("#graph-message");
    message.hidden = !data.message;
    message.textContent = data.message || "";
    // Usable: laid out and drawn. The next frame after cytoscape's first render.
    cy.one("render", () =>
      requestAnimationFrame(() => {
        if (mine !== generation) return;
        container.dataset.state = "ready";
        container.dataset.nodes = String(data.nodes.length);
        container.dataset.fetchMs = String(Math.round(fetched - started));
        container.dataset.buildMs = String(Math.round(built - fetched));
        container.dataset.readyMs = String(Math.round(performance.now() - started));
        document.body.dataset.loaded = "true";
      }),
    );
  }

  // Big graphs get their edges in chunks after the nodes, so no single task
  // blocks the tab for long. Resolves false when a newer load() took over.
  async function draw(data, mine) {
    if (cy) cy.destroy();
    container.replaceChildren();
    nodes = new Map(data.nodes.map((n) => [n.id, n]));
    const elements = [];
    const ids = data.nodes.map((n) => n.id);
    for (const n of data.nodes) {
      elements.push({
        group: "nodes",
        data: { id: n.id, label: nodeLabel(n), status: n.status, ...paint(n.status), root: n.id === data.root ? 1 : 0, grouped: n.group ? 1 : 0, family: n.family },
        position: { x: n.x, y: n.y },
      });
    }
    // [dependent, dependency] indexes; drawn dependency -> dependent (the data flow).
    const edges = data.edges.map(([dependent, dependency], i) => ({
      group: "edges",
      data: { id: `e${i}`, source: ids[dependency], target: ids[dependent] },
    }));
    const big = elements.length + edges.length > BIG;
    cy = cytoscape({
      container,
      elements: big ? elements : elements.concat(edges),
      layout: { name: "preset", fit: false },
      ...view(data.nodes),
      style: style(big),
      minZoom: MIN_ZOOM,
      maxZoom: 3,
      wheelSensitivity: 0.3,
      pixelRatio: big ? 1 : "auto",
      textureOnViewport: big,
      hideEdgesOnViewport: big,
      hideLabelsOnViewport: big,
      motionBlur: false,
      autoungrabify: true,
      boxSelectionEnabled: false,
    });
    window.dashboardGraph = cy; // for tests and the curious
    cy.on("tap", "node", (event) => {
      const node = event.target;
      if (node.data("grouped")) location.href = `${at("")}${query({ family: node.data("family") })}`;
      else location.href = taskUrl(node.id());
    });
    if (big) {
      for (let i = 0; i < edges.length; i += EDGE_CHUNK) {
        await turn();
        if (mine !== generation) return false;
        cy.batch(() => cy.add(edges.slice(i, i + EDGE_CHUNK)));
      }
    }
    return true;
  }

  // The zoom and pan that fit every node, from the known positions: cytoscape's
  // own fit measures every element's bounding box first (a second on 5,000 nodes).
  function view(list) {
    if (!list.length) return {};
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const n of list) {
      x0 = Math.min(x0, n.x);
      x1 = Math.max(x1, n.x);
      y0 = Math.min(y0, n.y);
      y1 = Math.max(y1, n.y);
    }
    const [w, h] = [container.clientWidth || 800, container.clientHeight || 600];
    const pad = 30;
    const [bw, bh] = [x1 - x0 + NODE_W, y1 - y0 + NODE_H];
    const zoom = Math.max(MIN_ZOOM, Math.min(1.5, (w - 2 * pad) / bw, (h - 2 * pad) / bh));
    return { zoom, pan: { x: w / 2 - zoom * (x0 + x1) / 2, y: h / 2 - zoom * (y0 + y1) / 2 } };
  }

  // Labels are cut here, not by cytoscape's ellipsis (which measures every label).
  function nodeLabel(n) {
    const pct = typeof n.progress === "number" && n.status === "RUNNING" ? ` ${Math.round(n.progress)}%` : "";
    const text = n.label.length > SHORT - pct.length ? `${n.label.slice(0, SHORT - pct.length - 1)}…` : n.label;
    return `${text}${pct}`;
  }

  // Colours are node data, so one style rule serves every status.
  function paint(status) {
    return { fill: COLOURS[status] || COLOURS.UNKNOWN, ink: INK[status] || (COLOURS[status] ? "#fff" : "#111") };
  }

  function style(big) {
    const rules = [
      {
        selector: "node",
        style: {
          shape: "round-rectangle",
          width: NODE_W,
          height: NODE_H,
          label: "data(label)",
          "font-size": 11,
          "text-valign": "center",
          "text-halign": "center",
          "min-zoomed-font-size": 7,
          color: "data(ink)",
          "background-color": "data(fill)",
          "border-width": 1,
          "border-color": "#0003",
        },
      },
      ...(big ? [{ selector: "node", style: { shape: "rectangle" } }] : []),
      { selector: "node[root = 1]", style: { "border-width": 3, "border-color": "#000" } },
      { selector: "node[grouped = 1]", style: { "border-style": "double", "border-width": 4, "font-weight": "bold" } },
      {
        selector: "edge",
        style: big
          ? { width: 1, "line-color": "#9aa", "curve-style": "haystack", "haystack-radius": 0 }
          : { width: 1, "line-color": "#9aa", "target-arrow-shape": "triangle", "target-arrow-color": "#9aa", "arrow-scale": 0.6, "curve-style": "straight" },
      },
    ];
    return rules;
  }

  direction.addEventListener("change", () => {
    const search = new URLSearchParams(location.search);
    search.set("direction", direction.value);
    history.replaceState(null, "", `${location.pathname}?${search}`);
    load();
  });
  $("#fit").addEventListener("click", () => {
    if (cy) cy.viewport(view([...nodes.values()]));
  });

  // Live changes wait in `due` and are drawn together: one repaint of a big
  // graph per REPAINT ms whatever the rate of changes.
  const due = new Map(); // task id -> fields to apply
  let timer = null;
  function later(taskId, fields) {
    if (!nodes.has(taskId)) return;
    due.set(taskId, { ...due.get(taskId), ...fields });
    if (timer === null) timer = setTimeout(repaint, REPAINT);
  }
  function repaint() {
    timer = null;
    if (!cy) return;
    cy.batch(() => {
      for (const [taskId, fields] of due) {
        const n = nodes.get(taskId);
        if (!n) continue;
        Object.assign(n, fields);
        cy.getElementById(taskId).data({ status: n.status, label: nodeLabel(n), ...paint(n.status) });
      }
    });
    due.clear();
  }

  load();
  new LiveFeed({ subscribe: "all", snapshot: false }, {
    events(events) {
      for (const event of events) later(event.task_id, { status: event.new_status });
    },
    progress(tasks) {
      for (const [taskId, fields] of Object.entries(tasks)) later(taskId, { progress: fields.progress_percentage });
    },
  }).start();
}
