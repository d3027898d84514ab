/**
 * Live events over WebSocket (/api/v1/events). Schedulers, DAG processors and CLI commands write
 * state changes to the event log in the transaction that makes them; every API server tails that
 * log by id when the database says something changed (PostgreSQL NOTIFY, SQLite data_version) and
 * pushes each event to the clients allowed to read its DAG. Log lines are pushed for the task
 * instances a client subscribed to, tailed from task_log the same way.
 */
import type { WebSocket } from "ws";
import { UpdraftError, errorMessage } from "../errors/index.js";
import { canDag, readsAllDags, type DagAccess, type Principal } from "../security/rbac.js";
import type { Store } from "../store/connect.js";
import { eventsAfter, lastEventId, type StoredEvent } from "../store/events.js";
import type { EventRow } from "../store/schema.js";
import { requireDagRun, requireTaskInstance } from "../store/runs.js";
import type { Logger } from "../util/logger.js";
import { parseAccess } from "./access.js";
import { authenticate, type AuthSettings } from "./auth.js";
import type { ApiApp } from "./types.js";

const AUTH_TIMEOUT_MS = 10_000;
const REAUTH_MS = 60_000;
const MAX_BUFFERED = 4 * 1024 * 1024;
const MAX_LOG_SUBSCRIPTIONS = 20;
/** How long an id skipped over is looked for (a transaction that took an id and has not committed). */
const GAP_WAIT_MS = 10_000;
const MAX_GAPS = 10_000;

interface LogSubscription {
  key: string;
  tiId: number;
  /** Lines of this try; with `follow`, also of later tries (retries). */
  tryNumber: number;
  follow: boolean;
  afterId: number;
  dagId: string;
  runId: string;
  taskId: string;
}

interface Client {
  socket: WebSocket;
  principal: Principal;
  token: string;
  logs: Map<string, LogSubscription>;
  /** Authenticates the socket's token again: the principal it holds now, or the socket is closed. */
  recheck: () => Promise<void>;
}

export class EventHub {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #clients = new Set<Client>();
  readonly #access = new Map<string, DagAccess | null>();
  #cursor = 0;
  readonly #gaps = new Map<number, number>();
  #pumping = false;
  #again = false;
  #unsubscribe: (() => void) | null = null;
  #timer: NodeJS.Timeout | null = null;

  readonly #authTimeoutMs: number;

  constructor(store: Store, log: Logger, options: { authTimeoutMs?: number } = {}) {
    this.#store = store;
    this.#log = log;
    this.#authTimeoutMs = options.authTimeoutMs ?? AUTH_TIMEOUT_MS;
  }

  async start(): Promise<void> {
    this.#cursor = await lastEventId(this.#store.db);
    this.#unsubscribe = this.#store.onEvents(() => this.pump());
    this.#timer = setInterval(() => this.pump(), 1_000); // backstop for a missed notification
    this.#timer.unref();
  }

  stop(): void {
    this.#unsubscribe?.();
    if (this.#timer) clearInterval(this.#timer);
    for (const c of this.#clients) c.socket.close(1001, "server stopping");
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Reads what is new and sends it; concurrent calls fold into one more round. */
  pump(): void {
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    void this.#pumpOnce()
      .catch((error: unknown) => this.#log.warn({ err: error }, "event delivery failed"))
      .finally(() => {
        this.#pumping = false;
        if (this.#again) {
          this.#again = false;
          this.pump();
        }
      });
  }

  async #pumpOnce(): Promise<void> {
    if (this.#clients.size === 0) {
      this.#cursor = await lastEventId(this.#store.db);
      return;
    }
    for (;;) {
      const rows = [...(await this.#lateEvents()), ...(await eventsAfter(this.#store.db, this.#cursor))];
      if (rows.length === 0) break;
      this.#noteGaps(rows);
      const events = rows.map((r) => ({ ts: new Date(r.ts).toISOString(), ...(JSON.parse(r.payload) as StoredEvent) }));
      for (const e of events) if (e.kind === "dag-version" || e.kind === "dag-updated") this.#access.delete(e.dag_id);
      await this.#loadAccess(events.flatMap((e) => ("dag_id" in e ? [e.dag_id] : e.kind === "import-error" || e.kind === "import-warning" ? e.dag_ids : [])));
      // In order: a revocation takes effect before anything that follows it reaches the socket.
      let from = 0;
      for (let i = 0; i <= events.length; i++) {
        const e = events[i];
        if (e !== undefined && e.kind !== "auth-changed") continue;
        const batch = events.slice(from, i);
        for (const client of this.#clients) for (const b of batch) if (this.#mayRead(client.principal, b)) this.#send(client, clientMessage(b));
        if (e) await this.#recheck(e.user_ids);
        from = i + 1;
      }
      if (rows.length < 1_000) break;
    }
    await this.#pumpLogs();
  }

  /**
   * Event ids are handed out when a transaction inserts, not when it commits: with concurrent
   * writers (PostgreSQL), id 11 can be visible before id 10. An id skipped over is remembered for
   * a while and looked for again, so a late commit is still delivered (once).
   */
  #noteGaps(rows: Array<{ id: number }>): void {
    const now = Date.now();
    for (const row of rows) {
      const id = Number(row.id);
      this.#gaps.delete(id);
      if (id <= this.#cursor) continue;
      for (let missing = this.#cursor + 1; missing < id && this.#gaps.size < MAX_GAPS; missing++) this.#gaps.set(missing, now);
      this.#cursor = id;
    }
  }

  async #lateEvents(): Promise<EventRow[]> {
    if (this.#gaps.size === 0) return [];
    const now = Date.now();
    for (const [id, since] of this.#gaps) if (now - since > GAP_WAIT_MS) this.#gaps.delete(id);
    if (this.#gaps.size === 0) return [];
    return this.#store.db.selectFrom("event").selectAll().where("id", "in", [...this.#gaps.keys()]).orderBy("id").execute();
  }

  async #pumpLogs(): Promise<void> {
    const subs = [...this.#clients].flatMap((c) => [...c.logs.values()].map((s) => [c, s] as const));
    if (subs.length === 0) return;
    const ids = [...new Set(subs.map(([, s]) => s.tiId))];
    const after = Math.min(...subs.map(([, s]) => s.afterId));
    const lines = await this.#store.db
      .selectFrom("task_log")
      .select(["id", "ti_id", "try_number", "ts", "stream", "level", "message"])
      .where("ti_id", "in", ids)
      .where("id", ">", after)
      .orderBy("id")
      .limit(5_000)
      .execute();
    for (const [client, sub] of subs) {
      const mine = lines.filter((l) => l.ti_id === sub.tiId && l.id > sub.afterId && (sub.follow ? l.try_number >= sub.tryNumber : l.try_number === sub.tryNumber));
      if (mine.length === 0) continue;
      sub.afterId = mine.at(-1)!.id;
      for (const tryNumber of [...new Set(mine.map((l) => l.try_number))]) {
        this.#send(client, {
          type: "log",
          dag_id: sub.dagId,
          dag_run_id: sub.runId,
          task_id: sub.taskId,
          try_number: tryNumber,
          lines: mine.filter((l) => l.try_number === tryNumber).map((l) => ({ ts: new Date(l.ts).toISOString(), stream: l.stream, level: l.level, message: l.message })),
        });
      }
    }
  }

  async #loadAccess(dagIds: string[]): Promise<void> {
    const missing = [...new Set(dagIds)].filter((id) => !this.#access.has(id));
    if (missing.length === 0) return;
    const rows = await this.#store.db.selectFrom("dag").select(["dag_id", "access"]).where("dag_id", "in", missing).execute();
    for (const id of missing) this.#access.set(id, parseAccess(rows.find((r) => r.dag_id === id)?.access ?? null));
  }

  /** The sockets of these users authenticate again now (tokens revoked, roles changed). */
  async #recheck(userIds: number[]): Promise<void> {
    const users = new Set(userIds);
    await Promise.all([...this.#clients].filter((c) => users.has(c.principal.userId)).map((c) => c.recheck()));
  }

  #mayRead(principal: Principal, e: StoredEvent): boolean {
    if (e.kind === "auth-changed") return false;
    if (e.kind === "import-error" || e.kind === "import-warning") return readsAllDags(principal) || e.dag_ids.some((id) => canDag(principal, this.#access.get(id) ?? null, "read"));
    return canDag(principal, this.#access.get(e.dag_id) ?? null, "read");
  }

  #send(client: Client, message: Record<string, unknown>): void {
    if (client.socket.readyState !== client.socket.OPEN) return;
    if (client.socket.bufferedAmount > MAX_BUFFERED) {
      client.socket.close(1013, "the client reads too slowly");
      return;
    }
    client.socket.send(JSON.stringify(message));
  }

  /**
   * Serves one WebSocket: authentication (header or first message), subscriptions, re-checks.
   * A socket's messages are handled one after another, in order, after its authentication.
   */
  attach(socket: WebSocket, authHeader: string | undefined, auth: AuthSettings): void {
    let client: Client | null = null;
    let reauth: NodeJS.Timeout | null = null;
    let closed = false;
    let queue: Promise<void> = Promise.resolve();
    const fail = (code: number, error: unknown) => {
      const e = error instanceof UpdraftError ? error : new UpdraftError("UPDRAFT_E_INTERNAL", errorMessage(error));
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type: "error", code: e.code, message: e.message }));
      socket.close(code, e.code);
    };
    const ready = async (token: string) => {
      if (client || closed) return;
      const principal = await authenticate(this.#store.db, auth, `Bearer ${token}`);
      if (closed) return;
      // Its token is checked again when its user's tokens or roles change (an auth-changed
      // event, at once) and every REAUTH_MS (an access token that expired).
      const recheck = () =>
        authenticate(this.#store.db, auth, `Bearer ${token}`).then(
          (p) => {
            if (client) client.principal = p;
          },
          (error: unknown) => {
            if (client) this.#clients.delete(client);
            fail(4401, error);
          },
        );
      client = { socket, principal, token, logs: new Map(), recheck };
      this.#clients.add(client);
      socket.send(JSON.stringify({ type: "hello", username: principal.username }));
      reauth = setInterval(() => void recheck(), REAUTH_MS);
      reauth.unref();
    };
    const enqueue = (work: () => Promise<void>, onError: (error: unknown) => void) => {
      queue = queue.then(work).catch(onError);
    };
    const authTimer = setTimeout(() => {
      if (!client) fail(4401, new UpdraftError("UPDRAFT_E_UNAUTHENTICATED", `no authentication within ${Math.round(this.#authTimeoutMs / 1000)} seconds`));
    }, this.#authTimeoutMs);
    authTimer.unref();
    const headerToken = authHeader ? /^Bearer\s+(\S+)\s*$/i.exec(authHeader)?.[1] : undefined;
    if (authHeader && !headerToken) fail(4401, new UpdraftError("UPDRAFT_E_UNAUTHENTICATED", "the Authorization header is not a Bearer token"));
    else if (headerToken) enqueue(() => ready(headerToken), (error) => fail(4401, error));

    socket.on("message", (data) => {
      enqueue(
        () => this.#onMessage(socket, () => client, data.toString(), ready),
        (error) => {
          if (error instanceof UpdraftError && (error.status === 401 || !client)) fail(4401, error);
          else if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type: "error", code: error instanceof UpdraftError ? error.code : "UPDRAFT_E_INTERNAL", message: errorMessage(error) }));
        },
      );
    });
    socket.on("close", () => {
      closed = true;
      clearTimeout(authTimer);
      if (reauth) clearInterval(reauth);
      if (client) this.#clients.delete(client);
    });
  }

  async #onMessage(socket: WebSocket, current: () => Client | null, text: string, ready: (token: string) => Promise<void>): Promise<void> {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
      if (typeof message !== "object" || message === null) throw new Error();
    } catch {
      throw new UpdraftError("UPDRAFT_E_VALIDATION", "messages must be JSON objects");
    }
    const client = current();
    if (message.type === "auth") {
      if (client) return;
      if (typeof message.token !== "string") throw new UpdraftError("UPDRAFT_E_UNAUTHENTICATED", "an auth message needs a token");
      await ready(message.token);
      return;
    }
    if (!client) throw new UpdraftError("UPDRAFT_E_UNAUTHENTICATED", 'send {"type": "auth", "token": "…"} first');
    const str = (key: string) => {
      const v = message[key];
      if (typeof v !== "string" || v.length === 0 || v.length > 250) throw new UpdraftError("UPDRAFT_E_VALIDATION", `${key} must be a non-empty string of at most 250 characters`);
      return v;
    };
    if (message.type === "subscribe_logs" || message.type === "unsubscribe_logs") {
      const dagId = str("dag_id");
      const runId = str("dag_run_id");
      const taskId = str("task_id");
      const key = JSON.stringify([dagId, runId, taskId]);
      if (message.type === "unsubscribe_logs") {
        client.logs.delete(key);
        return;
      }
      if (!client.logs.has(key) && client.logs.size >= MAX_LOG_SUBSCRIPTIONS) throw new UpdraftError("UPDRAFT_E_VALIDATION", `at most ${MAX_LOG_SUBSCRIPTIONS} log subscriptions per connection`);
      const row = await this.#store.db.selectFrom("dag").select("access").where("dag_id", "=", dagId).executeTakeFirst();
      if (!row || !canDag(client.principal, parseAccess(row.access), "read")) throw new UpdraftError("UPDRAFT_E_DAG_NOT_FOUND", `DAG '${dagId}' not found`);
      const ti = await requireTaskInstance(this.#store.db, await requireDagRun(this.#store.db, dagId, runId), taskId);
      // Without a try number the subscription follows the task: its current try and any later one.
      const given = typeof message.try_number === "number" && Number.isInteger(message.try_number) && message.try_number > 0 ? message.try_number : null;
      const tryNumber = given ?? Math.max(1, ti.try_number);
      const last = message.from_start === true ? undefined : await this.#store.db.selectFrom("task_log").select((eb) => eb.fn.max<number>("id").as("id")).where("ti_id", "=", ti.id).executeTakeFirst();
      client.logs.set(key, { key, tiId: ti.id, tryNumber, follow: given === null, afterId: Number(last?.id ?? 0), dagId, runId, taskId });
      socket.send(JSON.stringify({ type: "subscribed", dag_id: dagId, dag_run_id: runId, task_id: taskId, try_number: tryNumber, follow: given === null }));
      if (message.from_start === true) this.pump();
      return;
    }
    if (message.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
      return;
    }
    throw new UpdraftError("UPDRAFT_E_VALIDATION", `unknown message type ${JSON.stringify(message.type)}`, { hint: "auth, subscribe_logs, unsubscribe_logs, ping" });
  }
}

export function registerEventsRoute(app: ApiApp, hub: EventHub, auth: AuthSettings): void {
  app.get(
    "/events",
    {
      websocket: true,
      // The upgrade itself is open: the socket authenticates (header or first message) itself.
      config: { access: "public" },
      schema: { tags: ["events"], summary: "Live state changes, import errors and log lines (WebSocket; authenticate with a Bearer header or an auth message)" },
    },
    (socket, request) => hub.attach(socket as unknown as WebSocket, request.headers.authorization, auth),
  );
}

/**
 * An event as clients see it: named like the REST API (`dag_run_id`), without the server's own
 * paths (an import error names its file relative to the DAGs folder).
 */
function clientMessage(e: StoredEvent & { ts: string }): Record<string, unknown> {
  const { kind, ...rest } = e;
  if ("run_id" in rest) {
    const { run_id, ...others } = rest;
    return { type: kind, ...others, dag_run_id: run_id };
  }
  if (kind === "import-error" || kind === "import-warning") {
    const { dags_folder: _folder, ...others } = rest as Extract<StoredEvent, { kind: "import-error" | "import-warning" }> & { ts: string };
    return { type: kind, ...others };
  }
  return { type: kind, ...rest };
}
