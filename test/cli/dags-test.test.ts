/**
 * `updraft dags test`: one run in the foreground, its JSON result and its exit codes. A failing run
 * (exit 1, retries honoured) is covered in tasks.test.ts, which inspects that run further.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createCliEnv, type CliEnv, type DagListItem, type DagTestResult, type RunListItem, CLI_TEST_TIMEOUT_MS } from "./cli.js";

const GREET = `
import { dag, task } from "updraft";
const hello = task({
  id: "hello",
  run: (_: void, ctx) => {
    ctx.log.info("conf.x=" + JSON.stringify(ctx.conf.x) + " params.x=" + JSON.stringify(ctx.params.x));
    console.log("console says hi");
    return { x: ctx.conf.x ?? null };
  },
});
const echo = task({ id: "echo", run: (v: { x: unknown }) => ({ echoed: v.x }) });
export default dag({ id: "greet", params: { x: { type: "number", default: 0 } } }, () => { echo(hello()); });
`;

const OTHER = `
import { dag, task } from "updraft";
const t = task({ id: "t", run: () => 1 });
export default dag({ id: "other" }, () => { t(); });
`;

let env: CliEnv | undefined;
afterEach(() => {
  env?.cleanup();
  env = undefined;
});

describe("updraft dags test", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("prints exactly one JSON result, runs a paused DAG, and takes a logical date and --conf", async () => {
    env = createCliEnv({ "greet.ts": GREET });
    const res = await env.run(["dags", "test", "greet", "2024-05-06", "--json", "--conf", '{"x": 5}']);
    expect(res.code, res.stderr).toBe(0);
    const result = JSON.parse(res.stdout) as DagTestResult;
    expect(Object.keys(result).sort()).toEqual(["dagId", "runId", "state", "tasks"]);
    expect(result.dagId).toBe("greet");
    expect(typeof result.runId).toBe("string");
    expect(result.state).toBe("success");
    expect(result.tasks.map((t) => Object.keys(t).sort())).toEqual([
      ["state", "taskId", "tryNumber"],
      ["state", "taskId", "tryNumber"],
    ]);
    expect([...result.tasks].sort((a, b) => a.taskId.localeCompare(b.taskId))).toEqual([
      { taskId: "echo", state: "success", tryNumber: 1 },
      { taskId: "hello", state: "success", tryNumber: 1 },
    ]);

    // New DAGs start paused outside test environments; `dags test` ran it anyway.
    const dags = await env.json<DagListItem[]>(["dags", "list", "--json"]);
    expect(dags.map((d) => [d.dagId, d.isPaused])).toEqual([["greet", true]]);

    const runs = await env.json<RunListItem[]>(["dags", "list-runs", "greet", "--json"]);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ runId: result.runId, state: "success", runType: "test", logicalDate: "2024-05-06T00:00:00.000Z", conf: { x: 5 } });

    // The conf reached ctx.conf and ctx.params inside the task.
    const logs = await env.run(["tasks", "logs", "greet", result.runId, "hello"]);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/INFO conf\.x=5 params\.x=5$/m);
    expect(logs.stdout).toMatch(/stdout console says hi$/m);
  });

  it("exits 2 for an unknown DAG (naming it and the known DAGs), for --conf that is not JSON, and for a file that no longer imports", async () => {
    env = createCliEnv({ "greet.ts": GREET, "other.ts": OTHER });
    const [unknown, badConf] = await Promise.all([
      env.run(["dags", "test", "nope", "--json"]),
      env.run(["dags", "test", "greet", "--json", "--conf", "{x: 1}"]),
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe("");
    expect(unknown.stderr).toContain("DAG 'nope' not found");
    expect(unknown.stderr).toMatch(/known DAGs: .*greet/);
    expect(unknown.stderr).toMatch(/known DAGs: .*other/);

    expect(badConf.code).toBe(2);
    expect(badConf.stdout).toBe("");
    expect(badConf.stderr).toContain("--conf is not valid JSON");

    // greet is registered now (the scan above); its file gets a syntax error on line 4.
    env.writeDag("greet.ts", `import { dag, task } from "updraft";\n\nconst t = task({ id: "t", run: () => 1 });\nexport default dag({ id: "greet" }, () => { t(; });\n`);
    const broken = await env.run(["dags", "test", "greet", "--json"]);
    expect(broken.code).toBe(2);
    expect(broken.stdout).toBe("");
    expect(broken.stderr).toContain("UPDRAFT_E_IMPORT_FAILED");
    expect(broken.stderr).toContain("greet.ts:4");
  });

  it("exits 2 with the file and line when the DAG's file never imported (syntax error in a new file)", async () => {
    env = createCliEnv({
      "broken.ts": `import { dag, task } from "updraft";\nconst t = task({ id: "t", run: () => 1 });\nexport default dag({ id: "broken" }, () => { t( });\n`,
    });
    const res = await env.run(["dags", "test", "broken", "--json"]);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe("");
    // The user must learn why: the import error of broken.ts, with its line.
    expect(res.stderr).toMatch(/broken\.ts:3/);
  });
});
