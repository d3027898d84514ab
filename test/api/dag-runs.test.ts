/** DAG runs over the API: lists, trigger, set state and note, clear, delete; import errors; who may do what. */
import { afterEach, describe, expect, it } from "vitest";
import { requireDagRun } from "../../src/store/runs.js";
import type { TaskInstanceUpdate } from "../../src/store/schema.js";
import { processDags } from "../helpers/run.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createApiEnv, eventually, type ApiEnv, type ApiEnvOptions } from "./helpers.js";

/** alpha: extract -> transform -> load, params region (eu|us) and n; team-a may read and edit it. beta: one task, team-b's. */
const DAGS = {
  "alpha.ts": `
    import { dag, task } from "updraft";
    const extract = task({ id: "extract", run: () => 1 });
    const transform = task({ id: "transform", run: (n: number) => n + 1 });
    const load = task({ id: "load", run: (n: number) => n * 2 });
    export default dag({
      id: "alpha",
      params: { region: { type: "string", default: "eu", enum: ["eu", "us"] }, n: { type: "integer", default: 1 } },
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
  { username: "user", roles: ["User"] },
  { username: "teama", roles: ["team-a"] },
];

let api: ApiEnv | undefined;
afterEach(async () => {
  await api?.cleanup();
  api = undefined;
});

async function setup(dialect: "sqlite" | "postgres" = "sqlite", options: ApiEnvOptions = {}): Promise<ApiEnv> {
  api = await createApiEnv({ dialect, dags: DAGS, users: USERS, ...options });
  return api;
}

/** Triggers a run as admin and returns its run id. */
async function trigger(a: ApiEnv, dagId: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await a.inject(await a.login("admin"), "POST", `/dags/${dagId}/dagRuns`, body);
  expect(res.status, res.body).toBe(200);
  return res.json.dag_run_id as string;
}

async function setTi(a: ApiEnv, dagId: string, runId: string, taskId: string, values: TaskInstanceUpdate): Promise<void> {
  const run = await requireDagRun(a.env.store.db, dagId, runId);
  await a.env.store.db.updateTable("task_instance").set(values).where("dag_run_id", "=", run.id).where("task_id", "=", taskId).execute();
}

async function tiStates(a: ApiEnv, dagId: string, runId: string): Promise<Record<string, string>> {
  const run = await requireDagRun(a.env.store.db, dagId, runId);
  const rows = await a.env.store.db.selectFrom("task_instance").select(["task_id", "state"]).where("dag_run_id", "=", run.id).execute();
  return Object.fromEntries(rows.map((r) => [r.task_id, r.state]));
}

describe.each(DIALECTS)("DAG runs API (%s)", (dialect) => {
  it("triggers a run with conf, logical date, run id and note, and reads it back", async () => {
    const a = await setup(dialect);
    const admin = await a.login("admin");
    const res = await a.inject(admin, "POST", "/dags/alpha/dagRuns", {
      dag_run_id: "first",
      logical_date: "2026-03-01T10:00:00Z",
      conf: { region: "us" },
      note: "by hand",
    });
    expect(res.status, res.body).toBe(200);
    expect(res.json).toMatchObject({
      dag_id: "alpha",
      dag_run_id: "first",
      run_type: "manual",
      state: "queued",
      logical_date: "2026-03-01T10:00:00.000Z",
      conf: { region: "us" },
      note: "by hand",
      dag_version: 1,
      start_date: null,
    });
    const one = await a.inject(admin, "GET", "/dags/alpha/dagRuns/first");
    expect(one.status).toBe(200);
    expect(one.json).toEqual(res.json);
    const tis = await tiStates(a, "alpha", "first");
    expect(tis).toEqual({ extract: "none", transform: "none", load: "none" });
    // The run's params are the defaults with the conf laid over them.
    const stored = await requireDagRun(a.env.store.db, "alpha", "first");
    expect(JSON.parse(stored.params)).toEqual({ region: "us", n: 1 });
    // The trigger is audited with the run id.
    await eventually(async () => {
      const audit = await a.env.store.db.selectFrom("audit_log").selectAll().where("action", "=", "dag_run.trigger").execute();
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ username: "admin", dag_id: "alpha", object_id: "first", outcome: "success", status: 200 });
    });
  });

  it("lists runs with filters, ordering and paging, per DAG and across DAGs", async () => {
    const a = await setup(dialect);
    const admin = await a.login("admin");
    for (const [id, date] of [["jan", "2026-01-15T00:00:00Z"], ["feb", "2026-02-15T00:00:00Z"], ["mar", "2026-03-15T00:00:00Z"]] as const) {
      await trigger(a, "alpha", { dag_run_id: id, logical_date: date });
    }
    await trigger(a, "beta", { dag_run_id: "b1", logical_date: "2026-02-20T00:00:00Z" });
    const feb = await requireDagRun(a.env.store.db, "alpha", "feb");
    await a.env.store.db.updateTable("dag_run").set({ state: "failed", start_date: Date.UTC(2026, 1, 15, 1), end_date: Date.UTC(2026, 1, 15, 2) }).where("id", "=", feb.id).execute();

    const ids = (res: { json: { dag_runs: Array<{ dag_run_id: string }> } }) => res.json.dag_runs.map((r) => r.dag_run_id);
    const all = await a.inject(admin, "GET", "/dags/alpha/dagRuns");
    expect(all.status).toBe(200);
    expect(ids(all)).toEqual(["mar", "feb", "jan"]);
    expect(all.json.total_entries).toBe(3);

    expect(ids(await a.inject(admin, "GET", "/dags/alpha/dagRuns?order_by=logical_date"))).toEqual(["jan", "feb", "mar"]);
    expect(ids(await a.inject(admin, "GET", "/dags/alpha/dagRuns?state=failed"))).toEqual(["feb"]);
    expect(ids(await a.inject(admin, "GET", "/dags/alpha/dagRuns?state=failed&state=queued"))).toEqual(["mar", "feb", "jan"]);
    expect(ids(await a.inject(admin, "GET", "/dags/alpha/dagRuns?run_type=scheduled"))).toEqual([]);
    expect(ids(await a.inject(admin, "GET", "/dags/alpha/dagRuns?logical_date_gte=2026-02-01T00:00:00Z&logical_date_lte=2026-03-01T00:00:00Z"))).toEqual(["feb"]);
    expect(ids(await a.inject(admin, "GET", "/dags/alpha/dagRuns?start_date_gte=2026-02-15T00:30:00Z"))).toEqual(["feb"]);
    // Runs that never started come last when ordered by start date, either way.
    expect(ids(await a.inject(admin, "GET", "/dags/alpha/dagRuns?order_by=-start_date")).at(0)).toBe("feb");
    expect(ids(await a.inject(admin, "GET", "/dags/alpha/dagRuns?order_by=start_date")).at(0)).toBe("feb");

    const page = await a.inject(admin, "GET", "/dags/alpha/dagRuns?limit=2&offset=1");
    expect(ids(page)).toEqual(["feb", "jan"]);
    expect(page.json.total_entries).toBe(3);

    const across = await a.inject(admin, "GET", "/dagRuns?order_by=logical_date");
    expect(across.json.dag_runs.map((r: { dag_id: string; dag_run_id: string }) => `${r.dag_id}/${r.dag_run_id}`)).toEqual(["alpha/jan", "alpha/feb", "beta/b1", "alpha/mar"]);
    expect(ids(await a.inject(admin, "GET", "/dagRuns?dag_ids=beta"))).toEqual(["b1"]);
    expect((await a.inject(admin, "GET", "/dagRuns?dag_ids=beta&dag_ids=alpha&state=queued")).json.total_entries).toBe(3);
    expect((await a.inject(admin, "GET", "/dags/~/dagRuns")).json.total_entries).toBe(4);

    for (const bad of ["order_by=conf", "state=paused", "limit=1001", "limit=0", "logical_date_gte=someday", "colour=blue"]) {
      const res = await a.inject(admin, "GET", `/dags/alpha/dagRuns?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.json.code).toBe("UPDRAFT_E_VALIDATION");
    }
  });

  it("sets a run's note and state like Airflow: success, failed, and queued (clear all)", async () => {
    const a = await setup(dialect);
    const admin = await a.login("admin");
    await trigger(a, "alpha", { dag_run_id: "r1" });

    const note = await a.inject(admin, "PATCH", "/dags/alpha/dagRuns/r1", { note: "looked at it" });
    expect(note.status).toBe(200);
    expect(note.json).toMatchObject({ note: "looked at it", state: "queued" });

    // Failed: the running task instance fails, the other unfinished ones are skipped, finished ones stay.
    await a.env.store.db.updateTable("dag_run").set({ state: "running" }).where("run_id", "=", "r1").execute();
    await setTi(a, "alpha", "r1", "extract", { state: "success", try_number: 1 });
    await setTi(a, "alpha", "r1", "transform", { state: "running", try_number: 1, try_id: "t1" });
    const failed = await a.inject(admin, "PATCH", "/dags/alpha/dagRuns/r1", { state: "failed" });
    expect(failed.status, failed.body).toBe(200);
    expect(failed.json.state).toBe("failed");
    expect(failed.json.end_date).not.toBeNull();
    expect(await tiStates(a, "alpha", "r1")).toEqual({ extract: "success", transform: "failed", load: "skipped" });
    // Live clients hear of it: the changes are in the event log.
    const events = await a.env.store.db.selectFrom("event").select("payload").where("dag_id", "=", "alpha").orderBy("id").execute();
    expect(events.map((e) => JSON.parse(e.payload) as Record<string, unknown>).slice(-3)).toEqual([
      { kind: "ti-state", dag_id: "alpha", run_id: "r1", task_id: "transform", state: "failed" },
      { kind: "ti-state", dag_id: "alpha", run_id: "r1", task_id: "load", state: "skipped" },
      { kind: "run-state", dag_id: "alpha", run_id: "r1", state: "failed" },
    ]);

    // Success: every task instance not success (or skipped) is marked success.
    const success = await a.inject(admin, "PATCH", "/dags/alpha/dagRuns/r1", { state: "success", note: null });
    expect(success.status).toBe(200);
    expect(success.json).toMatchObject({ state: "success", note: null });
    expect(await tiStates(a, "alpha", "r1")).toEqual({ extract: "success", transform: "success", load: "skipped" });

    // Queued: everything is cleared and the run waits to run again.
    const queued = await a.inject(admin, "PATCH", "/dags/alpha/dagRuns/r1", { state: "queued" });
    expect(queued.status).toBe(200);
    expect(queued.json).toMatchObject({ state: "queued", end_date: null });
    expect(await tiStates(a, "alpha", "r1")).toEqual({ extract: "none", transform: "none", load: "none" });

    for (const body of [{}, { state: "running" }, { state: "success", conf: {} }, { dag_run_id: "r2" }, { note: "x".repeat(1001) }]) {
      const res = await a.inject(admin, "PATCH", "/dags/alpha/dagRuns/r1", body);
      expect(res.status, JSON.stringify(body).slice(0, 50)).toBe(400);
      expect(res.json.code).toBe("UPDRAFT_E_VALIDATION");
    }
    const missing = await a.inject(admin, "PATCH", "/dags/alpha/dagRuns/nope", { state: "failed" });
    expect(missing.status).toBe(404);
    expect(missing.json.code).toBe("UPDRAFT_E_DAG_RUN_NOT_FOUND");
    await eventually(async () => {
      const audit = await a.env.store.db.selectFrom("audit_log").select(["action", "status"]).where("action", "=", "dag_run.update").execute();
      expect(audit.filter((r) => r.status === 200)).toHaveLength(4);
      expect(audit).toHaveLength(4 + 6);
    });
  });

  it("deletes a run (runs:delete), but not one with tasks on their way", async () => {
    const a = await setup(dialect);
    await trigger(a, "alpha", { dag_run_id: "r1" });
    await trigger(a, "alpha", { dag_run_id: "r2" });
    const user = await a.login("user");

    expect((await a.inject(await a.login("viewer"), "DELETE", "/dags/alpha/dagRuns/r1")).status).toBe(403);
    // team-a may edit alpha (trigger, clear, mark) but holds no runs:delete.
    const teamA = await a.inject(await a.login("teama"), "DELETE", "/dags/alpha/dagRuns/r1");
    expect(teamA.status).toBe(403);
    expect(teamA.json.message).toContain("runs:delete");

    await setTi(a, "alpha", "r2", "extract", { state: "running", try_number: 1, try_id: "t" });
    const busy = await a.inject(user, "DELETE", "/dags/alpha/dagRuns/r2");
    expect(busy.status).toBe(409);
    expect(busy.json.code).toBe("UPDRAFT_E_INVALID_STATE");

    const gone = await a.inject(user, "DELETE", "/dags/alpha/dagRuns/r1");
    expect(gone.status).toBe(204);
    expect((await a.inject(user, "GET", "/dags/alpha/dagRuns/r1")).status).toBe(404);
    expect(await a.env.store.db.selectFrom("task_instance").select("id").where("dag_id", "=", "alpha").execute()).toHaveLength(3);
    expect((await a.inject(user, "DELETE", "/dags/alpha/dagRuns/r1")).json.code).toBe("UPDRAFT_E_DAG_RUN_NOT_FOUND");
    await eventually(async () => {
      const audit = await a.env.store.db.selectFrom("audit_log").select(["username", "outcome"]).where("action", "=", "dag_run.delete").orderBy("id").execute();
      expect(audit.map((r) => `${r.username}:${r.outcome}`).sort()).toEqual(["teama:denied", "user:failure", "user:failure", "user:success", "viewer:denied"]);
    });
  });
});

describe("DAG runs API, SQLite only", () => {
  const dialect = "sqlite";

  it("rejects conf that does not fit the params, bad bodies, unknown fields, clashing run ids and unknown DAGs", async () => {
    const a = await setup(dialect);
    const admin = await a.login("admin");
    const bad = await a.inject(admin, "POST", "/dags/alpha/dagRuns", { conf: { region: "mars" } });
    expect(bad.status).toBe(400);
    expect(bad.json.code).toBe("UPDRAFT_E_PARAMS_INVALID");
    expect(bad.json.message).toContain("param 'region' must be one of");
    const wrongType = await a.inject(admin, "POST", "/dags/alpha/dagRuns", { conf: { n: "three" } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json.message).toContain("param 'n'");

    const unknown = await a.inject(admin, "POST", "/dags/alpha/dagRuns", { conf: {}, state: "success" });
    expect(unknown.status).toBe(400);
    expect(unknown.json.code).toBe("UPDRAFT_E_VALIDATION");
    const notObject = await a.inject(admin, "POST", "/dags/alpha/dagRuns", { conf: [1, 2] });
    expect(notObject.status).toBe(400);
    const badDate = await a.inject(admin, "POST", "/dags/alpha/dagRuns", { logical_date: "yesterday-ish" });
    expect(badDate.status).toBe(400);
    expect(badDate.json.code).toBe("UPDRAFT_E_INVALID_DATE");
    const badId = await a.inject(admin, "POST", "/dags/alpha/dagRuns", { dag_run_id: "has space" });
    expect(badId.status).toBe(400);

    await trigger(a, "alpha", { dag_run_id: "r1" });
    const clash = await a.inject(admin, "POST", "/dags/alpha/dagRuns", { dag_run_id: "r1" });
    expect(clash.status).toBe(409);
    expect(clash.json.code).toBe("UPDRAFT_E_DAG_RUN_EXISTS");

    const missing = await a.inject(admin, "POST", "/dags/nope/dagRuns", {});
    expect(missing.status).toBe(404);
    expect(missing.json.code).toBe("UPDRAFT_E_DAG_NOT_FOUND");
    const tilde = await a.inject(admin, "POST", "/dags/~/dagRuns", {});
    expect(tilde.status).toBe(404);
    expect(tilde.json.code).toBe("UPDRAFT_E_DAG_NOT_FOUND");
    const noRun = await a.inject(admin, "GET", "/dags/alpha/dagRuns/nope");
    expect(noRun.status).toBe(404);
    expect(noRun.json.code).toBe("UPDRAFT_E_DAG_RUN_NOT_FOUND");
    // Only the one good trigger made a run.
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns")).json.total_entries).toBe(1);
  });

  it("marks a run: a dry run by default lists the task instances that change with it, then the same for real", async () => {
    const a = await setup(dialect);
    const admin = await a.login("admin");
    await trigger(a, "alpha", { dag_run_id: "m1" });
    await setTi(a, "alpha", "m1", "extract", { state: "success", try_number: 1 });
    await setTi(a, "alpha", "m1", "transform", { state: "running", try_number: 1 });

    const dry = await a.inject(admin, "POST", "/dags/alpha/dagRuns/m1/mark", { state: "failed" });
    expect(dry.status, dry.body).toBe(200);
    expect(dry.json.dry_run).toBe(true);
    const changes = (dry.json.task_instances as Array<{ task_id: string; previous_state: string; new_state: string }>).map((t) => `${t.task_id}:${t.previous_state}>${t.new_state}`);
    expect(changes.sort()).toEqual(["load:none>skipped", "transform:running>failed"].sort());
    expect(await tiStates(a, "alpha", "m1")).toEqual({ extract: "success", transform: "running", load: "none" });
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns/m1")).json.state).not.toBe("failed");

    const real = await a.inject(admin, "POST", "/dags/alpha/dagRuns/m1/mark", { state: "failed", dry_run: false });
    expect(real.status, real.body).toBe(200);
    expect(real.json).toMatchObject({ dry_run: false, total_entries: 2 });
    expect(await tiStates(a, "alpha", "m1")).toEqual({ extract: "success", transform: "failed", load: "skipped" });
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns/m1")).json.state).toBe("failed");

    expect((await a.inject(admin, "POST", "/dags/alpha/dagRuns/m1/mark", { state: "queued" })).status).toBe(400);
    expect((await a.inject(await a.login("viewer"), "POST", "/dags/alpha/dagRuns/m1/mark", { state: "success" })).status).toBe(403);
  });

  it("clears a run: a dry run by default, only the failed ones on request", async () => {
    const a = await setup(dialect);
    const admin = await a.login("admin");
    await trigger(a, "alpha", { dag_run_id: "r1" });
    await setTi(a, "alpha", "r1", "extract", { state: "success", try_number: 1 });
    await setTi(a, "alpha", "r1", "transform", { state: "failed", try_number: 1 });
    await setTi(a, "alpha", "r1", "load", { state: "upstream_failed" });
    await a.env.store.db.updateTable("dag_run").set({ state: "failed", end_date: Date.now() }).where("run_id", "=", "r1").execute();

    const dry = await a.inject(admin, "POST", "/dags/alpha/dagRuns/r1/clear", {});
    expect(dry.status, dry.body).toBe(200);
    expect(dry.json.dry_run).toBe(true);
    expect(dry.json.task_instances.map((t: { task_id: string; previous_state: string }) => `${t.task_id}:${t.previous_state}`)).toEqual(["extract:success", "transform:failed", "load:upstream_failed"]);
    expect(await tiStates(a, "alpha", "r1")).toEqual({ extract: "success", transform: "failed", load: "upstream_failed" });
    // No body at all is a dry run too.
    const bare = await a.inject(admin, "POST", "/dags/alpha/dagRuns/r1/clear");
    expect(bare.status, bare.body).toBe(200);
    expect(bare.json).toMatchObject({ dry_run: true, total_entries: 3 });

    const onlyFailed = await a.inject(admin, "POST", "/dags/alpha/dagRuns/r1/clear", { only_failed: true, dry_run: false });
    expect(onlyFailed.status).toBe(200);
    expect(onlyFailed.json).toMatchObject({ dry_run: false, total_entries: 2 });
    expect(onlyFailed.json.task_instances[0]).toEqual({ dag_id: "alpha", dag_run_id: "r1", task_id: "transform", previous_state: "failed", new_state: "none" });
    expect(await tiStates(a, "alpha", "r1")).toEqual({ extract: "success", transform: "none", load: "none" });
    expect((await a.inject(admin, "GET", "/dags/alpha/dagRuns/r1")).json.state).toBe("queued");

    expect((await a.inject(admin, "POST", "/dags/alpha/dagRuns/r1/clear", { dry_run: false, task_ids: ["load"] })).status).toBe(400);
    expect((await a.inject(admin, "POST", "/dags/alpha/dagRuns/nope/clear", {})).json.code).toBe("UPDRAFT_E_DAG_RUN_NOT_FOUND");
  });
});

describe("DAG runs: who may do what", () => {
  it("a Viewer reads runs but may not trigger, clear, set state or delete", async () => {
    const a = await setup();
    await trigger(a, "alpha", { dag_run_id: "r1" });
    const viewer = await a.login("viewer");
    expect((await a.inject(viewer, "GET", "/dags/alpha/dagRuns")).json.total_entries).toBe(1);
    expect((await a.inject(viewer, "GET", "/dags/alpha/dagRuns/r1")).status).toBe(200);
    expect((await a.inject(viewer, "GET", "/dagRuns")).json.total_entries).toBe(1);
    const attempts: Array<[string, string, unknown]> = [
      ["POST", "/dags/alpha/dagRuns", {}],
      ["PATCH", "/dags/alpha/dagRuns/r1", { state: "failed" }],
      ["PATCH", "/dags/alpha/dagRuns/r1", { note: "mine" }],
      ["POST", "/dags/alpha/dagRuns/r1/clear", { dry_run: true }],
      ["DELETE", "/dags/alpha/dagRuns/r1", undefined],
    ];
    for (const [method, url, body] of attempts) {
      const res = await a.inject(viewer, method, url, body);
      expect(res.status, `${method} ${url}`).toBe(403);
      expect(res.json.code).toBe("UPDRAFT_E_FORBIDDEN");
    }
    expect((await a.inject(viewer, "GET", "/dags/alpha/dagRuns/r1")).json).toMatchObject({ state: "queued", note: null });
    expect((await a.inject(null, "GET", "/dags/alpha/dagRuns")).status).toBe(401);
  });

  it("a user whose only role is named in alpha's access works with alpha's runs and gets 404 for all of beta's", async () => {
    const a = await setup();
    await trigger(a, "alpha", { dag_run_id: "a1" });
    await trigger(a, "beta", { dag_run_id: "b1" });
    const t = await a.login("teama");

    // alpha: read, trigger, set state, clear.
    expect((await a.inject(t, "GET", "/dags/alpha/dagRuns")).json.total_entries).toBe(1);
    const mine = await a.inject(t, "POST", "/dags/alpha/dagRuns", { dag_run_id: "a2", conf: { region: "us" } });
    expect(mine.status, mine.body).toBe(200);
    expect((await a.inject(t, "PATCH", "/dags/alpha/dagRuns/a2", { state: "failed" })).status).toBe(200);
    expect((await a.inject(t, "POST", "/dags/alpha/dagRuns/a2/clear", { dry_run: true })).status).toBe(200);

    // beta: every route answers as if it did not exist.
    const attempts: Array<[string, string, unknown]> = [
      ["GET", "/dags/beta/dagRuns", undefined],
      ["GET", "/dags/beta/dagRuns/b1", undefined],
      ["GET", "/dags/beta/dagRuns/nope", undefined],
      ["POST", "/dags/beta/dagRuns", {}],
      ["PATCH", "/dags/beta/dagRuns/b1", { state: "failed" }],
      ["POST", "/dags/beta/dagRuns/b1/clear", { dry_run: false }],
      ["DELETE", "/dags/beta/dagRuns/b1", undefined],
    ];
    for (const [method, url, body] of attempts) {
      const res = await a.inject(t, method, url, body);
      expect(res.status, `${method} ${url}`).toBe(404);
      expect(res.json).toEqual({ code: "UPDRAFT_E_DAG_NOT_FOUND", message: "DAG 'beta' not found", status: 404 });
    }
    // The lists across DAGs hold alpha's runs only, whatever the filter.
    const across = await a.inject(t, "GET", "/dagRuns");
    expect(across.json.dag_runs.map((r: { dag_id: string }) => r.dag_id)).toEqual(["alpha", "alpha"]);
    expect(across.json.total_entries).toBe(2);
    expect((await a.inject(t, "GET", "/dagRuns?dag_ids=beta")).json).toEqual({ dag_runs: [], total_entries: 0 });
    expect((await a.inject(t, "GET", "/dags/~/dagRuns")).json.total_entries).toBe(2);
    // beta's run is untouched.
    expect((await requireDagRun(a.env.store.db, "beta", "b1")).state).toBe("queued");
    // A user with no role at all sees no run.
    await a.addUser({ username: "nobody", roles: [] });
    expect((await a.inject(await a.login("nobody"), "GET", "/dagRuns")).json).toEqual({ dag_runs: [], total_entries: 0 });
    expect((await a.inject(await a.login("nobody"), "GET", "/dags/alpha/dagRuns")).status).toBe(404);
  });
});

describe.each(DIALECTS)("a DAG whose file failed to import (%s)", (dialect) => {
  it("is still 404, with the import error named (message, hint, details) to callers who may read that import error only", async () => {
    const a = await setup(dialect);
    // gamma.ts never imported (syntax error on line 3). alpha.ts gains a DAG and a syntax error:
    // alpha stays registered with its last version, alpha_v2 never was.
    a.env.writeDag("gamma.ts", `import { dag, task } from "updraft";\nconst t = task({ id: "t", run: () => 1 });\nexport default dag({ id: "gamma" }, () => { t( });\n`);
    a.env.writeDag("alpha.ts", `import { dag } from "updraft";\nexport default dag({ id: "alpha", access: { "team-a": ["read", "edit"] } }, () => {});\nexport const v2 = dag({ id: "alpha_v2" }, () => { ) });\n`);
    await processDags(a.env);

    for (const user of ["admin", "viewer"]) {
      const token = await a.login(user);
      for (const [method, url] of [["POST", "/dags/gamma/dagRuns"], ["GET", "/dags/gamma"]] as const) {
        const res = await a.inject(token, method, url, method === "POST" ? {} : undefined);
        expect(res.status, `${user} ${method} ${url}`).toBe(404);
        expect(res.json.code).toBe("UPDRAFT_E_DAG_NOT_FOUND");
        expect(res.json.message).toMatch(/^DAG 'gamma' not found, and a file that may define it failed to import: gamma\.ts:3(:\d+)? \[UPDRAFT_E_[A-Z_]+\] /);
        expect(res.json.hint).toMatch(/fix the file/);
        expect(res.json.details.import_errors).toMatchObject([{ filename: "gamma.ts", line: 3 }]);
        expect(res.json.details.import_errors[0].message.length).toBeGreaterThan(0);
      }
    }

    // team-a may read the import error of alpha.ts (its file defines alpha), not that of gamma.ts.
    const teamA = await a.login("teama");
    const v2 = await a.inject(teamA, "POST", "/dags/alpha_v2/dagRuns", {});
    expect(v2.status).toBe(404);
    expect(v2.json.details.import_errors).toMatchObject([{ filename: "alpha.ts", line: 3 }]);
    const gamma = await a.inject(teamA, "POST", "/dags/gamma/dagRuns", {});
    expect(gamma.json).toEqual({ code: "UPDRAFT_E_DAG_NOT_FOUND", message: "DAG 'gamma' not found", status: 404 });
    // A DAG team-a may not read answers exactly like one that does not exist.
    const [beta, nope] = await Promise.all([a.inject(teamA, "POST", "/dags/beta/dagRuns", {}), a.inject(teamA, "POST", "/dags/nope/dagRuns", {})]);
    expect(beta.status).toBe(404);
    expect(beta.body.replace("beta", "X")).toBe(nope.body.replace("nope", "X"));

    // alpha itself still triggers (its last good version), as in Airflow.
    expect((await a.inject(await a.login("admin"), "POST", "/dags/alpha/dagRuns", {})).status).toBe(200);
  });
});

describe.each(DIALECTS)("deleting a DAG (%s)", (dialect) => {
  it("deletes the DAG with its history (dags:delete), refuses while a task is on its way, and audits it as dag.delete", async () => {
    const a = await setup(dialect);
    const admin = await a.login("admin");
    await trigger(a, "alpha", { dag_run_id: "r1" });
    await setTi(a, "alpha", "r1", "extract", { state: "running", try_number: 1 });
    expect((await a.inject(await a.login("user"), "DELETE", "/dags/alpha")).status).toBe(403);
    const busy = await a.inject(admin, "DELETE", "/dags/alpha");
    expect(busy.status, busy.body).toBe(409);
    expect(busy.json.code).toBe("UPDRAFT_E_INVALID_STATE");

    await setTi(a, "alpha", "r1", "extract", { state: "failed" });
    const gone = await a.inject(admin, "DELETE", "/dags/alpha");
    expect(gone.status, gone.body).toBe(204);
    expect((await a.inject(admin, "GET", "/dags/alpha")).status).toBe(404);
    expect(await a.env.store.db.selectFrom("dag_run").select("id").where("dag_id", "=", "alpha").execute()).toEqual([]);
    await eventually(async () => {
      // Audit rows are written after the response, so two requests' rows may land in either order.
      const rows = await a.env.store.db.selectFrom("audit_log").select(["username", "outcome", "dag_id"]).where("action", "=", "dag.delete").orderBy("username").orderBy("outcome").execute();
      expect(rows).toEqual([
        { username: "admin", outcome: "failure", dag_id: "alpha" },
        { username: "admin", outcome: "success", dag_id: "alpha" },
        { username: "user", outcome: "denied", dag_id: "alpha" },
      ]);
    });
  });
});

describe.each(DIALECTS)("import errors API (%s)", (dialect) => {
  it("lists and reads import errors; a DAG-limited user sees only those of files of their DAGs", async () => {
    const a = await setup(dialect);
    // Break both DAG files (their DAGs stay registered) and add a file that never registered a DAG.
    a.env.writeDag("alpha.ts", `import { dag } from "updraft";\nexport default dag({ id: "alpha" }, () => { throw new Error("alpha is broken"); });\n`);
    a.env.writeDag("beta.ts", `import { dag } from "updraft";\nexport default dag({ id: "beta" }, () => { throw new Error("beta is broken"); });\n`);
    a.env.writeDag("orphan.ts", `import { dag } from "updraft";\nthrow new Error("orphan is broken");\n`);
    await processDags(a.env);

    const admin = await a.login("admin");
    const all = await a.inject(admin, "GET", "/importErrors");
    expect(all.status, all.body).toBe(200);
    expect(all.json.total_entries).toBe(3);
    expect(all.json.import_errors.map((e: { filename: string }) => e.filename)).toEqual(["alpha.ts", "beta.ts", "orphan.ts"]);
    expect(all.json.import_errors[0].message).toContain("alpha is broken");
    const page = await a.inject(admin, "GET", "/importErrors?limit=1&offset=2");
    expect(page.json.import_errors.map((e: { filename: string }) => e.filename)).toEqual(["orphan.ts"]);
    expect(page.json.total_entries).toBe(3);
    const viewer = await a.login("viewer");
    expect((await a.inject(viewer, "GET", "/importErrors")).json.total_entries).toBe(3);

    const t = await a.login("teama");
    const mine = await a.inject(t, "GET", "/importErrors");
    expect(mine.json.total_entries).toBe(1);
    expect(mine.json.import_errors[0].filename).toBe("alpha.ts");
    const byId = Object.fromEntries(all.json.import_errors.map((e: { filename: string; import_error_id: number }) => [e.filename, e.import_error_id]));
    const one = await a.inject(t, "GET", `/importErrors/${byId["alpha.ts"]}`);
    expect(one.status).toBe(200);
    expect(one.json).toEqual(mine.json.import_errors[0]);
    for (const file of ["beta.ts", "orphan.ts"]) {
      const res = await a.inject(t, "GET", `/importErrors/${byId[file]}`);
      expect(res.status, file).toBe(404);
      expect(res.json.code).toBe("UPDRAFT_E_IMPORT_ERROR_NOT_FOUND");
    }
    expect((await a.inject(admin, "GET", `/importErrors/${byId["orphan.ts"]}`)).status).toBe(200);
    expect((await a.inject(admin, "GET", "/importErrors/999999")).status).toBe(404);
    expect((await a.inject(admin, "GET", "/importErrors/abc")).status).toBe(400);
    expect((await a.inject(admin, "GET", "/importErrors?colour=red")).status).toBe(400);
  });
});
