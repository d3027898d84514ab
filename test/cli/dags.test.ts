/** `updraft dags …`: list, show, reserialize, pause/unpause, trigger, list-runs, list-import-errors, delete; `updraft version`. */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createCliEnv, REPO_ROOT, type CliEnv, type CliResult, type DagListItem, type DagTestResult, type RunListItem, CLI_TEST_TIMEOUT_MS, CLI_TIMEOUT_MS } from "./cli.js";

const SCRIPT = "/usr/bin/script";

/**
 * Runs the CLI on a terminal (util-linux `script` gives it a pseudo-terminal) and types `input`
 * into it: what a person at a prompt does.
 */
function runOnTerminal(cli: CliEnv, args: string[], input: string): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("UPDRAFT_")) env[key] = value;
  Object.assign(env, { UPDRAFT_HOME: cli.home, UPDRAFT_DAGS_FOLDER: cli.dagsFolder });
  const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
  const command = [process.execPath, "--import", "tsx", "src/cli/main.ts", ...args].map(quote).join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn(SCRIPT, ["-qec", command, "/dev/null"], { cwd: REPO_ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), CLI_TIMEOUT_MS);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === null) reject(new Error(`updraft ${args.join(" ")} was killed\nstdout: ${stdout}\nstderr: ${stderr}`));
      // On a terminal, stdout and stderr are one stream: `script` prints both on its stdout.
      else resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

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

describe("updraft dags delete", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("deletes a DAG with its history after --yes; refuses without a terminal to ask on; unknown DAGs exit 2", async () => {
    env = createCliEnv({ "etl.ts": ETL, "solo.ts": SOLO });
    expect((await env.run(["dags", "reserialize"])).code).toBe(0);
    const trig = await env.run(["dags", "trigger", "etl", "--run-id", "r1"]);
    expect(trig.code, trig.stderr).toBe(0);

    // No terminal (the test gives the CLI none) and no --yes: refused, nothing deleted.
    const [refused, unknown] = await Promise.all([env.run(["dags", "delete", "etl"]), env.run(["dags", "delete", "nope", "--yes"])]);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toContain("deleting DAG 'etl' and its history (1 run(s)");
    expect(refused.stderr).toContain("stdin is not a terminal");
    expect(refused.stderr).toContain("hint: run `updraft dags delete etl --yes`");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("UPDRAFT_E_DAG_NOT_FOUND");
    expect((await env.json<RunListItem[]>(["dags", "list-runs", "etl", "--json"])).map((r) => r.runId)).toEqual(["r1"]);

    const deleted = await env.run(["dags", "delete", "etl", "--yes"]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toBe("DAG etl deleted with 1 run(s)\n");
    // Its file is still there: the DAG comes back as a new one when the folder is read again, unless the file goes.
    expect(deleted.stderr).toContain("its file etl.ts is still in");
    const [listed, runs] = await Promise.all([env.json<DagListItem[]>(["dags", "list", "--include-inactive", "--json"]), env.run(["dags", "list-runs", "etl"])]);
    expect(listed.map((d) => d.dagId)).toEqual(["solo"]);
    expect(runs.code).toBe(2);
    expect(runs.stderr).toContain("DAG 'etl' not found");

    rmSync(join(env.dagsFolder, "solo.ts"));
    expect((await env.run(["dags", "reserialize"])).code).toBe(0);
    const quiet = await env.run(["dags", "delete", "solo", "-y"]);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe("");
  });

  it.skipIf(!existsSync(SCRIPT))("asks on a terminal: anything but y keeps the DAG (exit 1), y deletes it", async () => {
    env = createCliEnv({ "solo.ts": SOLO });
    expect((await env.run(["dags", "reserialize"])).code).toBe(0);
    const no = await runOnTerminal(env, ["dags", "delete", "solo"], "n\n");
    expect(no.code, no.stdout).toBe(1);
    expect(no.stdout).toContain("Delete DAG 'solo' and its history (0 run(s)");
    expect(no.stdout).toContain("[y/N]");
    expect(no.stdout).toContain("cancelled: nothing was deleted");
    expect((await env.json<DagListItem[]>(["dags", "list", "--json"])).map((d) => d.dagId)).toEqual(["solo"]);

    const yes = await runOnTerminal(env, ["dags", "delete", "solo"], "y\n");
    expect(yes.code, yes.stdout).toBe(0);
    expect(yes.stdout).toContain("DAG solo deleted with 0 run(s)");
    expect(await env.json<DagListItem[]>(["dags", "list", "--include-inactive", "--json"])).toEqual([]);
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

describe("updraft version", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("prints the version (--json: with Node.js, platform and architecture); -V still works", async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    env = createCliEnv();
    const [text, json, flag] = await Promise.all([env.run(["version"]), env.json<Record<string, string>>(["version", "--json"]), env.run(["-V"])]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toBe(`${pkg.version}\n`);
    expect(json).toEqual({ version: pkg.version, node: process.versions.node, platform: process.platform, arch: process.arch });
    expect(flag.code).toBe(0);
    expect(flag.stdout).toBe(`${pkg.version}\n`);
    // It needs no database: nothing was made in the home.
    expect(existsSync(env.home)).toBe(false);
  });
});
