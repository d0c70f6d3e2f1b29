// The live feed (/ws/tasks/): one subscription kept across reconnects, and the
// connection indicator in the page header. See visualiser/consumers.py for the
// protocol: after a reconnect we subscribe with "since" = the last seq applied,
// and get the missed events ("catchup") or a fresh "snapshot".
import { at } from "./util.js";

const MIN_DELAY = 500;
const MAX_DELAY = 10000;

export class LiveFeed {
  constructor(subscription, handlers) {
    this.subscription = subscription;
    this.handlers = handlers; // {opened(message), events(list), progress(tasks), tasks(tasks)}
    this.seq = null;
    this.delay = MIN_DELAY;
    this.socket = null;
    this.indicator = document.getElementById("live");
    this.stopped = false;
  }

  start() {
    this.connect();
    window.addEventListener("online", () => this.retryNow());
    return this;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${at("ws/tasks/")}`;
  }

  connect() {
    this.show("connecting", this.seq === null ? "connecting" : "reconnecting");
    const socket = (this.socket = new WebSocket(this.url()));
    socket.onopen = () => {
      const message = { ...this.subscription };
      if (this.seq !== null) message.since = this.seq;
      socket.send(JSON.stringify(message));
    };
    socket.onmessage = (frame) => this.receive(JSON.parse(frame.data));
    socket.onclose = () => {
      if (this.socket !== socket || this.stopped) return;
      this.show("offline", `offline, retrying in ${Math.round(this.delay / 1000)} s`);
      this.timer = setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(MAX_DELAY, this.delay * 2);
    };
  }

  retryNow() {
    if (this.socket && this.socket.readyState === WebSocket.CLOSED) {
      clearTimeout(this.timer);
      this.delay = MIN_DELAY;
      this.connect();
    }
  }

  receive(message) {
    const h = this.handlers;
    switch (message.type) {
      case "snapshot":
        this.seq = message.seq;
        this.delay = MIN_DELAY;
        this.show("live", "live");
        h.opened?.(message);
        break;
      case "catchup":
        this.delay = MIN_DELAY;
        this.show("live", "live");
        this.apply(message.events);
        this.seq = Math.max(this.seq ?? 0, message.seq);
        break;
      case "events":
        this.apply(message.events);
        break;
      case "progress":
        h.progress?.(message.tasks);
        break;
      case "tasks":
        h.tasks?.(message.tasks);
        break;
      case "resync":
        this.show("connecting", "catching up");
        break;
      case "error":
        console.warn("live feed:", message.detail);
        break;
    }
  }

  apply(events) {
    if (!events.length) return;
    for (const event of events) {
      if (!event.late) this.seq = Math.max(this.seq ?? 0, event.seq);
    }
    this.handlers.events?.(events);
  }

  show(state, text) {
    if (!this.indicator) return;
    this.indicator.className = `live ${state}`;
    this.indicator.dataset.state = state;
    this.indicator.querySelector(".text").textContent = text;
  }
}
