import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { runDag } from "../helpers/run.js";

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

describe("a DAG file, end to end", () => {
  it("runs tasks in dependency order and hands outputs downstream", async () => {
    env = await createTestEnv({
      dags: {
        "chain.ts": `
          import { dag, task } from "updraft";
          const one = task({ id: "one", run: () => 1 });
          const double = task({ id: "double", run: (n: number) => n * 2 });
          export default dag({ id: "chain" }, () => { double(double(one())); });
        `,
      },
    });
    const run = await runDag(env, "chain");
    expect(run.state).toBe("success");
    expect(Object.keys(run.tasks).sort()).toEqual(["double", "double__1", "one"]);
    const out = await env.store.db.selectFrom("xcom").select(["task_id", "value"]).where("dag_run_id", "=", run.id).orderBy("task_id").execute();
    expect(out).toEqual([
      { task_id: "double", value: "2" },
      { task_id: "double__1", value: "4" },
      { task_id: "one", value: "1" },
    ]);
  });

  it("keeps the bundled DAG code private: the bundle cache is 0700 and its files 0600", async () => {
    env = await createTestEnv({
      dags: { "one.ts": `import { dag, task } from "updraft"; const one = task({ id: "one", run: () => 1 }); export default dag({ id: "one" }, () => { one(); });` },
    });
    const run = await runDag(env, "one");
    expect(run.state).toBe("success");
    const dir = join(env.home, "cache", "bundles");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
  });
});
