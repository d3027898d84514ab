/**
 * Live events over the API's WebSocket: one socket per tab, authenticated with the session's
 * access token, reconnected with backoff. Listeners get every event the user may read; log
 * subscriptions are re-sent after a reconnect.
 */
import { accessToken, refreshSession } from "./client";

export interface LiveEvent {
  type: string;
  ts?: string;
  dag_id?: string;
  dag_run_id?: string;
  task_id?: string;
  state?: string;
  try_number?: number;
  fileloc?: string;
  lines?: Array<{ ts: string; stream: string; level: string; message: string }>;
  code?: string;
  message?: string;
}

export type LiveStatus = "connecting" | "open" | "closed";

type Listener = (event: LiveEvent) => void;

interface LogSub {
  dag_id: string;
  dag_run_id: string;
  task_id: string;
  try_number?: number;
  from_start?: boolean;
}

class LiveConnection {
  #socket: WebSocket | null = null;
  #listeners = new Set<Listener>();
  #statusListeners = new Set<(s: LiveStatus) => void>();
  #logSubs = new Map<string, { sub: LogSub; count: number }>();
  #retry = 0;
  /** How many times the socket was authenticated: above 1, events may have been missed meanwhile. */
  connections = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #wanted = false;
  status: LiveStatus = "closed";

  start(): void {
    this.#wanted = true;
    if (!this.#socket) this.#open();
  }

  stop(): void {
    this.#wanted = false;
    clearTimeout(this.#timer);
    this.#socket?.close(1000);
    this.#socket = null;
    this.#setStatus("closed");
  }

  #setStatus(status: LiveStatus): void {
    this.status = status;
    for (const l of this.#statusListeners) l(status);
  }

  #open(): void {
    const token = accessToken();
    if (!token) return;
    this.#setStatus("connecting");
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/events`;
    const socket = new WebSocket(url);
    this.#socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token }));
    socket.onmessage = (message) => {
      let event: LiveEvent;
      try {
        event = JSON.parse(String(message.data)) as LiveEvent;
      } catch {
        return;
      }
      if (event.type === "hello") {
        this.#retry = 0;
        this.connections++;
        this.#setStatus("open");
        for (const { sub } of this.#logSubs.values()) socket.send(JSON.stringify({ type: "subscribe_logs", ...sub }));
      }
      for (const l of this.#listeners) l(event);
    };
    socket.onclose = (close) => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      this.#setStatus("closed");
      if (!this.#wanted) return;
      const reconnect = () => {
        const delay = Math.min(10_000, 250 * 2 ** this.#retry++);
        this.#timer = setTimeout(() => this.#open(), delay);
      };
      // 4401: the token expired or was revoked; a fresh one may fix it. Offline: try again later.
      if (close.code === 4401) void refreshSession().then((result) => result !== "rejected" && reconnect());
      else reconnect();
    };
  }

  on(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onStatus(listener: (s: LiveStatus) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  /** Subscribes to a task's log lines; the returned function ends the subscription. */
  subscribeLogs(sub: LogSub): () => void {
    const key = JSON.stringify([sub.dag_id, sub.dag_run_id, sub.task_id]);
    const entry = this.#logSubs.get(key);
    if (entry) entry.count++;
    else this.#logSubs.set(key, { sub, count: 1 });
    if (this.status === "open") this.#socket?.send(JSON.stringify({ type: "subscribe_logs", ...sub }));
    return () => {
      const current = this.#logSubs.get(key);
      if (!current) return;
      if (--current.count > 0) return;
      this.#logSubs.delete(key);
      if (this.status === "open") this.#socket?.send(JSON.stringify({ type: "unsubscribe_logs", dag_id: sub.dag_id, dag_run_id: sub.dag_run_id, task_id: sub.task_id }));
    };
  }
}

export const live = new LiveConnection();
