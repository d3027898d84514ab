/**
 * Live events over WebSocket (/api/v1/events): authentication (header or first message),
 * state changes from the scheduler, the DAG processor and the API, filtered by who may read the
 * DAG; log subscriptions; events written by another process (a real `updraft scheduler`); and
 * robustness against bad messages and clients that vanish.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { recordImportWarning } from "../../src/store/import-warnings.js";
import { processDags, startScheduler, type RunningScheduler } from "../helpers/run.js";
import { DIALECTS } from "../helpers/dialects.js";
import { openStore } from "../../src/store/connect.js";
import { updateUser } from "../../src/store/users.js";
import { createApiEnv, eventually, TEST_PASSWORD, type ApiEnv, type ApiEnvOptions, type Json } from "./helpers.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * "a": one chatty task, readable by the role team-a. "b": one task, no access list. Both tasks
 * take a moment, so that their start and their end are reported in different scheduler ticks
 * (a try that starts and ends within one tick goes from queued to success directly).
 */
const DAG_A = `
  import { dag, task } from "updraft";
  const say = task({ id: "say", run: async (_: void, ctx) => { ctx.log.info("hello from a"); console.log("stdout of a"); await new Promise((r) => setTimeout(r, 400)); return 1; } });
  export default dag({ id: "a", access: { "team-a": ["read"] } }, () => { say(); });
`;
const DAG_B = `
  import { dag, task } from "updraft";
  const work = task({ id: "work", run: async (_: void, ctx) => { ctx.log.info("secret of b"); await new Promise((r) => setTimeout(r, 400)); return 2; } });
  export default dag({ id: "b" }, () => { work(); });
`;
/** 21 tasks that never need to run: enough task instances to pass the subscription limit. */
const DAG_WIDE = `
  import { dag, task } from "updraft";
  const tasks = Array.from({ length: 21 }, (_, i) => task({ id: "t" + i, run: () => i }));
  export default dag({ id: "wide" }, () => { for (const t of tasks) t(); });
`;

const USERS = [
  { username: "admin", roles: ["Admin"] },
  { username: "limited", roles: ["team-a"] },
];

interface Closed {
  code: number;
  reason: string;
}

/** A WebSocket client that keeps every message it receives. */
class EventClient {
  readonly messages: Json[] = [];
  readonly closed: Promise<Closed>;
  readonly opened: Promise<void>;
  closeInfo: Closed | null = null;

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => this.messages.push(JSON.parse(data.toString())));
    this.closed = new Promise((resolvePromise) => {
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolvePromise(this.closeInfo);
      });
    });
    this.opened = new Promise((resolvePromise, reject) => {
      ws.once("open", () => resolvePromise());
      ws.once("error", reject);
    });
    // A socket error after opening (e.g. a test that breaks its own socket) is not a test failure.
    ws.on("error", () => {});
  }

  send(message: unknown): void {
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** Resolves with the first message (in order of arrival) matching `match`. */
  async waitFor(match: (m: Json) => boolean, what: string, timeoutMs = 30_000): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; received:\n${this.messages.map((m) => JSON.stringify(m)).join("\n")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Waits for the server to close the socket. */
  async waitClosed(timeoutMs = 30_000): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the socket was not closed within ${timeoutMs} ms; received: ${JSON.stringify(this.messages)}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  of(type: string, dagId?: string): Json[] {
    return this.messages.filter((m) => m.type === type && (dagId === undefined || m.dag_id === dagId));
  }
}

let api: ApiEnv | undefined;
let clients: EventClient[] = [];
let scheduler: RunningScheduler | undefined;
let child: ChildProcess | undefined;

afterEach(async () => {
  for (const c of clients) if (c.ws.readyState !== WebSocket.CLOSED) c.ws.terminate();
  clients = [];
  await scheduler?.stop();
  scheduler = undefined;
  if (child) await stopChild(child);
  child = undefined;
  await api?.cleanup();
  api = undefined;
});

/** An API env whose app listens on a free local port; returns the events URL. */
async function setup(options: ApiEnvOptions): Promise<{ a: ApiEnv; url: string }> {
  api = await createApiEnv({ users: USERS, ...options });
  const address = await api.app.listen({ port: 0, host: "127.0.0.1" });
  return { a: api, url: `${address.replace(/^http/, "ws")}/api/v1/events` };
}

/** Opens a socket (with a Bearer header when `token` is given) and waits until it is open. */
async function connect(url: string, token?: string): Promise<EventClient> {
  const client = new EventClient(new WebSocket(url, token ? { headers: { authorization: `Bearer ${token}` } } : {}));
  clients.push(client);
  await client.opened;
  return client;
}

/** Connects with a header and waits for "hello". */
async function connectAs(a: ApiEnv, url: string, username: string): Promise<EventClient> {
  const client = await connect(url, await a.login(username));
  const hello = await client.waitFor((m) => m.type === "hello", `hello for ${username}`);
  expect(hello.username).toBe(username);
  return client;
}

async function trigger(a: ApiEnv, dagId: string, runId?: string): Promise<{ runId: string; id: number }> {
  const res = await a.inject(await a.login("admin"), "POST", `/dags/${dagId}/dagRuns`, runId ? { dag_run_id: runId } : {});
  expect(res.status, res.body).toBe(200);
  const row = await a.env.store.db.selectFrom("dag_run").select("id").where("dag_id", "=", dagId).where("run_id", "=", res.json.dag_run_id).executeTakeFirstOrThrow();
  return { runId: res.json.dag_run_id as string, id: Number(row.id) };
}

const isRunState = (dagId: string, runId: string, state: string) => (m: Json) => m.type === "run-state" && m.dag_id === dagId && m.dag_run_id === runId && m.state === state;

/** The states a client saw for a task instance, in order of arrival ("scheduled" left out: it comes and goes in one tick). */
function tiStates(client: EventClient, dagId: string, runId: string, taskId: string): string[] {
  return client
    .of("ti-state", dagId)
    .filter((m) => m.dag_run_id === runId && m.task_id === taskId && m.state !== "scheduled")
    .map((m) => m.state as string);
}

function runStates(client: EventClient, dagId: string, runId: string): string[] {
  return client.of("run-state", dagId).filter((m) => m.dag_run_id === runId).map((m) => m.state as string);
}

function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const kill = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    proc.once("exit", () => {
      clearTimeout(kill);
      resolvePromise();
    });
    proc.kill("SIGTERM");
  });
}

describe("events: authentication", () => {
  it("accepts a Bearer header or an auth message, refuses bad tokens, early messages and silence (4401)", async () => {
    const { a, url } = await setup({});
    const admin = await a.login("admin");

    // Silence first: it takes the server's auth timeout (10 s) to close, so the rest runs meanwhile.
    const silent = await connect(url);

    const byHeader = await connect(url, admin);
    expect((await byHeader.waitFor((m) => m.type === "hello", "hello")).username).toBe("admin");
    byHeader.send({ type: "ping" });
    await byHeader.waitFor((m) => m.type === "pong", "pong");
    // A second auth message on an authenticated socket is ignored, not an error.
    byHeader.send({ type: "auth", token: "nonsense" });
    byHeader.send({ type: "ping" });
    await eventually(async () => expect(byHeader.of("pong")).toHaveLength(2));
    expect(byHeader.of("error")).toEqual([]);
    expect(byHeader.ws.readyState).toBe(WebSocket.OPEN);

    const byMessage = await connect(url);
    byMessage.send({ type: "auth", token: await a.login("limited") });
    expect((await byMessage.waitFor((m) => m.type === "hello", "hello")).username).toBe("limited");

    // A bad token, in the header or in the auth message: an error message, then 4401.
    const badHeader = await connect(url, "not-a-token");
    expect(await badHeader.waitClosed()).toMatchObject({ code: 4401 });
    expect(badHeader.of("error")).toEqual([expect.objectContaining({ code: expect.stringMatching(/^UPDRAFT_E_(TOKEN_INVALID|UNAUTHENTICATED)$/) })]);
    expect(badHeader.of("hello")).toEqual([]);

    const notBearer = new EventClient(new WebSocket(url, { headers: { authorization: "Basic YWRtaW46cGFzcw==" } }));
    clients.push(notBearer);
    expect(await notBearer.waitClosed()).toMatchObject({ code: 4401 });
    expect(notBearer.of("error")).toEqual([expect.objectContaining({ code: "UPDRAFT_E_UNAUTHENTICATED" })]);

    const badMessage = await connect(url);
    badMessage.send({ type: "auth", token: "eyJhbGciOiJIUzI1NiJ9.e30.bad" });
    expect(await badMessage.waitClosed()).toMatchObject({ code: 4401 });
    expect(badMessage.of("error")).toEqual([expect.objectContaining({ code: expect.stringMatching(/^UPDRAFT_E_(TOKEN_INVALID|UNAUTHENTICATED)$/) })]);

    const noToken = await connect(url);
    noToken.send({ type: "auth" });
    expect(await noToken.waitClosed()).toMatchObject({ code: 4401 });
    expect(noToken.of("error")).toEqual([expect.objectContaining({ code: "UPDRAFT_E_UNAUTHENTICATED" })]);

    // Anything but auth before authenticating is refused (and the socket closed), never served.
    const early = await connect(url);
    early.send({ type: "subscribe_logs", dag_id: "a", dag_run_id: "r", task_id: "say" });
    expect(await early.waitClosed()).toMatchObject({ code: 4401 });
    expect(early.of("error")).toEqual([expect.objectContaining({ code: "UPDRAFT_E_UNAUTHENTICATED" })]);
    expect(early.of("subscribed")).toEqual([]);

    // No authentication at all within the timeout.
    const closed = await silent.waitClosed(20_000);
    expect(closed.code).toBe(4401);
    expect(silent.of("error")).toEqual([expect.objectContaining({ code: "UPDRAFT_E_UNAUTHENTICATED" })]);
    expect(silent.of("hello")).toEqual([]);

    // The authenticated sockets were not disturbed by the others.
    expect(byHeader.ws.readyState).toBe(WebSocket.OPEN);
    expect(byMessage.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("serves a message sent right after authenticating, without waiting for hello", async () => {
    const { a, url } = await setup({});
    const admin = await a.login("admin");

    // Header: the client may send as soon as the socket is open.
    const byHeader = await connect(url, admin);
    byHeader.send({ type: "ping" });
    await byHeader.waitFor((m) => m.type === "pong" || m.type === "error", "pong");
    expect(byHeader.of("error"), "a ping sent right after opening with a Bearer header was refused").toEqual([]);

    // Auth message followed at once by another message.
    const byMessage = await connect(url);
    byMessage.send({ type: "auth", token: admin });
    byMessage.send({ type: "ping" });
    await byMessage.waitFor((m) => m.type === "pong" || m.type === "error", "pong");
    expect(byMessage.of("error"), "a ping sent right after the auth message was refused").toEqual([]);
    expect(byMessage.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("two auth messages sent at once authenticate the socket once", async () => {
    const { a, url } = await setup({});
    const admin = await a.login("admin");
    const ws = await connect(url);
    ws.send({ type: "auth", token: admin });
    ws.send({ type: "auth", token: admin });
    await ws.waitFor((m) => m.type === "hello", "hello");
    ws.send({ type: "ping" });
    await ws.waitFor((m) => m.type === "pong", "pong");
    // Each registration of the socket would get every event (and one outlives the socket).
    expect(ws.of("hello"), "the socket was registered twice").toHaveLength(1);
  });
});

describe("events: revocation reaches live sockets at once", () => {
  // The periodic re-check runs every 60 s: a socket closed within a few seconds was closed by the
  // auth-changed event that the revocation wrote.
  const AT_ONCE_MS = 8_000;
  const USERS_PLUS = [...USERS, { username: "ops", roles: ["Op"] }];

  it("deactivation, a new password and a role taken away close the user's sockets; other users' stay open", async () => {
    const { a, url } = await setup({ users: USERS_PLUS });
    const admin = await a.login("admin");
    const bystander = await connectAs(a, url, "limited");
    const changes: Array<[string, Record<string, unknown>]> = [
      ["active", { active: false }],
      ["password", { password: "another-password-0123456789" }],
      ["roles", { roles: [] }],
    ];
    for (const [what, body] of changes) {
      const watched = await connectAs(a, url, "ops");
      const changed = await a.inject(admin, "PATCH", "/users/ops", body);
      expect(changed.status, changed.body).toBe(200);
      expect(await watched.waitClosed(AT_ONCE_MS), what).toMatchObject({ code: 4401 });
      // Set the user back for the next change.
      await a.inject(admin, "PATCH", "/users/ops", { active: true, password: TEST_PASSWORD, roles: ["Op"] });
      await a.login("ops", { fresh: true });
    }
    expect(bystander.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("logout closes the sockets of that session only; a revoked API token closes its socket", async () => {
    const { a, url } = await setup({ users: USERS_PLUS });
    const first = await a.login("ops", { fresh: true });
    const second = await a.login("ops", { fresh: true });
    const ofFirst = await connect(url, first);
    const ofSecond = await connect(url, second);
    await ofFirst.waitFor((m) => m.type === "hello", "hello");
    await ofSecond.waitFor((m) => m.type === "hello", "hello");
    expect((await a.inject(first, "POST", "/auth/logout")).status).toBe(204);
    expect(await ofFirst.waitClosed(AT_ONCE_MS)).toMatchObject({ code: 4401 });
    ofSecond.send({ type: "ping" });
    await ofSecond.waitFor((m) => m.type === "pong", "pong on the other session");
    expect(ofSecond.ws.readyState).toBe(WebSocket.OPEN);

    const created = await a.inject(second, "POST", "/tokens", { name: "live" });
    expect(created.status, created.body).toBe(201);
    const byToken = await connect(url, created.json.token);
    await byToken.waitFor((m) => m.type === "hello", "hello");
    expect((await a.inject(second, "DELETE", `/tokens/${created.json.token_id}`)).status).toBe(204);
    expect(await byToken.waitClosed(AT_ONCE_MS)).toMatchObject({ code: 4401 });
    expect(ofSecond.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("a revocation made through another API server (and the CLI's store) closes the sockets of this one", async () => {
    const { a, url } = await setup({ users: USERS_PLUS });
    const watched = await connectAs(a, url, "ops");
    // A second store on the same database, as another process has: it revokes the user's tokens.
    const other = await openStore({ url: a.env.config.databaseUrl });
    try {
      await updateUser(other, "ops", { active: false });
    } finally {
      await other.close();
    }
    expect(await watched.waitClosed(AT_ONCE_MS)).toMatchObject({ code: 4401 });
  });
});

describe("events: state changes and filtering (sqlite)", () => {
  it("pushes run and task states, pauses, new versions and import errors to the users who may read the DAG", async () => {
    const { a, url } = await setup({ dags: { "a.ts": DAG_A, "b.ts": DAG_B } });
    const adminWs = await connectAs(a, url, "admin");
    const limitedWs = await connectAs(a, url, "limited");

    const runA = await trigger(a, "a", "run-a");
    const runB = await trigger(a, "b", "run-b");
    scheduler = await startScheduler(a.env);
    expect(await scheduler.waitForRun(runA.id)).toBe("success");
    expect(await scheduler.waitForRun(runB.id)).toBe("success");

    for (const [dagId, runId, taskId] of [["a", "run-a", "say"], ["b", "run-b", "work"]] as const) {
      await adminWs.waitFor(isRunState(dagId, runId, "success"), `admin: ${dagId} success`);
      expect(runStates(adminWs, dagId, runId)).toEqual(["queued", "running", "success"]);
      expect(tiStates(adminWs, dagId, runId, taskId)).toEqual(["queued", "running", "success"]);
      const success = adminWs.messages.find(isRunState(dagId, runId, "success"));
      expect(new Date(success.ts).getTime()).toBeGreaterThan(0);
      expect(success).not.toHaveProperty("kind");
    }
    // The limited user sees a's run; b's events were sent (to admin) before or with a's success,
    // so by now the hub has decided about them for every client.
    await limitedWs.waitFor(isRunState("a", "run-a", "success"), "limited: a success");
    expect(runStates(limitedWs, "a", "run-a")).toEqual(["queued", "running", "success"]);
    expect(tiStates(limitedWs, "a", "run-a", "say")).toEqual(["queued", "running", "success"]);
    await scheduler.stop();
    scheduler = undefined;

    // Pausing through the API.
    const admin = await a.login("admin");
    expect((await a.inject(admin, "PATCH", "/dags/a", { is_paused: true })).status).toBe(200);
    expect((await a.inject(admin, "PATCH", "/dags/b", { is_paused: true })).status).toBe(200);
    await adminWs.waitFor((m) => m.type === "dag-updated" && m.dag_id === "b", "admin: b paused");
    expect(adminWs.of("dag-updated", "a")).toEqual([expect.objectContaining({ dag_id: "a", is_paused: true })]);
    expect(adminWs.of("dag-updated", "b")).toEqual([expect.objectContaining({ dag_id: "b", is_paused: true })]);
    await limitedWs.waitFor((m) => m.type === "dag-updated" && m.dag_id === "a", "limited: a paused");
    expect(limitedWs.of("dag-updated", "a")).toEqual([expect.objectContaining({ is_paused: true })]);

    // A changed file: a new version.
    a.env.writeDag("a.ts", DAG_A.replace('task({ id: "say"', 'task({ id: "say", retries: 2')); // a structural change
    await processDags(a.env);
    const version = await adminWs.waitFor((m) => m.type === "dag-version" && m.dag_id === "a", "admin: a dag-version");
    expect(version.version_number).toBe(2);
    expect(await limitedWs.waitFor((m) => m.type === "dag-version" && m.dag_id === "a", "limited: a dag-version")).toMatchObject({ version_number: 2 });

    // Import errors: a new broken file (no DAG yet: Admin only), then a's own file broken (both).
    a.env.writeDag("c.ts", `import { dag } from "updraft";\nexport default dag({ id: "c" }, () => { this is not valid`);
    await processDags(a.env);
    const cError = await adminWs.waitFor((m) => m.type === "import-error" && m.fileloc === "c.ts", "admin: c.ts import error");
    expect(cError).toMatchObject({ dag_ids: [], message: expect.any(String) });
    expect(cError.message.length).toBeGreaterThan(0);
    expect(cError).not.toHaveProperty("dags_folder");
    expect(JSON.stringify(cError)).not.toContain(a.env.config.dagsFolder);

    a.env.writeDag("a.ts", `import { dag } from "updraft";\nexport default dag({ id: "a" }, () => { not valid either`);
    await processDags(a.env);
    const aError = await limitedWs.waitFor((m) => m.type === "import-error" && m.fileloc === "a.ts", "limited: a.ts import error");
    expect(aError).toMatchObject({ dag_ids: ["a"], message: expect.any(String) });
    await adminWs.waitFor((m) => m.type === "import-error" && m.fileloc === "a.ts", "admin: a.ts import error");

    // Import warnings (type errors of files whose DAGs registered) go the same way: b's to the admin only.
    const warn = (fileloc: string) =>
      recordImportWarning(a.env.store, { dagsFolder: a.env.dagsFolder, fileloc, now: Date.now(), warning: { code: "UPDRAFT_E_TYPE_ERRORS", message: `${fileloc}:1:1 - error TS2322: no`, line: 1, column: 1, location: `${fileloc}:1:1` } });
    await warn("b.ts");
    await warn("a.ts");
    a.env.store.eventsAppended();
    const aWarning = await limitedWs.waitFor((m) => m.type === "import-warning" && m.fileloc === "a.ts", "limited: a.ts import warning");
    expect(aWarning).toMatchObject({ dag_ids: ["a"], message: "a.ts:1:1 - error TS2322: no" });
    expect(aWarning).not.toHaveProperty("dags_folder");
    await adminWs.waitFor((m) => m.type === "import-warning" && m.fileloc === "b.ts", "admin: b.ts import warning");

    // Nothing of b's, nor the error or warning of a file that defines no DAG of theirs, reached the limited user.
    const leaked = limitedWs.messages.filter((m) => m.dag_id === "b" || ((m.type === "import-error" || m.type === "import-warning") && m.fileloc !== "a.ts"));
    expect(leaked).toEqual([]);
    expect(limitedWs.messages.some((m) => JSON.stringify(m).includes("run-b"))).toBe(false);
    // Both sockets stayed open through all of it.
    expect(adminWs.ws.readyState).toBe(WebSocket.OPEN);
    expect(limitedWs.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe("events: log subscriptions (sqlite)", () => {
  it("sends a task's log lines from the start, refuses DAGs the user may not read and more than 20 subscriptions", async () => {
    const { a, url } = await setup({ dags: { "a.ts": DAG_A, "b.ts": DAG_B, "wide.ts": DAG_WIDE } });
    const runA = await trigger(a, "a", "logs-a");
    const runB = await trigger(a, "b", "logs-b");
    const wide = await trigger(a, "wide", "wide-1");
    scheduler = await startScheduler(a.env, { onlyRuns: [runA.id] });
    expect(await scheduler.waitForRun(runA.id)).toBe("success");
    await scheduler.stop();
    scheduler = undefined;

    const limitedWs = await connectAs(a, url, "limited");
    limitedWs.send({ type: "subscribe_logs", dag_id: "a", dag_run_id: "logs-a", task_id: "say", from_start: true });
    const subscribed = await limitedWs.waitFor((m) => m.type === "subscribed", "subscribed");
    expect(subscribed).toMatchObject({ dag_id: "a", dag_run_id: "logs-a", task_id: "say", try_number: 1 });
    await limitedWs.waitFor((m) => m.type === "log", "log lines");
    const logs = limitedWs.of("log");
    expect(logs.every((m) => m.dag_id === "a" && m.dag_run_id === "logs-a" && m.task_id === "say" && m.try_number === 1)).toBe(true);
    const lines = logs.flatMap((m) => m.lines as Json[]);
    expect(lines).toContainEqual(expect.objectContaining({ stream: "log", level: "info", message: "hello from a" }));
    expect(lines).toContainEqual(expect.objectContaining({ stream: "stdout", message: "stdout of a" }));
    expect(lines.every((l) => typeof l.ts === "string" && !Number.isNaN(Date.parse(l.ts)))).toBe(true);

    // b is not theirs: the same answer as a DAG that does not exist; the socket stays open.
    limitedWs.send({ type: "subscribe_logs", dag_id: "b", dag_run_id: "logs-b", task_id: "work", from_start: true });
    const refused = await limitedWs.waitFor((m) => m.type === "error", "an error for b");
    expect(refused.code).toBe("UPDRAFT_E_DAG_NOT_FOUND");
    limitedWs.send({ type: "subscribe_logs", dag_id: "nope", dag_run_id: "x", task_id: "y" });
    await eventually(async () => expect(limitedWs.of("error")).toHaveLength(2));
    expect(limitedWs.of("error")[1].code).toBe("UPDRAFT_E_DAG_NOT_FOUND");
    expect(limitedWs.of("subscribed")).toHaveLength(1);
    expect(limitedWs.ws.readyState).toBe(WebSocket.OPEN);
    // b ran nothing, but make sure none of its (future) lines could be on the way either.
    expect(limitedWs.messages.some((m) => m.dag_id === "b")).toBe(false);
    expect(runB.runId).toBe("logs-b");

    // At most 20 subscriptions per connection (the same task twice counts once).
    const adminWs = await connectAs(a, url, "admin");
    for (let i = 0; i < 20; i++) adminWs.send({ type: "subscribe_logs", dag_id: "wide", dag_run_id: wide.runId, task_id: `t${i}` });
    adminWs.send({ type: "subscribe_logs", dag_id: "wide", dag_run_id: wide.runId, task_id: "t0" });
    await eventually(async () => expect(adminWs.of("subscribed")).toHaveLength(21));
    expect(adminWs.of("error")).toEqual([]);
    adminWs.send({ type: "subscribe_logs", dag_id: "wide", dag_run_id: wide.runId, task_id: "t20" });
    const tooMany = await adminWs.waitFor((m) => m.type === "error", "an error for the 21st subscription");
    expect(tooMany.code).toBe("UPDRAFT_E_VALIDATION");
    expect(tooMany.message).toMatch(/20/);
    expect(adminWs.of("subscribed")).toHaveLength(21);
    // Unsubscribing makes room again.
    adminWs.send({ type: "unsubscribe_logs", dag_id: "wide", dag_run_id: wide.runId, task_id: "t0" });
    adminWs.send({ type: "subscribe_logs", dag_id: "wide", dag_run_id: wide.runId, task_id: "t20" });
    await eventually(async () => expect(adminWs.of("subscribed")).toHaveLength(22));
    expect(adminWs.of("error")).toHaveLength(1);
    expect(adminWs.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("a subscription made before the task starts receives its first try's lines as it runs", async () => {
    const { a, url } = await setup({ dags: { "a.ts": DAG_A } });
    const run = await trigger(a, "a", "live-a");
    const ws = await connectAs(a, url, "limited");
    ws.send({ type: "subscribe_logs", dag_id: "a", dag_run_id: "live-a", task_id: "say" });
    await ws.waitFor((m) => m.type === "subscribed", "subscribed");
    scheduler = await startScheduler(a.env, { onlyRuns: [run.id] });
    expect(await scheduler.waitForRun(run.id)).toBe("success");
    await ws.waitFor(isRunState("a", "live-a", "success"), "the run's success");
    // The lines are stored by now; give the hub's backstop (1 s) time to look for them.
    await ws.waitFor((m) => m.type === "log", "log lines of the try that ran after subscribing");
    expect(ws.of("log").flatMap((m) => m.lines as Json[]).map((l) => l.message)).toContain("hello from a");
  });
});

describe("events: robustness (sqlite)", () => {
  it("answers malformed messages with an error and keeps the socket; a vanished client does not stop delivery", async () => {
    const { a, url } = await setup({ dags: { "a.ts": DAG_A } });
    const steady = await connectAs(a, url, "admin");

    steady.send("{not json");
    const bad = await steady.waitFor((m) => m.type === "error", "an error for bad JSON");
    expect(bad.code).toBe("UPDRAFT_E_VALIDATION");
    steady.send("null");
    steady.send("42");
    steady.send({ type: "no-such-type" });
    await eventually(async () => expect(steady.of("error")).toHaveLength(4));
    expect(steady.of("error").map((e) => e.code)).toEqual(["UPDRAFT_E_VALIDATION", "UPDRAFT_E_VALIDATION", "UPDRAFT_E_VALIDATION", "UPDRAFT_E_VALIDATION"]);
    steady.send({ type: "subscribe_logs", dag_id: "" });
    await eventually(async () => expect(steady.of("error")).toHaveLength(5));
    steady.send({ type: "ping" });
    await steady.waitFor((m) => m.type === "pong", "pong after bad messages");
    expect(steady.ws.readyState).toBe(WebSocket.OPEN);

    // Clients that vanish: one drops its TCP connection without a close frame, one sends garbage.
    const dropped = await connectAs(a, url, "admin");
    const garbage = await connectAs(a, url, "limited");
    dropped.ws.terminate();
    (garbage.ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x01]));
    const admin = await a.login("admin");
    expect((await a.inject(admin, "PATCH", "/dags/a", { is_paused: true })).status).toBe(200);
    expect(await steady.waitFor((m) => m.type === "dag-updated" && m.dag_id === "a", "dag-updated after the others vanished")).toMatchObject({ is_paused: true });
    await garbage.waitClosed();

    // Later events still flow, and new clients can still connect.
    const late = await connectAs(a, url, "limited");
    expect((await a.inject(admin, "PATCH", "/dags/a", { is_paused: false })).status).toBe(200);
    await steady.waitFor((m) => m.type === "dag-updated" && m.dag_id === "a" && m.is_paused === false, "steady: unpaused");
    await late.waitFor((m) => m.type === "dag-updated" && m.dag_id === "a" && m.is_paused === false, "late: unpaused");
    expect(steady.ws.readyState).toBe(WebSocket.OPEN);
    expect(steady.of("dag-updated")).toHaveLength(2);
  });
});

describe.each(DIALECTS)("events: from another process (%s)", (dialect) => {
  it("pushes the state changes an `updraft scheduler` child process makes", async () => {
    const { a, url } = await setup({ dialect, dags: { "a.ts": DAG_A } });
    const dag = await a.env.store.db.selectFrom("dag").select(["is_paused", "is_active"]).where("dag_id", "=", "a").executeTakeFirstOrThrow();
    expect(dag).toEqual({ is_paused: 0, is_active: 1 });
    const ws = await connectAs(a, url, "limited");

    // Wake-ups of the store (PostgreSQL NOTIFY, SQLite data_version) after the trigger's own writes.
    const wakeUps: number[] = [];
    const unsubscribe = a.env.store.onEvents(() => wakeUps.push(Date.now()));

    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("UPDRAFT_")) env[key] = value;
    Object.assign(env, {
      UPDRAFT_HOME: a.env.home,
      UPDRAFT_DAGS_FOLDER: a.env.dagsFolder,
      UPDRAFT_DATABASE_URL: a.env.config.databaseUrl,
      UPDRAFT_WARM_RUNNERS: "1",
      UPDRAFT_LOG_LEVEL: "warn",
    });
    let output = "";
    child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "scheduler"], { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));

    const run = await trigger(a, "a", "cross");
    await ws.waitFor(isRunState("a", "cross", "queued"), "queued");
    // This process has written all it will; what wakes its store from now on is the child's doing.
    const afterOwnWrites = Date.now();
    const running = await ws.waitFor((m) => m.type === "ti-state" && m.dag_run_id === "cross" && m.state === "running", "the task running (from the child)", 40_000).catch((error: Error) => {
      throw new Error(`${error.message}\nchild output:\n${output}`);
    });
    expect(running.task_id).toBe("say");
    await ws.waitFor(isRunState("a", "cross", "success"), "the run's success (from the child)", 30_000);
    expect(runStates(ws, "a", "cross")).toEqual(["queued", "running", "success"]);
    expect(tiStates(ws, "a", "cross", "say")).toEqual(["queued", "running", "success"]);
    const stored = await a.env.store.db.selectFrom("dag_run").select("state").where("id", "=", run.id).executeTakeFirstOrThrow();
    expect(stored.state).toBe("success");

    // The child's commits woke this process's store (not only the hub's 1 s backstop timer).
    await eventually(async () => expect(wakeUps.filter((t) => t > afterOwnWrites).length).toBeGreaterThan(0));
    unsubscribe();
    expect(child.exitCode, output).toBeNull();
  });
});
