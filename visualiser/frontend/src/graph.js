// A task's dependency graph: positions come laid out from the server
// (/dashboard/graph-layout/, igraph's layered layout), cytoscape.js draws them
// with pan and zoom; live events recolour nodes, progress updates their labels.

import cytoscape from "cytoscape";
import { get, query } from "./api.js";
import { LiveFeed } from "./live.js";
import { $, taskUrl } from "./util.js";

export const COLOURS = {
  DONE: "#2e9e44",
  PENDING: "#e6b91e",
  RUNNING: "#2f76d2",
  BATCH_RUNNING: "#2f76d2",
  FAILED: "#d23b2f",
  DISABLED: "#8c8c8c",
  UNKNOWN: "#c9c9c9",
};
const BIG = 1500; // above this many elements, cheaper drawing while panning

export function graphPage() {
  const id = document.body.dataset.taskId;
  const container = $("#graph");
  const direction = $("#direction");
  const params = new URLSearchParams(location.search);
  direction.value = params.get("direction") || "both";
  let cy = null;
  let nodes = new Map(); // task id -> node data

  async function load() {
    const started = performance.now();
    container.dataset.state = "loading";
    container.replaceChildren(Object.assign(document.createElement("p"), { className: "loading", textContent: "Loading the graph…" }));
    let data;
    try {
      data = await get(`/dashboard/graph-layout/${query({ id, direction: direction.value })}`);
    } catch (error) {
      container.dataset.state = "error";
      container.firstChild.textContent = error.status === 404 ? `No task ${id} is known to the scheduler.` : `Could not load the graph: ${error.message}`;
      return;
    }
    const fetched = performance.now();
    draw(data);
    const message = $("#graph-message");
    message.hidden = !data.message;
    message.textContent = data.message || "";
    // Usable: laid out and drawn. The next frame after cytoscape's first render.
    cy.one("render", () =>
      requestAnimationFrame(() => {
        container.dataset.state = "ready";
        container.dataset.nodes = String(data.nodes.length);
        container.dataset.fetchMs = String(Math.round(fetched - started));
        container.dataset.readyMs = String(Math.round(performance.now() - started));
        document.body.dataset.loaded = "true";
      }),
    );
  }

  function draw(data) {
    if (cy) cy.destroy();
    container.replaceChildren();
    nodes = new Map(data.nodes.map((n) => [n.id, n]));
    const elements = [];
    for (const n of data.nodes) {
      elements.push({
        group: "nodes",
        data: { id: n.id, label: nodeLabel(n), status: n.status, root: n.id === data.root ? 1 : 0, grouped: n.group ? 1 : 0, family: n.family },
        position: { x: n.x, y: n.y },
      });
    }
    data.edges.forEach(([source, target], i) => {
      elements.push({ group: "edges", data: { id: `e${i}`, source: target, target: source } });
    });
    const big = elements.length > BIG;
    cy = cytoscape({
      container,
      elements,
      layout: { name: "preset", fit: true, padding: 30 },
      style: style(),
      minZoom: 0.02,
      maxZoom: 3,
      wheelSensitivity: 0.3,
      pixelRatio: big ? 1 : "auto",
      textureOnViewport: big,
      hideEdgesOnViewport: big,
      motionBlur: false,
      autoungrabify: true,
      boxSelectionEnabled: false,
    });
    window.dashboardGraph = cy; // for tests and the curious
    cy.on("tap", "node", (event) => {
      const node = event.target;
      if (node.data("grouped")) location.href = `/${query({ family: node.data("family") })}`;
      else location.href = taskUrl(node.id());
    });
  }

  function nodeLabel(n) {
    const pct = typeof n.progress === "number" && n.status === "RUNNING" ? ` ${Math.round(n.progress)}%` : "";
    return `${n.label}${pct}`;
  }

  function style() {
    const rules = [
      {
        selector: "node",
        style: {
          shape: "round-rectangle",
          width: 160,
          height: 28,
          label: "data(label)",
          "font-size": 11,
          "text-valign": "center",
          "text-halign": "center",
          "text-wrap": "ellipsis",
          "text-max-width": 150,
          "min-zoomed-font-size": 7,
          color: "#111",
          "background-color": COLOURS.UNKNOWN,
          "border-width": 1,
          "border-color": "#0003",
        },
      },
      { selector: "node[root = 1]", style: { "border-width": 3, "border-color": "#000" } },
      { selector: "node[grouped = 1]", style: { "border-style": "double", "border-width": 4, "font-weight": "bold" } },
      {
        selector: "edge",
        style: { width: 1, "line-color": "#9aa", "target-arrow-shape": "triangle", "target-arrow-color": "#9aa", "arrow-scale": 0.6, "curve-style": "straight" },
      },
    ];
    for (const [status, colour] of Object.entries(COLOURS)) {
      rules.push({ selector: `node[status = "${status}"]`, style: { "background-color": colour, color: status === "PENDING" || status === "UNKNOWN" ? "#111" : "#fff" } });
    }
    return rules;
  }

  direction.addEventListener("change", () => {
    const search = new URLSearchParams(location.search);
    search.set("direction", direction.value);
    history.replaceState(null, "", `${location.pathname}?${search}`);
    load();
  });
  $("#fit").addEventListener("click", () => cy && cy.fit(undefined, 30));

  load();
  new LiveFeed({ subscribe: "all", snapshot: false }, {
    events(events) {
      if (!cy) return;
      cy.batch(() => {
        for (const event of events) {
          const n = nodes.get(event.task_id);
          if (!n) continue;
          n.status = event.new_status;
          cy.getElementById(event.task_id).data({ status: n.status, label: nodeLabel(n) });
        }
      });
    },
    progress(tasks) {
      if (!cy) return;
      cy.batch(() => {
        for (const [taskId, fields] of Object.entries(tasks)) {
          const n = nodes.get(taskId);
          if (!n) continue;
          n.progress = fields.progress_percentage;
          cy.getElementById(taskId).data("label", nodeLabel(n));
        }
      });
    },
  }).start();
}
