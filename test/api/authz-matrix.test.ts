/**
 * The authorization matrix, generated from the OpenAPI document: every operation (method + path)
 * × every role (no token, Viewer, User, Op, Admin, and "team-a", a custom role with no permissions
 * that DAG "a" grants read and edit; DAG "b" has no access list). The expected status comes from
 * the operation's `x-access` and the tables below (written out here, not taken from src/, so a
 * change of what a role may do shows up as a failure). The point is authorization, not success:
 * requests carry no body, or `{}`.
 *
 * The task-execution API (/execution/v1) is in the matrix as refusing every role: it takes try
 * tokens, which test/api/execution.test.ts covers.
 *
 * The WebSocket route /events is not part of the matrix: it is public at the HTTP level (the
 * upgrade is open) and authenticates in-band, with a header or its first message; the events
 * tests cover it.
 */
import { afterEach, describe, expect, it } from "vitest";
import { PERMISSIONS } from "../../src/security/rbac.js";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createApiEnv, TEST_PASSWORD, type ApiEnv, type InjectResult, type Json } from "./helpers.js";

const DAGS = {
  "a.ts": `
    import { dag, task } from "updraft";
    const work = task({ id: "work", run: () => 42 });
    export default dag({ id: "a", access: { "team-a": ["read", "edit"] } }, () => { work(); });
  `,
  "b.ts": `
    import { dag, task } from "updraft";
    const other = task({ id: "other", run: () => 7 });
    export default dag({ id: "b" }, () => { other(); });
  `,
  // A file that fails to import and defines no DAG: an import error only dags:read may see.
  "broken.ts": `
    import { dag } from "updraft";
    throw new Error("broken on purpose " + typeof dag);
  `,
};

type RoleKey = "anonymous" | "Viewer" | "team-a" | "User" | "Op" | "Admin";
type Need = "read" | "edit" | "trigger" | "delete";

interface RoleSpec {
  key: RoleKey;
  username: string | null;
  permissions: ReadonlySet<string>;
  /** What the role may do with each DAG (no entry: the DAG is invisible to it). */
  dags: Record<"a" | "b", ReadonlySet<Need>>;
}

const VIEWER = ["dags:read"];
const USER = [...VIEWER, "dags:edit", "runs:trigger", "runs:delete"];
const OP = [...USER, "pools:read", "pools:write", "connections:read", "connections:write", "variables:read", "variables:write"];
const none = new Set<Need>();
const reads = new Set<Need>(["read"]);
const changes = new Set<Need>(["read", "edit", "trigger"]);
const everything = new Set<Need>(["read", "edit", "trigger", "delete"]);

/** In this order: the least privileged first, so no allowed deletion runs before a refusal is checked. */
const ROLES: RoleSpec[] = [
  { key: "anonymous", username: null, permissions: new Set(), dags: { a: none, b: none } },
  { key: "Viewer", username: "viewer", permissions: new Set(VIEWER), dags: { a: reads, b: reads } },
  { key: "team-a", username: "teama", permissions: new Set(), dags: { a: changes, b: none } },
  { key: "User", username: "user", permissions: new Set(USER), dags: { a: changes, b: changes } },
  { key: "Op", username: "op", permissions: new Set(OP), dags: { a: changes, b: changes } },
  { key: "Admin", username: "admin", permissions: new Set(PERMISSIONS), dags: { a: everything, b: everything } },
];

const USERS = [
  { username: "viewer", roles: ["Viewer"] },
  { username: "teama", roles: ["team-a"] },
  { username: "user", roles: ["User"] },
  { username: "op", roles: ["Op"] },
  { username: "admin", roles: ["Admin"] },
  // Objects of the user and role routes (PATCH and DELETE act on these, not on the callers).
  { username: "target-user", roles: ["Viewer"] },
];

/**
 * Routes whose handler needs a permission besides the DAG right their `x-access` names. Deleting a
 * run is a trigger-level action on the DAG that also needs runs:delete (so team-a, which may
 * trigger DAG "a" through its access list, may not delete its runs).
 */
const EXTRA_PERMISSION: Record<string, string> = {
  "DELETE /api/v1/dags/{dag_id}/dagRuns/{dag_run_id}": "runs:delete",
};

/** GETs an allowed caller gets 404 for although the object exists (it is not theirs to see). */
const ALLOWED_GET_NOT_FOUND: Record<string, RoleKey[]> = {
  // The broken file defines no DAG: its import error is visible with dags:read only.
  "GET /api/v1/importErrors/{import_error_id}": ["team-a"],
};

const VALID_ACCESS = /^(public|authenticated|try|dag:(read|edit|trigger|delete))$/;

interface Operation {
  method: string;
  path: string;
  access: string;
  security: unknown;
  hasBody: boolean;
  key: string;
}

interface Fixtures {
  runs: Record<"a" | "b", string>;
  tasks: Record<"a" | "b", string>;
  tokenId: number;
  importErrorId: number;
}

let api: ApiEnv | undefined;
afterEach(async () => {
  await api?.cleanup();
  api = undefined;
});

/** A run of the DAG whose one task finished (try 1) with a log line and an XCom. */
async function finishedRun(a: ApiEnv, dagId: "a" | "b", taskId: string): Promise<string> {
  const db = a.env.store.db;
  const now = Date.now();
  const run = await triggerDagRun(a.env.store, dagId, { runId: `run-${dagId}` });
  await db.updateTable("dag_run").set({ state: "success", start_date: now - 1000, end_date: now, updated_at: now }).where("id", "=", run.id).execute();
  const ti = await db.selectFrom("task_instance").select("id").where("dag_run_id", "=", run.id).where("task_id", "=", taskId).executeTakeFirstOrThrow();
  await db
    .updateTable("task_instance")
    .set({ state: "success", try_number: 1, start_date: now - 900, end_date: now - 100, duration_ms: 800, updated_at: now })
    .where("id", "=", ti.id)
    .execute();
  await db.insertInto("task_log").values({ ti_id: ti.id, try_number: 1, ts: now - 500, stream: "log", level: "info", message: `a line of ${dagId}` }).execute();
  await db.insertInto("xcom").values({ dag_run_id: run.id, task_id: taskId, key: "return_value", value: "42", created_at: now - 100 }).execute();
  return run.runId;
}

async function expectOk(res: InjectResult, status: number): Promise<Json> {
  expect(res.status, res.body).toBe(status);
  return res.json;
}

async function setup(dialect: "sqlite" | "postgres"): Promise<{ a: ApiEnv; fx: Fixtures }> {
  api = await createApiEnv({ dialect, dags: DAGS, users: USERS, roles: [{ name: "target-role", permissions: [] }] });
  const a = api;
  const runs = { a: await finishedRun(a, "a", "work"), b: await finishedRun(a, "b", "other") };
  const admin = await a.login("admin");
  await expectOk(await a.inject(admin, "POST", "/pools", { name: "pool-x", slots: 3 }), 201);
  await expectOk(await a.inject(admin, "POST", "/connections", { connection_id: "conn-x", conn_type: "http", host: "example.com", password: "s3cret-pw" }), 201);
  await expectOk(await a.inject(admin, "POST", "/variables", { key: "var-x", value: "v" }), 201);
  const token = await expectOk(await a.inject(admin, "POST", "/tokens", { name: "matrix" }), 201);
  const errors = await expectOk(await a.inject(admin, "GET", "/importErrors"), 200);
  expect(errors.import_errors.map((e: Json) => e.filename)).toEqual(["broken.ts"]);
  return { a, fx: { runs, tasks: { a: "work", b: "other" }, tokenId: token.token_id as number, importErrorId: errors.import_errors[0].import_error_id as number } };
}

async function operationsOf(a: ApiEnv): Promise<{ ops: Operation[]; excluded: string[] }> {
  const res = await a.inject(null, "GET", "/openapi.json");
  expect(res.status).toBe(200);
  const ops: Operation[] = [];
  const excluded: string[] = [];
  for (const [path, item] of Object.entries<Record<string, Json>>(res.json.paths)) {
    for (const [method, op] of Object.entries<Json>(item)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const key = `${method.toUpperCase()} ${path}`;
      // See the header comment: the WebSocket route authenticates in-band.
      if (path === "/api/v1/events") {
        excluded.push(key);
        continue;
      }
      ops.push({ method: method.toUpperCase(), path, access: String(op["x-access"]), security: op.security, hasBody: op.requestBody !== undefined, key });
    }
  }
  return { ops, excluded };
}

/** The value of each path parameter, by name; unknown names are returned so the test can fail on them. */
function fill(path: string, dagId: "a" | "b", fx: Fixtures): { url: string; missing: string[] } {
  const values: Record<string, string> = {
    dag_id: dagId,
    dag_run_id: fx.runs[dagId],
    task_id: fx.tasks[dagId],
    try_number: "1",
    xcom_key: "return_value",
    pool_name: "pool-x",
    connection_id: "conn-x",
    variable_key: "var-x",
    username: "target-user",
    role_name: "target-role",
    token_id: String(fx.tokenId),
    import_error_id: String(fx.importErrorId),
    // The task-execution API's (try tokens only; see expected()).
    try_id: "0a1b2c.1.1",
    key: "return_value",
    conn_id: "conn-x",
    hash: "0".repeat(64),
  };
  const missing: string[] = [];
  const url = path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) {
      missing.push(name);
      return "MISSING";
    }
    return encodeURIComponent(value);
  });
  return { url, missing };
}

type Expected = { kind: "status"; status: number; code: string } | { kind: "allowed" };

function expected(role: RoleSpec, op: Operation, dagId: "a" | "b"): Expected {
  if (op.access === "public") return { kind: "allowed" };
  if (role.key === "anonymous") return { kind: "status", status: 401, code: "UPDRAFT_E_UNAUTHENTICATED" };
  // The task-execution API takes try tokens only: no user's token opens it, an Admin's neither.
  if (op.access === "try") return { kind: "status", status: 401, code: "UPDRAFT_E_TOKEN_INVALID" };
  if (op.access === "authenticated") return { kind: "allowed" };
  const forbidden: Expected = { kind: "status", status: 403, code: "UPDRAFT_E_FORBIDDEN" };
  if (op.access.startsWith("dag:")) {
    const need = op.access.slice(4) as Need;
    if (op.path.includes("{dag_id}")) {
      const rights = role.dags[dagId];
      if (!rights.has("read")) return { kind: "status", status: 404, code: "UPDRAFT_E_DAG_NOT_FOUND" };
      if (!rights.has(need)) return forbidden;
    } else if (need !== "read" && !role.dags.b.has(need)) {
      // A DAG action on no DAG of the path: only a role granting it on every DAG may.
      return forbidden;
    }
    const extra = EXTRA_PERMISSION[op.key];
    if (extra && !role.permissions.has(extra)) return forbidden;
    return { kind: "allowed" };
  }
  return role.permissions.has(op.access) ? { kind: "allowed" } : forbidden;
}

/** Mutations last (reads see every fixture), and deleting the DAG the very last. */
function rank(op: Operation): number {
  if (op.key === "DELETE /api/v1/dags/{dag_id}") return 3;
  if (op.method === "DELETE") return 2;
  if (op.method === "GET") return 0;
  return 1;
}

async function call(a: ApiEnv, role: RoleSpec, op: Operation, url: string): Promise<InjectResult> {
  let token: string | null = null;
  if (role.username && op.key === "POST /api/v1/auth/logout") {
    // Logging out ends the session of the token it carries: give it a session of its own (not
    // the helper's cached one, which the other requests use).
    const res = await a.inject(null, "POST", "/auth/login", { username: role.username, password: TEST_PASSWORD });
    expect(res.status, res.body).toBe(200);
    token = res.json.access_token as string;
  } else if (role.username) {
    token = await a.login(role.username);
  }
  return a.inject(token, op.method, url, op.hasBody ? {} : undefined);
}

function check(role: RoleSpec, op: Operation, url: string, res: InjectResult, want: Expected, exact404 = false): string | null {
  const show = (wanted: string) => `${role.key.padEnd(9)} ${op.method.padEnd(6)} ${url} (x-access ${op.access}): got ${res.status} ${res.json?.code ?? res.body.slice(0, 80)}, expected ${wanted}`;
  if (exact404) return res.status === 404 && res.json?.code === "UPDRAFT_E_DAG_NOT_FOUND" ? null : show("404 UPDRAFT_E_DAG_NOT_FOUND");
  if (want.kind === "status") return res.status === want.status && res.json?.code === want.code ? null : show(`${want.status} ${want.code}`);
  if (res.status === 401 || res.status === 403 || res.status >= 500) return show("allowed (not 401/403/5xx)");
  if (op.method === "GET" && op.access !== "public") {
    const notFound = ALLOWED_GET_NOT_FOUND[op.key]?.includes(role.key) ?? false;
    if (notFound ? res.status !== 404 : res.status !== 200) return show(notFound ? "404 (allowed, but not theirs to see)" : "200 (allowed, and the fixture exists)");
  }
  return null;
}

describe.each(DIALECTS)("authorization matrix (%s)", (dialect) => {
  it("every operation of the OpenAPI document × every role answers as the access rules say", async () => {
    const { a, fx } = await setup(dialect);
    const { ops, excluded } = await operationsOf(a);

    // The document is complete and every operation declares who may call it.
    const keys = new Set(ops.map((o) => o.key));
    for (const core of [
      "GET /api/v1/dags",
      "GET /api/v1/dags/{dag_id}/source",
      "POST /api/v1/dags/{dag_id}/dagRuns",
      "GET /api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}",
      "GET /api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries",
      "GET /api/v1/importErrors",
      "POST /api/v1/pools",
      "POST /api/v1/connections",
      "POST /api/v1/variables",
      "POST /api/v1/users",
      "POST /api/v1/roles",
      "POST /api/v1/tokens",
      "GET /api/v1/eventLogs",
      "GET /api/v1/config",
    ]) {
      expect(keys, `the document lacks ${core}`).toContain(core);
    }
    expect(keys.size, "operations listed twice").toBe(ops.length);
    const documented = ops.length + excluded.length;
    const badAccess = ops.filter((o) => !VALID_ACCESS.test(o.access) && !(PERMISSIONS as readonly string[]).includes(o.access)).map((o) => `${o.key}: x-access ${o.access}`);
    expect(badAccess, "operations without a valid x-access").toEqual([]);
    const scheme = (o: Operation) => (o.access === "try" ? "tryToken" : "bearer");
    const insecure = ops.filter((o) => o.access !== "public" && !(Array.isArray(o.security) && o.security.some((s: Json) => s && scheme(o) in s))).map((o) => o.key);
    expect(insecure, "non-public operations that do not declare security").toEqual([]);
    const publicOps = ops.filter((o) => o.access === "public").map((o) => o.key).sort();
    expect(publicOps).toEqual(["GET /api/v1/health", "GET /api/v1/version", "POST /api/v1/auth/login", "POST /api/v1/auth/refresh"]);

    // Every path parameter has a fixture, or the route would slip out of the matrix.
    const missing = [...new Set(ops.flatMap((o) => fill(o.path, "a", fx).missing.map((name) => `${name} (in ${o.key})`)))];
    expect(missing, "path parameters without a fixture in this test: add one").toEqual([]);

    const failures: string[] = [];
    const checked = new Set<string>();
    const ordered = [...ops].sort((x, y) => rank(x) - rank(y));

    // Team-a on DAG "b" (no access list): every DAG route answers exactly as for a DAG that does not exist.
    const teamA = ROLES.find((r) => r.key === "team-a")!;
    for (const op of ordered.filter((o) => o.path.includes("{dag_id}"))) {
      const { url } = fill(op.path, "b", fx);
      const res = await call(a, teamA, op, url);
      const failure = check(teamA, op, url, res, { kind: "status", status: 404, code: "UPDRAFT_E_DAG_NOT_FOUND" }, true);
      if (failure) failures.push(failure);
      else {
        const ghost = await call(a, teamA, op, fill(op.path, "b", fx).url.replace("/dags/b", "/dags/no-such-dag"));
        const same = ghost.status === res.status && ghost.json?.code === res.json?.code && ghost.json?.message?.replace("no-such-dag", "X") === res.json?.message?.replace("'b'", "'X'");
        if (!same) failures.push(`team-a    ${op.method} ${url}: answers ${res.body} but for a missing DAG ${ghost.body}`);
      }
    }

    // The main pass, on DAG "a".
    for (const op of ordered) {
      const { url } = fill(op.path, "a", fx);
      for (const role of ROLES) {
        const res = await call(a, role, op, url);
        const failure = check(role, op, url, res, expected(role, op, "a"));
        if (failure) failures.push(failure);
        checked.add(op.key);
      }
    }

    expect(failures, `\n${failures.join("\n")}\n`).toEqual([]);
    // Every operation of the document was checked (the WebSocket route aside).
    expect(checked.size + excluded.length).toBeGreaterThanOrEqual(documented);
  });

  it("lists across DAGs show team-a DAG a's objects only, and Admin both", async () => {
    const { a } = await setup(dialect);
    const teama = await a.login("teama");
    const admin = await a.login("admin");
    const lists: Array<[string, string]> = [
      ["/dags", "dags"],
      ["/dagRuns", "dag_runs"],
      ["/dags/~/dagRuns", "dag_runs"],
      ["/taskInstances", "task_instances"],
      ["/dags/~/dagRuns/~/taskInstances", "task_instances"],
      ["/dags/~/dagRuns/~/taskInstances/~/xcomEntries", "xcom_entries"],
    ];
    for (const [url, field] of lists) {
      const mine = await expectOk(await a.inject(teama, "GET", url), 200);
      expect(mine[field].map((x: Json) => x.dag_id), url).toEqual(["a"]);
      expect(mine.total_entries, url).toBe(1);
      const all = await expectOk(await a.inject(admin, "GET", url), 200);
      expect([...new Set(all[field].map((x: Json) => x.dag_id))].sort(), url).toEqual(["a", "b"]);
    }
    // Filtering by a DAG of another team finds nothing (rather than leaking it).
    const filtered = await expectOk(await a.inject(teama, "GET", "/dagRuns?dag_ids=b"), 200);
    expect(filtered).toMatchObject({ dag_runs: [], total_entries: 0 });
    expect((await expectOk(await a.inject(teama, "GET", "/importErrors"), 200)).total_entries).toBe(0);
    expect((await expectOk(await a.inject(admin, "GET", "/importErrors"), 200)).total_entries).toBe(1);
  });
});
