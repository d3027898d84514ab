/** `updraft dags …`: list, show, reserialize, pause/unpause, trigger, list-runs, list-import-errors. */
import { afterEach, describe, expect, it } from "vitest";
import { createCliEnv, type CliEnv, type DagListItem, type DagTestResult, type RunListItem, CLI_TEST_TIMEOUT_MS } from "./cli.js";

const ETL = `
import { dag, task } from "updraft";
const extract = task({ id: "extract", run: () => [1, 2, 3] });
const load = task({ id: "load", run: (rows: number[], ctx) => ({ rows: rows.length, x: ctx.conf.x ?? null }) });
const report = task({ id: "report", triggerRule: "all_done", run: () => "done" });
export default dag({ id: "etl", owner: "data", tags: ["nightly"], description: "rows in, rows out" }, () => {
  report().after(load(extract()));
});
`;

const SOLO = `
import { dag, task } from "updraft";
const only = task({ id: "only", run: () => 1 });
export default dag({ id: "solo" }, () => { only(); });
`;

// Line 4 holds the syntax error.
const BROKEN = `import { dag, task } from "updraft";
const t = task({ id: "t", run: () => 1 });

export default dag({ id: "broken" }, () => { t( });
`;

let env: CliEnv | undefined;
afterEach(() => {
  env?.cleanup();
  env = undefined;
});

describe("updraft dags (registry)", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("reserializes the folder, lists DAGs and import errors, shows a DAG, pauses and unpauses", async () => {
    env = createCliEnv({ "etl.ts": ETL, "solo.ts": SOLO, "broken.ts": BROKEN });

    const summary = await env.json<{ files: number; processed: number; errors: number }>(["dags", "reserialize", "--json"]);
    expect(summary).toMatchObject({ files: 3, errors: 1 });

    // Read-only commands, run side by side.
    const [dags, errors, show, structure] = await Promise.all([
      env.json<DagListItem[]>(["dags", "list", "--json"]),
      env.json<Array<{ fileloc: string; code: string; line: number | null; location: string | null; message: string }>>(["dags", "list-import-errors", "--json"]),
      env.run(["dags", "show", "etl"]),
      env.json<{ dagId: string; tasks: Array<{ taskId: string; upstream: string[]; dataUpstream: string[] }> }>(["dags", "show", "etl", "--json"]),
    ]);
    expect(dags.map((d) => d.dagId).sort()).toEqual(["etl", "solo"]);
    const etl = dags.find((d) => d.dagId === "etl")!;
    expect(etl).toMatchObject({ isPaused: true, isActive: true, fileloc: "etl.ts", owner: "data", tags: ["nightly"], version: 1 });
    expect(dags.every((d) => d.isPaused)).toBe(true);

    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ fileloc: "broken.ts", line: 4 });
    expect(errors[0]!.code).toMatch(/^UPDRAFT_E_/);
    expect(errors[0]!.message.length).toBeGreaterThan(0);
    expect(errors[0]!.location).toMatch(/^broken\.ts:4/);

    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain("etl: manually only — rows in, rows out");
    expect(show.stdout).toMatch(/^ {2}extract \[task\]$/m);
    expect(show.stdout).toMatch(/^ {2}load \[task\] <- extract$/m);
    expect(show.stdout).toMatch(/^ {2}report \[task\] <- load \(all_done\)$/m);

    expect(structure.dagId).toBe("etl");
    expect(structure.tasks.map((t) => [t.taskId, t.upstream, t.dataUpstream])).toEqual([
      ["extract", [], []],
      ["load", ["extract"], ["extract"]],
      ["report", ["load"], []],
    ]);

    const unpause = await env.run(["dags", "unpause", "etl"]);
    expect(unpause.code, unpause.stderr).toBe(0);
    expect(unpause.stdout).toContain("DAG etl is unpaused");
    let listed = await env.json<DagListItem[]>(["dags", "list", "--json"]);
    expect(Object.fromEntries(listed.map((d) => [d.dagId, d.isPaused]))).toEqual({ etl: false, solo: true });

    const [pause, unknown] = await Promise.all([env.run(["dags", "pause", "etl"]), env.run(["dags", "pause", "nope"])]);
    expect(pause.code, pause.stderr).toBe(0);
    expect(pause.stdout).toContain("DAG etl is paused");
    listed = await env.json<DagListItem[]>(["dags", "list", "--json"]);
    expect(Object.fromEntries(listed.map((d) => [d.dagId, d.isPaused]))).toEqual({ etl: true, solo: true });

    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("DAG 'nope' not found");
  });

  it("triggers manual runs (conf, logical date, run id, paused note, clashes) and filters list-runs by state", async () => {
    env = createCliEnv({ "etl.ts": ETL });
    // A finished run to filter against: `dags test` registers the DAG and runs it to success.
    const tested = await env.run(["dags", "test", "etl", "--json"]);
    expect(tested.code, tested.stderr).toBe(0);
    const testRun = JSON.parse(tested.stdout) as DagTestResult;

    const trig = await env.run(["dags", "trigger", "etl", "--conf", '{"x": 7}', "--logical-date", "2024-03-01T06:00:00Z", "--run-id", "my_run", "--json"]);
    expect(trig.code, trig.stderr).toBe(0);
    expect(JSON.parse(trig.stdout)).toEqual({ dagId: "etl", runId: "my_run", logicalDate: "2024-03-01T06:00:00.000Z", paused: true });
    expect(trig.stderr).toContain("note: DAG 'etl' is paused");
    expect(trig.stderr).toContain("updraft dags unpause etl");

    const [clash, badConf, queued, succeeded] = await Promise.all([
      env.run(["dags", "trigger", "etl", "--run-id", "my_run"]),
      env.run(["dags", "trigger", "etl", "--conf", "not json"]),
      env.json<RunListItem[]>(["dags", "list-runs", "etl", "--state", "queued", "--json"]),
      env.json<RunListItem[]>(["dags", "list-runs", "etl", "--state", "success", "--json"]),
    ]);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain("UPDRAFT_E_DAG_RUN_EXISTS");
    expect(clash.stderr).toContain("my_run");

    expect(badConf.code).toBe(2);
    expect(badConf.stderr).toContain("--conf is not valid JSON");

    expect(queued).toHaveLength(1);
    expect(queued[0]).toMatchObject({ runId: "my_run", state: "queued", runType: "manual", logicalDate: "2024-03-01T06:00:00.000Z", conf: { x: 7 } });
    expect(succeeded.map((r) => [r.runId, r.runType])).toEqual([[testRun.runId, "test"]]);

    // Unpaused: the trigger says nothing about pausing; the default run id is manual__<logical date>.
    expect((await env.run(["dags", "unpause", "etl"])).code).toBe(0);
    const plain = await env.run(["dags", "trigger", "etl", "--logical-date", "2024-03-02T00:00:00Z"]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).not.toContain("paused");
    expect(plain.stdout).toMatch(/created run manual__2024-03-02\S* of DAG etl/);
  });
});

describe("a DAG whose file failed to import", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("is named, with file, line and code, by every command that looks the DAG up", async () => {
    // broken.ts (id "broken", line 4) matches by its name; reports.ts holds its id as a string.
    const REPORTS = `import { dag, task } from "updraft";\nconst t = task({ id: "t", run: () => 1 });\nexport default dag({ id: "weekly_report" }, () => { t(; });\n`;
    env = createCliEnv({ "etl.ts": ETL, "broken.ts": BROKEN, "reports.ts": REPORTS });
    expect((await env.run(["dags", "reserialize"])).code).toBe(0);
    const [trigger, test, listRuns, show, weekly, unknown] = await Promise.all([
      env.run(["dags", "trigger", "broken"]),
      env.run(["dags", "test", "broken"]),
      env.run(["dags", "list-runs", "broken"]),
      env.run(["tasks", "list", "broken"]),
      env.run(["dags", "trigger", "weekly_report"]),
      env.run(["dags", "trigger", "nope"]),
    ]);
    for (const [name, res] of Object.entries({ trigger, test, listRuns, show })) {
      expect(res.code, name).toBe(2);
      expect(res.stderr, name).toMatch(/DAG 'broken' not found, and a file that may define it failed to import: broken\.ts:4(:\d+)? \[UPDRAFT_E_[A-Z_]+\] \S/);
      expect(res.stderr, name).toContain("hint: fix the file");
    }
    expect(weekly.code).toBe(2);
    expect(weekly.stderr).toMatch(/reports\.ts:3(:\d+)? \[UPDRAFT_E_/);
    expect(weekly.stderr).not.toContain("broken.ts");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("DAG 'nope' not found\n");
    expect(unknown.stderr).toContain("known DAGs: etl");

    // A registered DAG whose file breaks later still triggers (its last good version), with a note.
    env.writeDag("etl.ts", `${ETL}\nconst oops = ;\n`);
    expect((await env.run(["dags", "reserialize"])).code).toBe(0);
    const stale = await env.run(["dags", "trigger", "etl"]);
    expect(stale.code, stale.stderr).toBe(0);
    expect(stale.stderr).toMatch(/note: the file of DAG 'etl' has an import error \(etl\.ts:\d+/);
  });
});
