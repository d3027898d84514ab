/**
 * CLI actions in the audit log, next to the API's: the same action names (so one filter finds
 * both), the operating-system account as the actor, dry runs left out. The CLI runs as a
 * subprocess on the database of an API test environment, on each dialect.
 */
import { userInfo } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { DIALECTS } from "../helpers/dialects.js";
import { createApiEnv, type ApiEnv } from "../api/helpers.js";
import { runCli, CLI_TEST_TIMEOUT_MS, type CliResult } from "./cli.js";

const ETL = `
import { dag, task } from "updraft";
const extract = task({ id: "extract", run: () => [1, 2, 3] });
const load = task({ id: "load", run: (rows: number[]) => rows.length });
export default dag({ id: "etl" }, () => { load(extract()); });
`;

let api: ApiEnv | undefined;
afterEach(async () => {
  await api?.cleanup();
  api = undefined;
});

describe("CLI actions in the audit log", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it.each(DIALECTS)("records trigger, pause, unpause, clear, mark, delete and pool changes as the API names them, under os:<account>; dry runs are not recorded (%s)", async (dialect) => {
    const a = (api = await createApiEnv({ dialect, dags: { "etl.ts": ETL }, users: [{ username: "admin", roles: ["Admin"] }] }));
    const cli = async (args: string[]): Promise<CliResult> => {
      const res = await runCli(["--database-url", a.env.config.databaseUrl, ...args], { env: { UPDRAFT_HOME: a.env.home, UPDRAFT_DAGS_FOLDER: a.env.dagsFolder } });
      expect(res.code === 0 || args.includes("nope"), `updraft ${args.join(" ")}: ${res.stderr}`).toBe(true);
      return res;
    };
    const admin = await a.login("admin");
    expect((await a.inject(admin, "POST", "/dags/etl/dagRuns", { dag_run_id: "api_run" })).status).toBe(200);

    // Independent groups side by side; each group in order.
    await Promise.all([
      (async () => {
        await cli(["dags", "trigger", "etl", "--run-id", "cli_run", "--conf", '{"x": 1}']);
        await cli(["dags", "pause", "etl"]);
        await cli(["dags", "unpause", "etl"]);
        await cli(["tasks", "clear", "etl", "cli_run", "--dry-run"]);
        await cli(["tasks", "clear", "etl", "cli_run", "extract", "-d"]);
        await cli(["tasks", "mark", "etl", "cli_run", "load", "success", "--dry-run"]);
        await cli(["tasks", "mark", "etl", "cli_run", "load", "success"]);
      })(),
      (async () => {
        await cli(["pools", "set", "etl_pool", "3", "--description", "for the ETL"]);
        await cli(["pools", "set", "etl_pool", "4"]);
        await cli(["pools", "delete", "etl_pool"]);
        // dags test makes (and runs) a run of type test: a trigger too.
        await cli(["dags", "test", "etl"]);
      })(),
      cli(["dags", "trigger", "nope"]),
    ]);

    const actor = `os:${userInfo().username}`;
    const rows = (await a.env.store.db.selectFrom("audit_log").selectAll().where("method", "=", "CLI").orderBy("id").execute());
    for (const row of rows) expect(row).toMatchObject({ username: actor, method: "CLI", source_ip: "local" });
    const ofType = (type: string) => rows.filter((r) => r.object_type === type).map((r) => [r.action, r.object_id, r.dag_id, r.outcome, r.path, JSON.parse(r.details ?? "null")]);

    expect(ofType("pool")).toEqual([
      ["pool.create", "etl_pool", null, "success", "updraft pools set", { slots: 3, description: "for the ETL" }],
      ["pool.update", "etl_pool", null, "success", "updraft pools set", { slots: 4 }],
      ["pool.delete", "etl_pool", null, "success", "updraft pools delete", null],
    ]);
    const dagRows = rows.filter((r) => r.object_type !== "pool").map((r) => [r.action, r.object_type, r.object_id, r.dag_id, r.outcome, r.path]);
    const testRun = rows.find((r) => r.path === "updraft dags test");
    expect(testRun).toMatchObject({ action: "dag_run.trigger", object_type: "dag_run", dag_id: "etl", outcome: "success" });
    expect(testRun!.object_id).toMatch(/^test__/);
    expect(JSON.parse(testRun!.details!)).toEqual({ run_type: "test", logical_date: null, conf_keys: [] });
    expect(dagRows.filter((r) => r[3] === "etl" && r[5] !== "updraft dags test")).toEqual([
      ["dag_run.trigger", "dag_run", "cli_run", "etl", "success", "updraft dags trigger"],
      ["dag.update", "dag", "etl", "etl", "success", "updraft dags pause"],
      ["dag.update", "dag", "etl", "etl", "success", "updraft dags unpause"],
      ["task_instance.clear", "dag_run", "cli_run", "etl", "success", "updraft tasks clear"],
      ["task_instance.set_state", "task_instance", "cli_run/load", "etl", "success", "updraft tasks mark"],
    ]);
    expect(dagRows.filter((r) => r[3] === "nope")).toEqual([["dag_run.trigger", "dag_run", null, "nope", "failure", "updraft dags trigger"]]);
    const detail = (action: string) => JSON.parse(rows.find((r) => r.action === action && r.dag_id === "etl")!.details!) as Record<string, unknown>;
    expect(detail("dag_run.trigger")).toEqual({ logical_date: null, conf_keys: ["x"] });
    expect(rows.filter((r) => r.action === "dag.update").map((r) => JSON.parse(r.details!) as unknown)).toEqual([{ is_paused: true }, { is_paused: false }]);
    expect(detail("task_instance.clear")).toEqual({ dag_run_id: "cli_run", task_ids: ["extract"], include_downstream: true, include_upstream: false, only_failed: false });
    expect(detail("task_instance.set_state")).toEqual({ new_state: "success", include_downstream: false });

    // One filter finds the API's trigger and the CLI's.
    const triggers = await a.inject(admin, "GET", "/eventLogs?action=dag_run.trigger&dag_id=etl");
    expect(triggers.status, triggers.body).toBe(200);
    expect(triggers.json.event_logs.filter((e: { path: string }) => e.path !== "updraft dags test").map((e: { username: string; object_id: string; method: string }) => [e.username, e.object_id, e.method])).toEqual([
      [actor, "cli_run", "CLI"],
      ["admin", "api_run", "POST"],
    ]);
    expect(triggers.json.total_entries).toBe(3);

    // Deleting the DAG (its runs must be over: the trigger above queued some).
    await a.env.store.db.updateTable("task_instance").set({ state: "failed" }).where("dag_id", "=", "etl").where("state", "in", ["queued", "running"]).execute();
    await cli(["dags", "delete", "etl", "--yes"]);
    const deletes = await a.inject(admin, "GET", "/eventLogs?action=dag.delete");
    expect(deletes.json.event_logs).toMatchObject([{ username: actor, object_type: "dag", object_id: "etl", dag_id: "etl", outcome: "success", path: "updraft dags delete" }]);
  });
});
