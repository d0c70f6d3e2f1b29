// The REST API (/api/v1/) and the dashboard's graph layout, with Django's CSRF token.
import { at } from "./util.js";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function request(method, url, body) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") {
    options.headers["X-CSRFToken"] = csrfToken();
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
  }
  return decode(await fetch(url, options));
}

// The JSON of a reply, or an ApiError for a 4xx/5xx (with the server's detail).
export async function decode(reply) {
  const text = await reply.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text.slice(0, 200) };
  }
  if (!reply.ok) throw new ApiError(reply.status, data);
  return data;
}

export const get = (url) => request("GET", url);
export const post = (url, body) => request("POST", url, body);

export const taskPath = (id) => `${at("api/v1/")}tasks/${encodeURIComponent(id)}/`;

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
