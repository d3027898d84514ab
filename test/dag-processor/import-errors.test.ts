/**
 * A DAG file that fails becomes an import error with file, line and message, and the other DAGs
 * of the folder keep working. The store side of this runs on both dialects in lifecycle.test.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { processDags } from "../helpers/run.js";
import { processAlive, waitFor } from "../scheduler/support.js";
import { dagRows, goodDag, importErrors, lineOf, newProcessor } from "./helpers.js";

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

/** Processes a folder holding `good.ts` and one broken file; returns the broken file's import error. */
async function processWithBroken(name: string, source: string, config: Record<string, unknown> = {}) {
  env = await createTestEnv({ dags: { "good.ts": goodDag("good"), [name]: source }, config });
  const summary = await processDags(env);
  expect(summary).toMatchObject({ files: 2, processed: 2, errors: 1 });
  const errors = await importErrors(env);
  expect(Object.keys(errors)).toEqual([name]);
  const dags = await dagRows(env);
  expect(dags.good).toMatchObject({ fileloc: "good.ts", is_active: 1 });
  expect(dags.good!.latest_version_id).not.toBeNull();
  return { error: errors[name]!, dags };
}

describe("import errors", () => {
  it("a syntax error gives the file and line", async () => {
    const source = ['import { dag, task } from "updraft";', "", "const broken = ;", 'export default dag({ id: "syntax" }, () => {});', ""].join("\n");
    const { error, dags } = await processWithBroken("syntax.ts", source);
    expect(error.line).toBe(3);
    expect(error.column).toBeGreaterThan(0);
    expect(error.location).toMatch(/^syntax\.ts:3:\d+$/);
    expect(error.message).toMatch(/^syntax\.ts:3:\d+: /);
    expect(dags.syntax).toBeUndefined();
  });

  it("a throw at import points at the throw's line in the DAG file", async () => {
    const source = [
      'import { dag, task } from "updraft";',
      'const hello = task({ id: "hello", run: () => 1 });',
      "function loadSettings(): string {",
      '  throw new Error("settings are missing");',
      "}",
      "const settings = loadSettings();",
      'export default dag({ id: "throws", description: settings }, () => { hello(); });',
      "",
    ].join("\n");
    const { error, dags } = await processWithBroken("throws.ts", source);
    expect(error.message).toContain("settings are missing");
    expect(error.line).toBe(lineOf(source, "throw new Error"));
    expect(error.location).toBe(`throws.ts:${lineOf(source, "throw new Error")}:${error.column}`);
    expect(dags.throws).toBeUndefined();
  });

  it("an error thrown by the SDK points at the author's line, in a subfolder", async () => {
    const source = [
      'import { dag, task } from "updraft";',
      'const hello = task({ id: "hello", run: () => 1 });',
      'export default dag({ id: "dup_task" }, () => {',
      '  hello(undefined, { id: "same" });',
      '  hello(undefined, { id: "same" });',
      "});",
      "",
    ].join("\n");
    const { error } = await processWithBroken("team/dup_task.ts", source);
    expect(error.message).toMatch(/task id 'same' is used twice/);
    expect(error.location).toMatch(/^team\/dup_task\.ts:5:\d+$/);
    expect(error.line).toBe(5);
  });

  it("an endless loop at import times out, and the processor stays usable", async () => {
    env = await createTestEnv({
      dags: { "loop.ts": 'import { dag } from "updraft";\nwhile (true) {}\nexport default dag({ id: "loop" }, () => {});\n' },
      config: { importTimeoutMs: "1s" },
    });
    const processor = newProcessor(env);
    try {
      const first = await processor.scan();
      expect(first.errors).toBe(1);
      const errors = await importErrors(env);
      expect(errors["loop.ts"]?.message).toMatch(/took longer than 1s/);
      // The same processor (its import pool lost a worker) still imports a good file.
      env.writeDag("after.ts", goodDag("after_loop"));
      const second = await processor.scan();
      expect(second.errors).toBe(0);
      const dags = await dagRows(env);
      expect(dags.after_loop).toMatchObject({ fileloc: "after.ts", is_active: 1 });
      expect(dags.loop).toBeUndefined();
      expect(Object.keys(await importErrors(env))).toEqual(["loop.ts"]);
    } finally {
      await processor.stop();
    }
  });

  it("an import of a missing module names the module and its line", async () => {
    const source = ['import { dag } from "updraft";', 'import { helper } from "no-such-package-xyz";', 'export default dag({ id: "missing", description: helper }, () => {});', ""].join("\n");
    const { error } = await processWithBroken("missing.ts", source);
    expect(error.message).toContain("no-such-package-xyz");
    expect(error.line).toBe(2);
    expect(error.location).toMatch(/^missing\.ts:2:\d+$/);
  });

  it("a cycle gives the UPDRAFT_E_DAG_CYCLE message and the line of the dag() call", async () => {
    const source = [
      'import { dag, task } from "updraft";',
      'const step = task({ id: "step", run: () => 1 });',
      "",
      'export default dag({ id: "cyclic" }, () => {',
      "  const a = step();",
      "  const b = step().after(a);",
      "  a.after(b);",
      "});",
      "",
    ].join("\n");
    const { error, dags } = await processWithBroken("cycle.ts", source);
    expect(error.message).toMatch(/DAG 'cyclic' has a cycle: step -> step__1 -> step|DAG 'cyclic' has a cycle: step__1 -> step -> step__1/);
    expect(error.line).toBe(4);
    expect(error.location).toMatch(/^cycle\.ts:4:\d+$/);
    expect(dags.cyclic).toBeUndefined();
  });

  it("a bad schedule is an import error at the dag() line", async () => {
    const source = ['import { dag } from "updraft";', "", 'export default dag({ id: "bad_schedule", schedule: "every tuesday" }, () => {});', ""].join("\n");
    const { error, dags } = await processWithBroken("bad_schedule.ts", source);
    expect(error.message).toMatch(/invalid cron schedule "every tuesday"/);
    expect(error.line).toBe(3);
    expect(dags.bad_schedule).toBeUndefined();
  });

  it("a bad timezone is an import error", async () => {
    const source = ['import { dag } from "updraft";', 'export default dag({ id: "bad_tz", schedule: "@daily", timezone: "Europe/Atlantis" }, () => {});', ""].join("\n");
    const { error, dags } = await processWithBroken("bad_tz.ts", source);
    expect(error.message).toContain("Europe/Atlantis");
    expect(error.line).toBe(2);
    expect(dags.bad_tz).toBeUndefined();
  });

  it("bad params are an import error", async () => {
    const source = [
      'import { dag } from "updraft";',
      "export default dag(",
      '  { id: "bad_params", schedule: "@daily", params: { region: { type: "string" }, n: { type: "integer", default: "ten" } } },',
      "  () => {},",
      ");",
      "",
    ].join("\n");
    const { error, dags } = await processWithBroken("bad_params.ts", source);
    expect(error.message).toMatch(/param 'region' has no default, but the DAG is scheduled/);
    expect(error.line).toBe(2);
    expect(dags.bad_params).toBeUndefined();
    // and a default that does not fit its type
    env!.writeDag("bad_params.ts", source.replace('region: { type: "string" }', 'region: { type: "string", default: "eu" }'));
    await processDags(env!);
    expect((await importErrors(env!))["bad_params.ts"]?.message).toMatch(/default value: param 'n' must be integer/);
  });

  it("a file with a good and a bad DAG stores the good one and reports the bad one", async () => {
    const source = [
      'import { dag, task } from "updraft";',
      'const hello = task({ id: "hello", run: () => 1 });',
      'export const ok = dag({ id: "half_ok" }, () => { hello(); });',
      'export const bad = dag({ id: "half_bad", timezone: "Nowhere/Nothing" }, () => { hello(); });',
      "",
    ].join("\n");
    const { error, dags } = await processWithBroken("half.ts", source);
    expect(error.message).toContain("Nowhere/Nothing");
    expect(error.line).toBe(4);
    expect(dags.half_ok).toMatchObject({ fileloc: "half.ts", is_active: 1 });
    expect(dags.half_bad).toBeUndefined();
  });

  it("a file that kills its import process is an import error", async () => {
    const source = 'import { dag } from "updraft";\nprocess.exit(3);\nexport default dag({ id: "exits" }, () => {});\n';
    const { error } = await processWithBroken("exits.ts", source);
    expect(error.message).toMatch(/ended the import process/);
  });

  it("a process a DAG file starts at import dies with its import worker (a timeout, a clean stop)", async () => {
    // Each file starts a long sleep at import, notes its pid, then hangs (timed out) or returns.
    const starter = (name: string, hang: boolean) => `
      import { spawn } from "node:child_process";
      import { writeFileSync } from "node:fs";
      import { dag } from "updraft";
      const child = spawn("sleep", ["300"], { stdio: "ignore" });
      writeFileSync(${JSON.stringify("PIDS")} + "/${name}.pid", String(child.pid));
      ${hang ? "while (true) {}" : ""}
      export default dag({ id: "${name}" }, () => {});
    `;
    env = await createTestEnv({ config: { importTimeoutMs: "2s" } });
    const pids = env.home;
    env.writeDag("hangs.ts", starter("hangs", true).replace('"PIDS"', JSON.stringify(pids)));
    env.writeDag("returns.ts", starter("returns", false).replace('"PIDS"', JSON.stringify(pids)));
    const processor = newProcessor(env);
    const pidOf = (name: string) => Number(readFileSync(join(pids, `${name}.pid`), "utf8"));
    try {
      await processor.scan();
      expect((await importErrors(env))["hangs.ts"]?.code).toBe("UPDRAFT_E_IMPORT_TIMEOUT");
      await waitFor("the timed-out import's sleep to be killed", () => !processAlive(pidOf("hangs")), 20_000);
      expect(processAlive(pidOf("returns"))).toBe(true);
    } finally {
      await processor.stop();
    }
    await waitFor("the other sleep to die with the stopped processor's workers", () => !processAlive(pidOf("returns")), 20_000);
  });

  it("a file over the size limit is an import error that names the limit", async () => {
    const big = goodDag("too_big", `// ${"x".repeat(5 * 1024 * 1024)}`);
    const { error, dags } = await processWithBroken("big.ts", big);
    expect(error.code).toBe("UPDRAFT_E_DAG_FILE_TOO_LARGE");
    expect(error.message).toMatch(/5 MiB/);
    expect(dags.too_big).toBeUndefined();
  });
});
