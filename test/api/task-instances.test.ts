/** Task instances over the API: lists, one, tries, logs (tailing), XComs, mark and clear; who may; a real run end to end. */
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { requireDagRun } from "../../src/store/runs.js";
import type { TaskInstanceUpdate } from "../../src/store/schema.js";
import { startScheduler } from "../helpers/run.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createApiEnv, eventually, type ApiEnv, type Json } from "./helpers.js";

/** alpha: extract -> transform -> load (extract logs and pushes "stats"); team-a may read and edit it. beta: one task, team-b's. */
const DAGS = {
  "alpha.ts": `
    import { dag, task } from "updraft";
    const extract = task({
      id: "extract",
      run: async (_: void, ctx) => {
        console.log("extracting rows");
        ctx.log.info("region is", ctx.params.region);
        await ctx.xcom.push("stats", { rows: 3, region: ctx.params.region });
        return 1;
      },
    });
    const transform = task({ id: "transform", run: (n: number) => n + 1 });
    const load = task({ id: "load", run: (n: number) => n * 2 });
    export default dag({
      id: "alpha",
      params: { region: { type: "string", default: "eu" } },
      access: { "team-a": ["read", "edit"] },
    }, () => { load(transform(extract())); });
  `,
  "beta.ts": `
    import { dag, task } from "updraft";
    const only = task({ id: "only", run: () => "b" });
    export default dag({ id: "beta", access: { "team-b": ["read", "edit"] } }, () => { only(); });
  `,
};

const USERS = [
  { username: "admin", roles: ["Admin"] },
  { username: "viewer", roles: ["Viewer"] },
  { username: "teama", roles: ["team-a"] },
];

const T0 = Date.UTC(2026, 0, 10, 12);

let api: ApiEnv | undefined;
afterEach(async () => {
  await api?.cleanup();
  api = undefined;
});

async function setup(dialect: "sqlite" | "postgres" = "sqlite"): Promise<ApiEnv> {
  api = await createApiEnv({ dialect, dags: DAGS, users: USERS });
  return api;
}

async function trigger(a: ApiEnv, dagId: string, body: Record<string, unknown>): Promise<string> {
  const res = await a.inject(await a.login("admin"), "POST", `/dags/${dagId}/dagRuns`, body);
  expect(res.status, res.body).toBe(200);
  return res.json.dag_run_id as string;
}

async function tiOf(a: ApiEnv, dagId: string, runId: string, taskId: string) {
  const run = await requireDagRun(a.env.store.db, dagId, runId);
  return a.env.store.db.selectFrom("task_instance").selectAll().where("dag_run_id", "=", run.id).where("task_id", "=", taskId).executeTakeFirstOrThrow();
}

async function setTi(a: ApiEnv, dagId: string, runId: string, taskId: string, values: TaskInstanceUpdate): Promise<number> {
  const ti = await tiOf(a, dagId, runId, taskId);
  await a.env.store.db.updateTable("task_instance").set(values).where("id", "=", ti.id).execute();
  return ti.id;
}

async function addLogs(a: ApiEnv, tiId: number, tryNumber: number, messages: string[]): Promise<void> {
  await a.env.store.db
    .insertInto("task_log")
    .values(messages.map((message, i) => ({ ti_id: tiId, try_number: tryNumber, ts: T0 + i, stream: i % 2 ? "stdout" : "log", level: "info", message })))
    .execute();
}

async function states(a: ApiEnv, runId: string): Promise<Record<string, string>> {
  const res = await a.inject(await a.login("admin"), "GET", `/dags/alpha/dagRuns/${runId}/taskInstances`);
  return Object.fromEntries(res.json.task_instances.map((t: { task_id: string; state: string }) => [t.task_id, t.state]));
}

/** Two alpha runs (r1 on Jan 1, r2 on Feb 1) and one beta run (b1). In r1 extract succeeded, transform failed; in r2 extract is running. */
async function seed(a: ApiEnv): Promise<void> {
  await trigger(a, "alpha", { dag_run_id: "r1", logical_date: "2026-01-01T00:00:00Z" });
  await trigger(a, "alpha", { dag_run_id: "r2", logical_date: "2026-02-01T00:00:00Z" });
  await trigger(a, "beta", { dag_run_id: "b1" });
  await setTi(a, "alpha", "r1", "extract", { state: "success", try_number: 1, start_date: T0, end_date: T0 + 1000, duration_ms: 1000, hostname: "h1", pid: 42 });
  await setTi(a, "alpha", "r1", "transform", { state: "failed", try_number: 1, start_date: T0 + 2000, end_date: T0 + 2500, duration_ms: 500 });
  await setTi(a, "alpha", "r1", "load", { state: "upstream_failed", end_date: T0 + 2500 });
  await setTi(a, "alpha", "r2", "extract", { state: "running", try_number: 1, try_id: "try-r2", start_date: T0 + 5000 });
}

const taskIds = (res: { json: Json }) => res.json.task_instances.map((t: { dag_id: string; dag_run_id: string; task_id: string }) => `${t.dag_run_id}/${t.task_id}`);

describe.each(DIALECTS)("task instances API (%s)", (dialect) => {
  it("lists task instances of a run, of every run, across DAGs, with filters and paging; reads one", async () => {
    const a = await setup(dialect);
    await seed(a);
    const admin = await a.login("admin");

    const r1 = await a.inject(admin, "GET", "/dags/alpha/dagRuns/r1/taskInstances");
    expect(r1.status, r1.body).toBe(200);
    expect(taskIds(r1)).toEqual(["r1/extract", "r1/transform", "r1/load"]);
    expect(r1.json.total_entries).toBe(3);
    expect(r1.json.task_instances[0]).toMatchObject({
      dag_id: "alpha",
      dag_run_id: "r1",
      task_id: "extract",
      logical_date: "2026-01-01T00:00:00.000Z",
      state: "success",
      try_number: 1,
      max_tries: 1,
      start_date: new Date(T0).toISOString(),
      end_date: new Date(T0 + 1000).toISOString(),
      duration_ms: 1000,
      hostname: "h1",
      pid: 42,
      pool: "default_pool",
    });
    expect(taskIds(await a.inject(admin, "GET", "/dags/alpha/dagRuns/r1/taskInstances?state=failed&state=upstream_failed"))).toEqual(["r1/transform", "r1/load"]);
    expect(taskIds(await a.inject(admin, "GET", "/dags/alpha/dagRuns/r1/taskInstances?order_by=-duration_ms&limit=2"))).toEqual(["r1/extract", "r1/transform"]);

    const one = await a.inject(admin, "GET", "/dags/alpha/dagRuns/r1/taskInstances/transform");
    expect(one.status).toBe(200);
    expect(one.json).toEqual(r1.json.task_instances[1]);

    const across = await a.inject(admin, "GET", "/taskInstances");
    expect(across.json.total_entries).toBe(7);
    expect(taskIds(await a.inject(admin, "GET", "/taskInstances?dag_ids=beta"))).toEqual(["b1/only"]);
    expect(taskIds(await a.inject(admin, "GET", "/taskInstances?state=success&state=running"))).toEqual(["r1/extract", "r2/extract"]);
    expect(taskIds(await a.inject(admin, "GET", "/taskInstances?task_ids=extract&order_by=-start_date"))).toEqual(["r2/extract", "r1/extract"]);
    expect(taskIds(await a.inject(admin, "GET", "/taskInstances?dag_run_ids=r2"))).toEqual(["r2/extract", "r2/transform", "r2/load"]);
    expect(taskIds(await a.inject(admin, "GET", "/taskInstances?dag_ids=alpha&logical_date_gte=2026-01-15T00:00:00Z&state=running"))).toEqual(["r2/extract"]);
    expect(taskIds(await a.inject(admin, "GET", `/taskInstances?start_date_gte=${new Date(T0 + 1500).toISOString()}`))).toEqual(["r1/transform", "r2/extract"]);
    expect(taskIds(await a.inject(admin, "GET", `/taskInstances?end_date_lte=${new Date(T0 + 1000).toISOString()}`))).toEqual(["r1/extract"]);
    const page = await a.inject(admin, "GET", "/taskInstances?dag_ids=alpha&limit=2&offset=2");
    expect(taskIds(page)).toEqual(["r1/load", "r2/extract"]);
    expect(page.json.total_entries).toBe(6);
    // "~" stands for every run or DAG.
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns/~/taskInstances")).json.total_entries).toBe(6);
    expect((await a.inject(admin, "GET", "/dags/~/dagRuns/~/taskInstances")).json.total_entries).toBe(7);
    expect(taskIds(await a.inject(admin, "GET", "/dags/~/dagRuns/b1/taskInstances"))).toEqual(["b1/only"]);

    const noTask = await a.inject(admin, "GET", "/dags/alpha/dagRuns/r1/taskInstances/nope");
    expect(noTask.status).toBe(404);
    expect(noTask.json.code).toBe("UPDRAFT_E_TASK_NOT_FOUND");
    const noRun = await a.inject(admin, "GET", "/dags/alpha/dagRuns/nope/taskInstances");
    expect(noRun.status).toBe(404);
    expect(noRun.json.code).toBe("UPDRAFT_E_DAG_RUN_NOT_FOUND");
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns/nope/taskInstances/extract")).json.code).toBe("UPDRAFT_E_DAG_RUN_NOT_FOUND");
    expect((await a.inject(admin, "GET", "/dags/~/dagRuns/r1/taskInstances/extract")).json.code).toBe("UPDRAFT_E_DAG_NOT_FOUND");
    for (const bad of ["state=done", "order_by=hostname", "limit=5000", "start_date_gte=soon", "dag_id=alpha"]) {
      const res = await a.inject(admin, "GET", `/taskInstances?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.json.code).toBe("UPDRAFT_E_VALIDATION");
    }
  });

  it('lists XComs across task instances, runs and DAGs with "~" (Airflow\'s way), with key and date filters, ordering and paging', async () => {
    const a = await setup(dialect);
    await seed(a);
    const admin = await a.login("admin");
    const db = a.env.store.db;
    const [r1, r2, b1] = await Promise.all([requireDagRun(db, "alpha", "r1"), requireDagRun(db, "alpha", "r2"), requireDagRun(db, "beta", "b1")]);
    await db
      .insertInto("xcom")
      .values([
        { dag_run_id: r1.id, task_id: "extract", key: "return_value", value: "1", created_at: T0 },
        { dag_run_id: r1.id, task_id: "extract", key: "stats", value: '{"rows":3}', created_at: T0 + 1 },
        { dag_run_id: r1.id, task_id: "transform", key: "return_value", value: "2", created_at: T0 + 2 },
        { dag_run_id: r2.id, task_id: "extract", key: "stats", value: '{"rows":5}', created_at: T0 + 3 },
        { dag_run_id: b1.id, task_id: "only", key: "return_value", value: '"b"', created_at: T0 + 4 },
      ])
      .execute();
    const keys = (res: { json: Json }) => res.json.xcom_entries.map((x: Json) => `${x.dag_id}/${x.dag_run_id}/${x.task_id}/${x.key}`);

    const all = await a.inject(admin, "GET", "/dags/~/dagRuns/~/taskInstances/~/xcomEntries?order_by=-timestamp");
    expect(all.status, all.body).toBe(200);
    expect(keys(all)).toEqual(["beta/b1/only/return_value", "alpha/r2/extract/stats", "alpha/r1/transform/return_value", "alpha/r1/extract/stats", "alpha/r1/extract/return_value"]);
    expect(all.json.total_entries).toBe(5);
    expect(all.json.xcom_entries[1]).toEqual({ dag_id: "alpha", dag_run_id: "r2", task_id: "extract", key: "stats", value: { rows: 5 }, timestamp: new Date(T0 + 3).toISOString() });

    // Paging keeps the order; the total counts every match.
    const page = await a.inject(admin, "GET", "/dags/~/dagRuns/~/taskInstances/~/xcomEntries?order_by=-timestamp&limit=2&offset=2");
    expect(keys(page)).toEqual(["alpha/r1/transform/return_value", "alpha/r1/extract/stats"]);
    expect(page.json.total_entries).toBe(5);
    // One DAG, one run, one task, one key; a run id across DAGs; logical dates.
    expect(keys(await a.inject(admin, "GET", "/dags/alpha/dagRuns/~/taskInstances/~/xcomEntries?order_by=timestamp"))).toEqual([
      "alpha/r1/extract/return_value",
      "alpha/r1/extract/stats",
      "alpha/r1/transform/return_value",
      "alpha/r2/extract/stats",
    ]);
    expect(keys(await a.inject(admin, "GET", "/dags/alpha/dagRuns/r1/taskInstances/~/xcomEntries?xcom_key=return_value"))).toEqual(["alpha/r1/extract/return_value", "alpha/r1/transform/return_value"]);
    expect(keys(await a.inject(admin, "GET", "/dags/~/dagRuns/~/taskInstances/extract/xcomEntries?xcom_key=stats&order_by=-logical_date"))).toEqual(["alpha/r2/extract/stats", "alpha/r1/extract/stats"]);
    expect(keys(await a.inject(admin, "GET", "/dags/~/dagRuns/b1/taskInstances/~/xcomEntries"))).toEqual(["beta/b1/only/return_value"]);
    expect(keys(await a.inject(admin, "GET", "/dags/~/dagRuns/~/taskInstances/~/xcomEntries?logical_date_gte=2026-01-15T00:00:00Z&logical_date_lte=2026-02-15T00:00:00Z"))).toEqual(["alpha/r2/extract/stats"]);

    // Named in full, the run and the task instance must exist; "~" is no DAG for one entry.
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns/nope/taskInstances/~/xcomEntries")).json.code).toBe("UPDRAFT_E_DAG_RUN_NOT_FOUND");
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns/r1/taskInstances/nope/xcomEntries")).json.code).toBe("UPDRAFT_E_TASK_NOT_FOUND");
    expect((await a.inject(admin, "GET", "/dags/~/dagRuns/r1/taskInstances/extract/xcomEntries/stats")).json.code).toBe("UPDRAFT_E_DAG_NOT_FOUND");
    for (const bad of ["order_by=value", "limit=5000", "logical_date_gte=soon", "dag_ids=alpha"]) {
      const res = await a.inject(admin, "GET", `/dags/~/dagRuns/~/taskInstances/~/xcomEntries?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.json.code).toBe("UPDRAFT_E_VALIDATION");
    }
  });

  it("tails a try's log with continuation tokens: new lines only, until the try is over", async () => {
    const a = await setup(dialect);
    await seed(a);
    const admin = await a.login("admin");
    const tiId = (await tiOf(a, "alpha", "r2", "extract")).id;
    const url = "/dags/alpha/dagRuns/r2/taskInstances/extract/logs/1";
    const read = async (query = "") => {
      const res = await a.inject(admin, "GET", `${url}${query}`);
      expect(res.status, res.body).toBe(200);
      return res.json as { lines: Array<{ ts: string; stream: string; level: string; message: string }>; continuation_token: string | null; finished: boolean };
    };

    const empty = await read();
    expect(empty).toEqual({ lines: [], continuation_token: null, finished: false });

    await addLogs(a, tiId, 1, ["one", "two", "three"]);
    const first = await read();
    expect(first.lines).toEqual([
      { ts: new Date(T0).toISOString(), stream: "log", level: "info", message: "one" },
      { ts: new Date(T0 + 1).toISOString(), stream: "stdout", level: "info", message: "two" },
      { ts: new Date(T0 + 2).toISOString(), stream: "log", level: "info", message: "three" },
    ]);
    expect(first.finished).toBe(false);
    expect(first.continuation_token).toMatch(/^[A-Za-z0-9_-]+$/);

    // Nothing new: no lines, the same token.
    const idle = await read(`?continuation_token=${first.continuation_token}`);
    expect(idle).toEqual({ lines: [], continuation_token: first.continuation_token, finished: false });

    // Lines of another try do not show; new lines of this one do, and only those.
    await addLogs(a, tiId, 2, ["other try"]);
    await addLogs(a, tiId, 1, ["four", "five", "six"]);
    const page1 = await read(`?continuation_token=${first.continuation_token}&limit=2`);
    expect(page1.lines.map((l) => l.message)).toEqual(["four", "five"]);
    // The try ends; the next page is the last one, and only then is the log finished.
    await setTi(a, "alpha", "r2", "extract", { state: "success", end_date: T0 + 9000 });
    const page2 = await read(`?continuation_token=${page1.continuation_token}&limit=1`);
    expect(page2.lines.map((l) => l.message)).toEqual(["six"]);
    expect(page2.finished).toBe(true);
    const done = await read(`?continuation_token=${page2.continuation_token}`);
    expect(done).toEqual({ lines: [], continuation_token: page2.continuation_token, finished: true });
    // From the start, limited: more lines remain, so not finished yet.
    const limited = await read("?limit=5");
    expect(limited.lines).toHaveLength(5);
    expect(limited.finished).toBe(false);

    for (const token of ["not a token!", "Zm9v", Buffer.from("log:abc").toString("base64url"), Buffer.from("log:007").toString("base64url"), `${first.continuation_token}=`]) {
      const res = await a.inject(admin, "GET", `${url}?continuation_token=${encodeURIComponent(token)}`);
      expect(res.status, token).toBe(400);
      expect(res.json.code).toBe("UPDRAFT_E_VALIDATION");
    }
    expect((await a.inject(admin, "GET", `${url}?limit=1001`)).status).toBe(400);
    for (const tryNumber of ["0", "2", "-1", "1.5", "abc", "01", "99999999999"]) {
      const res = await a.inject(admin, "GET", `/dags/alpha/dagRuns/r2/taskInstances/extract/logs/${tryNumber}`);
      expect(res.status, tryNumber).toBe(404);
      expect(res.json.code).toBe("UPDRAFT_E_TASK_TRY_NOT_FOUND");
    }
    // A task instance that has not run has no try 1.
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns/r2/taskInstances/load/logs/1")).json.code).toBe("UPDRAFT_E_TASK_TRY_NOT_FOUND");
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns/r2/taskInstances/nope/logs/1")).json.code).toBe("UPDRAFT_E_TASK_NOT_FOUND");
  });

});

describe.each(DIALECTS)("dry runs and the audit log (%s)", (dialect) => {
  it("a dry run of clear or mark (task instances and runs) is not audited; the same change for real is, once", async () => {
    const a = await setup(dialect);
    await seed(a);
    const admin = await a.login("admin");
    const audited = async () => {
      const rows = await a.env.store.db.selectFrom("audit_log").select(["action", "object_id", "outcome", "details"]).where("action", "<>", "auth.login").where("action", "<>", "dag_run.trigger").orderBy("id").execute();
      return rows.map((r) => ({ action: r.action, object_id: r.object_id, outcome: r.outcome, dry_run: (JSON.parse(r.details ?? "{}") as { dry_run?: unknown }).dry_run }));
    };
    const ok = async (method: string, url: string, body: Record<string, unknown>) => {
      const res = await a.inject(admin, method, url, body);
      expect(res.status, res.body).toBe(200);
      expect(res.json.dry_run).toBe(body.dry_run !== false && (body.dry_run === true || method === "POST"));
    };
    // Dry runs: the defaults of clear and mark, and dry_run: true where the default is a real change.
    await ok("POST", "/dags/alpha/clearTaskInstances", { dag_run_id: "r1" });
    await ok("POST", "/dags/alpha/clearTaskInstances", { dag_run_id: "r1", dry_run: true });
    await ok("PATCH", "/dags/alpha/dagRuns/r1/taskInstances/transform", { new_state: "success", dry_run: true });
    await ok("POST", "/dags/alpha/dagRuns/r1/clear", {});
    await ok("POST", "/dags/alpha/dagRuns/r1/mark", { state: "success" });
    // Then a real change, whose record is written once its answer is sent: once it is there, the dry runs before it would be too.
    await ok("PATCH", "/dags/alpha/dagRuns/r1/taskInstances/transform", { new_state: "success" });
    await eventually(async () => expect((await audited()).length).toBeGreaterThanOrEqual(1));
    expect(await audited()).toEqual([{ action: "task_instance.set_state", object_id: "r1/transform", outcome: "success", dry_run: false }]);

    await ok("POST", "/dags/alpha/clearTaskInstances", { dag_run_id: "r1", task_ids: ["transform"], dry_run: false });
    await ok("POST", "/dags/alpha/dagRuns/r1/clear", { dry_run: false });
    await ok("POST", "/dags/alpha/dagRuns/r1/mark", { state: "failed", dry_run: false });
    await eventually(async () => expect((await audited()).length).toBe(4));
    expect((await audited()).map((r) => [r.action, r.dry_run])).toEqual([
      ["task_instance.set_state", false],
      ["task_instance.clear", false],
      ["dag_run.clear", false],
      ["dag_run.mark", false],
    ]);

    // A refused request is recorded whatever it asked for: nothing about it ran.
    const viewer = await a.login("viewer");
    expect((await a.inject(viewer, "POST", "/dags/alpha/clearTaskInstances", { dag_run_id: "r1", dry_run: true })).status).toBe(403);
    await eventually(async () => expect((await audited()).at(-1)).toMatchObject({ action: "task_instance.clear", outcome: "denied" }));
  });
});

describe("task instances API, SQLite only", () => {
  const dialect = "sqlite";

  it("shows the tries of a task instance: the history with errors (the stack of the task's code, and the whole one), and the try on its way", async () => {
    // As the runner records it: the task's frame, then Updraft's runner and Node's.
    const FULL_STACK = [
      "Error: boom",
      "    at transform (/dags/alpha.ts:12:9)",
      `    at runTry (${fileURLToPath(new URL("../../src/runner/run-try.ts", import.meta.url))}:107:17)`,
      "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
    ].join("\n");
    const a = await setup(dialect);
    await seed(a);
    const admin = await a.login("admin");
    const ti = await tiOf(a, "alpha", "r1", "transform");
    await a.env.store.db
      .insertInto("task_try")
      .values({
        ti_id: ti.id, dag_run_id: ti.dag_run_id, dag_id: "alpha", task_id: "transform", try_number: 1, try_id: "t-1", state: "failed",
        queued_at: T0 + 1900, start_date: T0 + 2000, end_date: T0 + 2500, duration_ms: 500, hostname: "h1", pid: 7,
        error: JSON.stringify({ message: "boom", code: "UPDRAFT_E_BASH_FAILED", stack: FULL_STACK, retryable: true }),
      })
      .execute();
    await setTi(a, "alpha", "r1", "transform", { state: "running", try_number: 2, try_id: "t-2", start_date: T0 + 9000, end_date: null, duration_ms: null, hostname: "h2", pid: 8 });

    const res = await a.inject(admin, "GET", "/dags/alpha/dagRuns/r1/taskInstances/transform/tries");
    expect(res.status, res.body).toBe(200);
    expect(res.json).toEqual({
      task_instance_tries: [
        {
          try_number: 1, state: "failed", queued_when: new Date(T0 + 1900).toISOString(), start_date: new Date(T0 + 2000).toISOString(),
          end_date: new Date(T0 + 2500).toISOString(), duration_ms: 500, hostname: "h1", pid: 7, error_message: "boom", error_code: "UPDRAFT_E_BASH_FAILED",
          stack: "Error: boom\n    at transform (/dags/alpha.ts:12:9)", full_stack: FULL_STACK,
        },
        {
          try_number: 2, state: "running", queued_when: null, start_date: new Date(T0 + 9000).toISOString(),
          end_date: null, duration_ms: null, hostname: "h2", pid: 8, error_message: null, error_code: null, stack: null, full_stack: null,
        },
      ],
      total_entries: 2,
    });
    // A task instance that never ran has no tries.
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns/r2/taskInstances/load/tries")).json).toEqual({ task_instance_tries: [], total_entries: 0 });
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns/r1/taskInstances/nope/tries")).json.code).toBe("UPDRAFT_E_TASK_NOT_FOUND");
  });

  it("lists and reads XCom entries, values as JSON", async () => {
    const a = await setup(dialect);
    await seed(a);
    const admin = await a.login("admin");
    const run = await requireDagRun(a.env.store.db, "alpha", "r1");
    await a.env.store.db
      .insertInto("xcom")
      .values([
        { dag_run_id: run.id, task_id: "extract", key: "return_value", value: "1", created_at: T0 },
        { dag_run_id: run.id, task_id: "extract", key: "stats", value: JSON.stringify({ rows: 3, tags: ["a"] }), created_at: T0 + 1 },
        { dag_run_id: run.id, task_id: "transform", key: "return_value", value: "2", created_at: T0 + 2 },
      ])
      .execute();
    const base = "/dags/alpha/dagRuns/r1/taskInstances/extract/xcomEntries";
    const list = await a.inject(admin, "GET", base);
    expect(list.status, list.body).toBe(200);
    expect(list.json).toEqual({
      xcom_entries: [
        { dag_id: "alpha", dag_run_id: "r1", task_id: "extract", key: "return_value", value: 1, timestamp: new Date(T0).toISOString() },
        { dag_id: "alpha", dag_run_id: "r1", task_id: "extract", key: "stats", value: { rows: 3, tags: ["a"] }, timestamp: new Date(T0 + 1).toISOString() },
      ],
      total_entries: 2,
    });
    expect((await a.inject(admin, "GET", `${base}?limit=1&offset=1`)).json.xcom_entries.map((x: { key: string }) => x.key)).toEqual(["stats"]);
    const one = await a.inject(admin, "GET", `${base}/stats`);
    expect(one.status).toBe(200);
    expect(one.json).toEqual(list.json.xcom_entries[1]);
    const missing = await a.inject(admin, "GET", `${base}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.json.code).toBe("UPDRAFT_E_XCOM_NOT_FOUND");
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns/r1/taskInstances/load/xcomEntries")).json).toEqual({ xcom_entries: [], total_entries: 0 });
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns/r9/taskInstances/extract/xcomEntries")).json.code).toBe("UPDRAFT_E_DAG_RUN_NOT_FOUND");
  });

  it("marks a task instance success or failed, with its downstream, and as a dry run", async () => {
    const a = await setup(dialect);
    await seed(a);
    const admin = await a.login("admin");
    await a.env.store.db.updateTable("dag_run").set({ state: "failed", end_date: T0 + 3000 }).where("run_id", "=", "r1").execute();
    const url = "/dags/alpha/dagRuns/r1/taskInstances/transform";

    const dry = await a.inject(admin, "PATCH", url, { new_state: "success", include_downstream: true, dry_run: true });
    expect(dry.status, dry.body).toBe(200);
    expect(dry.json).toEqual({
      task_instances: [
        { dag_id: "alpha", dag_run_id: "r1", task_id: "transform", previous_state: "failed", new_state: "success" },
        { dag_id: "alpha", dag_run_id: "r1", task_id: "load", previous_state: "upstream_failed", new_state: "success" },
      ],
      total_entries: 2,
      dry_run: true,
    });
    expect(await states(a, "r1")).toEqual({ extract: "success", transform: "failed", load: "upstream_failed" });

    const only = await a.inject(admin, "PATCH", url, { new_state: "success" });
    expect(only.json.task_instances.map((t: { task_id: string }) => t.task_id)).toEqual(["transform"]);
    expect(await states(a, "r1")).toEqual({ extract: "success", transform: "success", load: "upstream_failed" });
    // The run is evaluated again.
    expect((await requireDagRun(a.env.store.db, "alpha", "r1")).state).toBe("running");
    const failed = await a.inject(admin, "PATCH", "/dags/alpha/dagRuns/r1/taskInstances/extract", { new_state: "failed", include_downstream: true });
    expect(failed.json.total_entries).toBe(3);
    expect(await states(a, "r1")).toEqual({ extract: "failed", transform: "failed", load: "failed" });

    for (const body of [{}, { new_state: "running" }, { new_state: "none" }, { new_state: "success", note: "x" }, { new_state: "success", dry_run: "maybe" }]) {
      const res = await a.inject(admin, "PATCH", url, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.code).toBe("UPDRAFT_E_VALIDATION");
    }
    expect((await a.inject(admin, "PATCH", "/dags/alpha/dagRuns/r1/taskInstances/nope", { new_state: "success" })).json.code).toBe("UPDRAFT_E_TASK_NOT_FOUND");
    expect((await a.inject(admin, "PATCH", "/dags/alpha/dagRuns/r9/taskInstances/load", { new_state: "success" })).json.code).toBe("UPDRAFT_E_DAG_RUN_NOT_FOUND");
  });

  it("clears task instances: a dry run by default, with downstream, upstream or only the failed ones", async () => {
    const a = await setup(dialect);
    await seed(a);
    const admin = await a.login("admin");
    const clear = (body: Record<string, unknown>) => a.inject(admin, "POST", "/dags/alpha/clearTaskInstances", body);
    const cleared = (res: { json: Json }) => res.json.task_instances.map((t: { task_id: string; previous_state: string }) => `${t.task_id}:${t.previous_state}`);

    const dry = await clear({ dag_run_id: "r1", task_ids: ["transform"], include_downstream: true });
    expect(dry.status, dry.body).toBe(200);
    expect(dry.json.dry_run).toBe(true);
    expect(cleared(dry)).toEqual(["transform:failed", "load:upstream_failed"]);
    expect(await states(a, "r1")).toEqual({ extract: "success", transform: "failed", load: "upstream_failed" });
    expect(cleared(await clear({ dag_run_id: "r1", task_ids: ["transform"], include_upstream: true }))).toEqual(["extract:success", "transform:failed"]);
    expect(cleared(await clear({ dag_run_id: "r1", only_failed: true }))).toEqual(["transform:failed", "load:upstream_failed"]);

    const real = await clear({ dag_run_id: "r1", task_ids: ["transform"], include_downstream: true, dry_run: false });
    expect(real.json).toMatchObject({ dry_run: false, total_entries: 2 });
    expect(real.json.task_instances[0]).toEqual({ dag_id: "alpha", dag_run_id: "r1", task_id: "transform", previous_state: "failed", new_state: "none" });
    expect(await states(a, "r1")).toEqual({ extract: "success", transform: "none", load: "none" });
    expect((await requireDagRun(a.env.store.db, "alpha", "r1")).state).toBe("queued");

    const noTask = await clear({ dag_run_id: "r1", task_ids: ["nope"] });
    expect(noTask.status).toBe(404);
    expect(noTask.json.code).toBe("UPDRAFT_E_TASK_NOT_FOUND");
    expect((await clear({ dag_run_id: "r9" })).json.code).toBe("UPDRAFT_E_DAG_RUN_NOT_FOUND");
    for (const body of [{}, { dag_run_id: "r1", task_ids: [] }, { dag_run_id: "r1", reset_dag_runs: true }, { dag_run_id: "r1", task_ids: [{}] }]) {
      const res = await clear(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.code).toBe("UPDRAFT_E_VALIDATION");
    }
    const tilde = await a.inject(admin, "POST", "/dags/~/clearTaskInstances", { dag_run_id: "r1" });
    expect(tilde.status).toBe(404);
  });
});

describe("task instances: who may do what", () => {
  it("a Viewer reads task instances, tries, logs and XComs but may not mark or clear", async () => {
    const a = await setup();
    await seed(a);
    const viewer = await a.login("viewer");
    const base = "/dags/alpha/dagRuns/r1/taskInstances";
    for (const url of [base, `${base}/extract`, `${base}/extract/tries`, `${base}/extract/logs/1`, `${base}/extract/xcomEntries`, "/taskInstances"]) {
      expect((await a.inject(viewer, "GET", url)).status, url).toBe(200);
    }
    const mark = await a.inject(viewer, "PATCH", `${base}/transform`, { new_state: "success", dry_run: true });
    expect(mark.status).toBe(403);
    expect(mark.json.code).toBe("UPDRAFT_E_FORBIDDEN");
    const clear = await a.inject(viewer, "POST", "/dags/alpha/clearTaskInstances", { dag_run_id: "r1", dry_run: true });
    expect(clear.status).toBe(403);
    expect(await states(a, "r1")).toEqual({ extract: "success", transform: "failed", load: "upstream_failed" });
  });

  it("a user whose only role is named in alpha's access reads and acts on alpha's task instances and gets 404 for all of beta's", async () => {
    const a = await setup();
    await seed(a);
    const b1 = await requireDagRun(a.env.store.db, "beta", "b1");
    const onlyTi = await setTi(a, "beta", "b1", "only", { state: "success", try_number: 1 });
    await addLogs(a, onlyTi, 1, ["beta secret"]);
    await a.env.store.db.insertInto("xcom").values({ dag_run_id: b1.id, task_id: "only", key: "return_value", value: '"b"', created_at: T0 }).execute();
    const alphaTi = (await tiOf(a, "alpha", "r1", "extract")).id;
    await addLogs(a, alphaTi, 1, ["alpha line"]);
    const t = await a.login("teama");

    const base = "/dags/alpha/dagRuns/r1/taskInstances";
    expect((await a.inject(t, "GET", base)).json.total_entries).toBe(3);
    expect((await a.inject(t, "GET", `${base}/extract/logs/1`)).json.lines.map((l: { message: string }) => l.message)).toEqual(["alpha line"]);
    expect((await a.inject(t, "GET", `${base}/extract/tries`)).status).toBe(200);
    expect((await a.inject(t, "GET", `${base}/extract/xcomEntries`)).status).toBe(200);
    expect((await a.inject(t, "PATCH", `${base}/transform`, { new_state: "success" })).status).toBe(200);
    expect((await a.inject(t, "POST", "/dags/alpha/clearTaskInstances", { dag_run_id: "r1", dry_run: true })).status).toBe(200);

    const bb = "/dags/beta/dagRuns/b1/taskInstances";
    const attempts: Array<[string, string, unknown]> = [
      ["GET", bb, undefined],
      ["GET", "/dags/beta/dagRuns/~/taskInstances", undefined],
      ["GET", `${bb}/only`, undefined],
      ["GET", `${bb}/only/tries`, undefined],
      ["GET", `${bb}/only/logs/1`, undefined],
      ["GET", `${bb}/only/logs/1?continuation_token=${Buffer.from("log:0").toString("base64url")}`, undefined],
      ["GET", `${bb}/only/xcomEntries`, undefined],
      ["GET", `${bb}/only/xcomEntries/return_value`, undefined],
      ["PATCH", `${bb}/only`, { new_state: "failed" }],
      ["POST", "/dags/beta/clearTaskInstances", { dag_run_id: "b1", dry_run: false }],
    ];
    for (const [method, url, body] of attempts) {
      const res = await a.inject(t, method, url, body);
      expect(res.status, `${method} ${url}`).toBe(404);
      expect(res.json).toEqual({ code: "UPDRAFT_E_DAG_NOT_FOUND", message: "DAG 'beta' not found", status: 404 });
      expect(res.body).not.toContain("beta secret");
    }
    const across = await a.inject(t, "GET", "/taskInstances");
    expect(across.json.total_entries).toBe(6);
    expect(new Set(across.json.task_instances.map((x: { dag_id: string }) => x.dag_id))).toEqual(new Set(["alpha"]));
    expect((await a.inject(t, "GET", "/taskInstances?dag_ids=beta")).json).toEqual({ task_instances: [], total_entries: 0 });
    expect((await a.inject(t, "GET", "/taskInstances?dag_run_ids=b1")).json.total_entries).toBe(0);
    expect((await a.inject(t, "GET", "/dags/~/dagRuns/~/taskInstances")).json.total_entries).toBe(6);
    expect((await a.inject(t, "GET", "/dags/~/dagRuns/b1/taskInstances")).json.total_entries).toBe(0);
    // XComs across DAGs: alpha's only; beta's are filtered out before paging, and beta itself is not there.
    await a.env.store.db.insertInto("xcom").values({ dag_run_id: (await requireDagRun(a.env.store.db, "alpha", "r1")).id, task_id: "extract", key: "stats", value: "{}", created_at: T0 }).execute();
    const xcoms = await a.inject(t, "GET", "/dags/~/dagRuns/~/taskInstances/~/xcomEntries?limit=1");
    expect(xcoms.status, xcoms.body).toBe(200);
    expect(xcoms.json.total_entries).toBe(1);
    expect(xcoms.json.xcom_entries.map((x: Json) => `${x.dag_id}/${x.key}`)).toEqual(["alpha/stats"]);
    for (const url of ["/dags/~/dagRuns/b1/taskInstances/~/xcomEntries", "/dags/~/dagRuns/~/taskInstances/only/xcomEntries?xcom_key=return_value"]) {
      const res = await a.inject(t, "GET", url);
      expect(res.json, url).toEqual({ xcom_entries: [], total_entries: 0 });
    }
    for (const url of ["/dags/beta/dagRuns/~/taskInstances/~/xcomEntries", "/dags/beta/dagRuns/b1/taskInstances/~/xcomEntries"]) {
      const res = await a.inject(t, "GET", url);
      expect(res.status, url).toBe(404);
      expect(res.json).toEqual({ code: "UPDRAFT_E_DAG_NOT_FOUND", message: "DAG 'beta' not found", status: 404 });
    }
    // An Admin sees both DAGs' entries on the same route.
    const adminXcoms = await a.inject(await a.login("admin"), "GET", "/dags/~/dagRuns/~/taskInstances/~/xcomEntries");
    expect(new Set(adminXcoms.json.xcom_entries.map((x: Json) => x.dag_id))).toEqual(new Set(["alpha", "beta"]));
    expect((await tiOf(a, "beta", "b1", "only")).state).toBe("success");
  });
});

describe.each(DIALECTS)("a run triggered over the API (%s)", (dialect) => {
  it("runs to success under a scheduler; its task instances, tries, logs and XComs are then read over the API", async () => {
    const a = await setup(dialect);
    const t = await a.login("teama");
    const scheduler = await startScheduler(a.env);
    try {
      const res = await a.inject(t, "POST", "/dags/alpha/dagRuns", { dag_run_id: "live", conf: { region: "us" } });
      expect(res.status, res.body).toBe(200);
      const run = await requireDagRun(a.env.store.db, "alpha", "live");
      expect(await scheduler.waitForRun(run.id, 60_000)).toBe("success");
    } finally {
      await scheduler.stop();
    }
    const base = "/dags/alpha/dagRuns/live";
    expect((await a.inject(t, "GET", base)).json).toMatchObject({ state: "success", conf: { region: "us" } });
    expect((await a.inject(t, "GET", `${base}/taskInstances`)).json.task_instances.map((x: { task_id: string; state: string; try_number: number }) => `${x.task_id}:${x.state}:${x.try_number}`)).toEqual([
      "extract:success:1",
      "transform:success:1",
      "load:success:1",
    ]);
    const tries = await a.inject(t, "GET", `${base}/taskInstances/extract/tries`);
    expect(tries.json.task_instance_tries).toHaveLength(1);
    expect(tries.json.task_instance_tries[0]).toMatchObject({ try_number: 1, state: "success", error_message: null });

    const logs = await a.inject(t, "GET", `${base}/taskInstances/extract/logs/1`);
    expect(logs.status).toBe(200);
    expect(logs.json.finished).toBe(true);
    const messages = logs.json.lines.map((l: { message: string }) => l.message).join("\n");
    expect(messages).toContain("extracting rows");
    expect(messages).toContain("region is us");
    const after = await a.inject(t, "GET", `${base}/taskInstances/extract/logs/1?continuation_token=${logs.json.continuation_token}`);
    expect(after.json).toMatchObject({ lines: [], finished: true });

    const xcoms = await a.inject(t, "GET", `${base}/taskInstances/extract/xcomEntries`);
    expect(xcoms.json.xcom_entries.map((x: { key: string; value: unknown }) => [x.key, x.value])).toEqual([
      ["return_value", 1],
      ["stats", { rows: 3, region: "us" }],
    ]);
    expect((await a.inject(t, "GET", `${base}/taskInstances/load/xcomEntries/return_value`)).json.value).toBe(4);
  });
});
