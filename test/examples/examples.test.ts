/**
 * The example DAGs in examples/dags, run as a user would meet them: copied into a DAGs folder
 * of their own (no node_modules beside them), processed, and run end to end by the real
 * scheduler and local executor. The files the examples write go to a temporary directory of the
 * test environment (TMPDIR is pointed there before runners start), so they can be checked too.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { DagRunState } from "../../src/dag/model.js";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { listDags, listImportErrors } from "../../src/store/dags.js";
import { listTries, readXcoms } from "../../src/store/runs.js";
import { createTestEnv, type TestDialect, type TestEnv } from "../helpers/env.js";
import { processDags, runDag, startScheduler } from "../helpers/run.js";
import { DIALECTS } from "../helpers/dialects.js";

const EXAMPLES = fileURLToPath(new URL("../../examples/dags/", import.meta.url));
const EXPECTED_DAGS = ["bash_pipeline", "daily_metrics_backfill", "orders_etl", "regional_sales_report"];
const FILE_OF: Record<string, string> = {
  orders_etl: "orders_etl.ts",
  regional_sales_report: "regional_sales_report.ts",
  bash_pipeline: "bash_pipeline.ts",
  daily_metrics_backfill: "daily_metrics_backfill.ts",
};

function exampleSources(only?: string): Record<string, string> {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith(".ts") && (only === undefined || f === only));
  return Object.fromEntries(files.map((f) => [f, readFileSync(join(EXAMPLES, f), "utf8")]));
}

let env: TestEnv | undefined;
const savedTmpdir = process.env.TMPDIR;
afterEach(async () => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  await env?.cleanup();
  env = undefined;
});

/** An env holding one example (or all); runners started later write their files under `tmp`. */
async function exampleEnv(dialect: TestDialect, dagId?: string): Promise<{ env: TestEnv; tmp: string }> {
  env = await createTestEnv({ dialect, dags: exampleSources(dagId === undefined ? undefined : FILE_OF[dagId]) });
  const tmp = join(env.home, "tmp");
  mkdirSync(tmp, { recursive: true });
  process.env.TMPDIR = tmp;
  return { env, tmp };
}

async function output<T>(e: TestEnv, dagRunId: number, taskId: string): Promise<T> {
  const rows = await readXcoms(e.store.db, dagRunId, taskId);
  const value = rows.find((r) => r.key === "return_value")?.value;
  if (value === undefined) throw new Error(`task ${taskId} has no output`);
  return JSON.parse(value) as T;
}

describe.each(DIALECTS)("example DAGs (%s)", (dialect) => {
  it("import without errors and register every example DAG", async () => {
    const { env: e } = await exampleEnv(dialect);
    const summary = await processDags(e);
    expect(summary).toMatchObject({ files: 4, errors: 0 });
    expect(await listImportErrors(e.store.db)).toEqual([]);
    const dags = await listDags(e.store.db);
    expect(dags.map((d) => d.dag_id)).toEqual(EXPECTED_DAGS);
    const etl = dags.find((d) => d.dag_id === "orders_etl")!;
    expect(etl).toMatchObject({ timezone: "Europe/Berlin", owner: "data-platform", schedule: JSON.stringify("0 3 * * *") });
    expect(JSON.parse(etl.tags)).toEqual(["etl", "orders", "example"]);
  });

  it("orders_etl: extract → transform → load hands typed data downstream and checks params", async () => {
    const { env: e, tmp } = await exampleEnv(dialect, "orders_etl");
    const run = await runDag(e, "orders_etl", { logicalDate: "2026-11-20T03:00" });
    expect(run.state).toBe("success");
    expect(run.tasks).toMatchObject({ extract: { state: "success" }, transform: { state: "success" }, load: { state: "success" } });
    const raw = await output<Array<{ currency: string; status: string }>>(e, run.id, "extract");
    expect(raw).toHaveLength(25);
    expect(new Set(raw.map((o) => o.currency))).toEqual(new Set(["EUR"]));
    const clean = await output<Array<{ amountEur: number }>>(e, run.id, "transform");
    expect(clean.length).toBe(raw.filter((o) => o.status === "paid").length);
    const report = await output<{ table: string; partition: string; rows: number; written: boolean }>(e, run.id, "load");
    expect(report).toMatchObject({ table: "orders_eu", partition: "2026-11-20", rows: clean.length, written: true });
    const file = join(tmp, "updraft-examples", "warehouse", "orders_eu", "2026-11-20.jsonl");
    expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(clean.length);

    // conf overrides the param defaults; a value outside the enum is refused at trigger time.
    const dry = await runDag(e, "orders_etl", { conf: { region: "apac", dryRun: true }, logicalDate: "2026-11-21T03:00" });
    expect(dry.state).toBe("success");
    expect(await output(e, dry.id, "load")).toMatchObject({ table: "orders_apac", written: false });
    expect(existsSync(join(tmp, "updraft-examples", "warehouse", "orders_apac"))).toBe(false);
    await expect(triggerDagRun(e.store, "orders_etl", { conf: { region: "mars" } })).rejects.toMatchObject({ code: "UPDRAFT_E_PARAMS_INVALID" });
  });

  it("orders_etl succeeds with every value its params form allows (every region, any minAmountEur ≥ 0)", async () => {
    const { env: e } = await exampleEnv(dialect, "orders_etl");
    await processDags(e);
    const s = await startScheduler(e);
    try {
      const cases = [
        { region: "apac", minAmountEur: 1.3 },
        { region: "apac", minAmountEur: 50 },
        { region: "us", minAmountEur: 0 },
        { region: "eu", minAmountEur: 1e9 },
      ];
      const runs = [];
      for (const [i, conf] of cases.entries()) runs.push(await triggerDagRun(e.store, "orders_etl", { conf: { ...conf, dryRun: true }, logicalDate: `2026-11-${10 + i}T03:00` }));
      for (const [i, run] of runs.entries()) expect(await s.waitForRun(run.id, 60_000), JSON.stringify(cases[i])).toBe("success");
      // Regions are worth the same in EUR: a threshold filters apac as it filters eu.
      const apac50 = await output<Array<{ amountEur: number }>>(e, runs[1]!.id, "transform");
      expect(apac50.length).toBeGreaterThan(0);
      expect(apac50.every((o) => o.amountEur >= 50)).toBe(true);
      expect(await output(e, runs[3]!.id, "transform")).toEqual([]);
    } finally {
      await s.stop();
    }
  });

  it("regional_sales_report: fans out per region, fans in, and the branch skips one report", async () => {
    const { env: e } = await exampleEnv(dialect, "regional_sales_report");
    const run = await runDag(e, "regional_sales_report");
    expect(run.state).toBe("success");
    for (const region of ["eu", "us", "apac", "latam"]) expect(run.tasks[`regions.collect_${region}`]?.state).toBe("success");
    expect(run.tasks).toMatchObject({
      combine: { state: "success" },
      choose_report: { state: "success" },
      detailed_report: { state: "success" },
      summary_report: { state: "skipped", tryNumber: 0 },
      notify: { state: "success" },
    });
    const totals = await output<{ regions: unknown[]; orders: number }>(e, run.id, "combine");
    expect(totals.regions).toHaveLength(4);
    expect(await output<string>(e, run.id, "notify")).toMatch(/^detailed report for /);

    // The other path: a threshold no day reaches.
    const other = await runDag(e, "regional_sales_report", { conf: { detailedAbove: 1_000_000 } });
    expect(other.state).toBe("success");
    expect(other.tasks).toMatchObject({ detailed_report: { state: "skipped" }, summary_report: { state: "success" }, notify: { state: "success" } });
    const otherTotals = await output<{ day: string; orders: number; revenueEur: number }>(e, other.id, "combine");
    expect(await output<string>(e, other.id, "notify")).toBe(`summary for ${otherTotals.day}: ${otherTotals.orders} orders, ${otherTotals.revenueEur} EUR`);
  });

  it("bash_pipeline: the flaky step fails once, succeeds on try 2, and the pipeline completes", async () => {
    const { env: e, tmp } = await exampleEnv(dialect, "bash_pipeline");
    const run = await runDag(e, "bash_pipeline");
    expect(run.state).toBe("success");
    expect(run.tasks).toMatchObject({
      prepare: { state: "success", tryNumber: 1 },
      fetch_rates: { state: "success", tryNumber: 2 },
      convert: { state: "success", tryNumber: 1 },
      summarize: { state: "success", tryNumber: 1 },
      cleanup: { state: "success", tryNumber: 1 },
    });
    const tries = await listTries(e.store.db, run.tasks.fetch_rates!.id);
    expect(tries.map((t) => t.state)).toEqual(["failed", "success"]);
    expect(JSON.parse(tries[0]!.error!)).toMatchObject({ code: "UPDRAFT_E_BASH_FAILED", retryable: true });
    // exponential backoff from 1 s: the second try started at least 1 s after the first ended
    expect(tries[1]!.start_date! - tries[0]!.end_date!).toBeGreaterThanOrEqual(1_000);
    expect(await output(e, run.id, "prepare")).toBe("4");
    expect(await output(e, run.id, "convert")).toBe("59.40");
    expect(await output(e, run.id, "summarize")).toMatchObject({ rows: 4, totalEur: 59.4 });
    // cleanup removed the run's work directory (a scheduled run of the DAG may have its own meanwhile)
    const workDir = join(tmp, "updraft-examples", "bash_pipeline", run.runId.replace(/[^A-Za-z0-9_.-]/g, "_"));
    expect(existsSync(join(workDir, ".."))).toBe(true);
    expect(existsSync(workDir)).toBe(false);
  });

  it("daily_metrics_backfill: a run works on its data interval and writes that day's partition", async () => {
    const { env: e, tmp } = await exampleEnv(dialect, "daily_metrics_backfill");
    // A day before the start date, so that no scheduled (catchup) run writes the same partition.
    const run = await runDag(e, "daily_metrics_backfill", { logicalDate: "2026-11-20" });
    expect(run.state).toBe("success");
    expect(Object.values(run.tasks).map((t) => t.state)).toEqual(["success", "success", "success", "success"]);
    // A manual run at midnight of the 20th covers the day before, as in Airflow.
    expect(await output(e, run.id, "window")).toEqual({
      ds: "2026-11-20",
      partition: "2026-11-19",
      start: "2026-11-19T00:00:00.000Z",
      end: "2026-11-20T00:00:00.000Z",
      hours: 24,
    });
    const metrics = await output<{ views: number }>(e, run.id, "aggregate");
    const file = join(tmp, "updraft-examples", "daily_metrics", "2026-11-19.json");
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ ...metrics, partition: "2026-11-19", uniquePaths: 5 });
  });
});

describe("daily_metrics_backfill catchup (sqlite)", () => {
  it("creates one scheduled run per day from the start date, never more than two active at once", async () => {
    const { env: e, tmp } = await exampleEnv("sqlite", "daily_metrics_backfill");
    await processDags(e);
    const s = await startScheduler(e);
    // Replays the run-state events: how many runs were running at once, and which ended how.
    const replay = () => {
      const running = new Set<number>();
      const done = new Map<number, DagRunState>();
      let most = 0;
      for (const ev of s.events) {
        if (ev.type !== "run-state") continue;
        if (ev.state === "running") running.add(ev.dagRunId);
        else if (ev.state === "success" || ev.state === "failed") {
          running.delete(ev.dagRunId);
          done.set(ev.dagRunId, ev.state);
        }
        most = Math.max(most, running.size);
      }
      return { done, most };
    };
    // The first three days must be done (runs of later days may end before them: two run at once).
    const firstThreeDone = async () => {
      const rows = await e.store.db.selectFrom("dag_run").select("state").where("dag_id", "=", "daily_metrics_backfill").orderBy("logical_date").limit(3).execute();
      return rows.length === 3 && rows.every((r) => r.state === "success" || r.state === "failed");
    };
    try {
      const deadline = Date.now() + 45_000;
      while (!(await firstThreeDone()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    } finally {
      await s.stop();
    }
    const { done, most } = replay();
    expect(done.size).toBeGreaterThanOrEqual(3);
    expect([...done.values()].every((state) => state === "success")).toBe(true);
    expect(most).toBeLessThanOrEqual(2);
    const runs = await e.store.db
      .selectFrom("dag_run")
      .select(["run_id", "run_type", "logical_date", "data_interval_start", "data_interval_end"])
      .where("dag_id", "=", "daily_metrics_backfill")
      .orderBy("logical_date")
      .limit(3)
      .execute();
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    expect(runs.map((r) => r.run_type)).toEqual(["scheduled", "scheduled", "scheduled"]);
    expect(runs.map((r) => day(r.logical_date))).toEqual(["2026-11-23", "2026-11-24", "2026-11-25"]);
    expect(runs[0]!.run_id).toBe("scheduled__2026-11-23T00:00:00+00:00");
    for (const r of runs) {
      expect(r.data_interval_start).toBe(r.logical_date);
      expect(r.data_interval_end - r.data_interval_start).toBe(86_400_000);
    }
    for (const d of ["2026-11-23", "2026-11-24", "2026-11-25"]) {
      expect(existsSync(join(tmp, "updraft-examples", "daily_metrics", `${d}.json`))).toBe(true);
    }
  });
});
