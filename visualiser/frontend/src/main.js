// The dashboard's one bundle: each page's shell names itself in <body data-page>.

import { graphPage } from "./graph.js";
import { overview } from "./overview.js";
import { taskPage } from "./task.js";
import { resourcesPage, workersPage } from "./workers.js";

const PAGES = { overview, task: taskPage, graph: graphPage, workers: workersPage, resources: resourcesPage };

document.addEventListener("DOMContentLoaded", () => {
  const page = PAGES[document.body.dataset.page];
  if (page) page();
});
