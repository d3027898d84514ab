/** Which files the processor imports, and how their imports resolve. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { discoverDagFiles } from "../../src/dag-processor/discover.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { processDags } from "../helpers/run.js";
import { dagRows, goodDag, importErrors } from "./helpers.js";

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

/** A file that would be an import error if it were imported. */
const TRAP = 'import { dag } from "updraft";\nthrow new Error("this file must not be imported");\nexport default dag({ id: "trap" }, () => {});\n';

describe("module resolution", () => {
  it('resolves "updraft" without a node_modules in the DAGs folder', async () => {
    env = await createTestEnv({
      dags: {
        "sdk_only.ts": [
          'import { dag, task, bash, branch, group, chain, NonRetryableError, SkipError } from "updraft";',
          'const t = task({ id: "t", run: () => 1 });',
          'const b = branch({ id: "b", run: () => "t" });',
          'if (typeof NonRetryableError !== "function" || typeof SkipError !== "function") throw new Error("SDK exports missing");',
          'export default dag({ id: "sdk_only" }, () => { const x = b(); const y = group("g", () => t()); chain(x, y, bash({ id: "sh", command: "echo hi" })); });',
          "",
        ].join("\n"),
      },
    });
    const summary = await processDags(env);
    expect(await importErrors(env)).toEqual({});
    expect(summary).toMatchObject({ files: 1, errors: 0 });
    expect((await dagRows(env)).sdk_only).toMatchObject({ is_active: 1 });
  });

  it("bundles a package from <dagsFolder>/node_modules", async () => {
    env = await createTestEnv({
      dags: {
        "uses_pkg.ts": [
          'import { dag, task } from "updraft";',
          'import { shout, MARKER } from "tiny-shout";',
          'const hello = task({ id: "hello", run: () => shout("hi") });',
          'export default dag({ id: "uses_pkg", description: shout("from the package") + " " + MARKER }, () => { hello(); });',
          "",
        ].join("\n"),
      },
    });
    const pkg = join(env.dagsFolder, "node_modules", "tiny-shout");
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "tiny-shout", version: "1.0.0", main: "index.js" }));
    writeFileSync(join(pkg, "index.js"), 'exports.shout = (s) => s.toUpperCase() + "!";\nexports.MARKER = "tiny-shout-marker-7f3a";\n');
    await processDags(env);
    expect(await importErrors(env)).toEqual({});
    const row = await env.store.db.selectFrom("dag").select(["description", "latest_version_id"]).where("dag_id", "=", "uses_pkg").executeTakeFirstOrThrow();
    expect(row.description).toBe("FROM THE PACKAGE! tiny-shout-marker-7f3a");
    const version = await env.store.db.selectFrom("dag_version").select("bundle_hash").where("id", "=", Number(row.latest_version_id)).executeTakeFirstOrThrow();
    const bundle = await env.store.db.selectFrom("dag_bundle").select("code").where("hash", "=", version.bundle_hash).executeTakeFirstOrThrow();
    expect(bundle.code).toContain("tiny-shout-marker-7f3a");
    // the package itself is not taken for a DAG file
    expect(discoverDagFiles(env.dagsFolder)).toEqual(["uses_pkg.ts"]);
  });

  it("bundles relative imports, .js specifiers naming .ts files included", async () => {
    env = await createTestEnv({
      dags: {
        "lib/names.ts": 'export const owner = "data-team";\n',
        "rel.ts": ['import { dag } from "updraft";', 'import { owner } from "./lib/names.js";', 'export default dag({ id: "rel", owner }, () => {});', ""].join("\n"),
      },
    });
    await processDags(env);
    expect(await importErrors(env)).toEqual({});
    const row = await env.store.db.selectFrom("dag").select("owner").where("dag_id", "=", "rel").executeTakeFirstOrThrow();
    expect(row.owner).toBe("data-team");
  });
});

describe("discovery", () => {
  it('ignores files that do not mention both "updraft" and "dag"', async () => {
    env = await createTestEnv({
      dags: {
        "good.ts": goodDag("good"),
        "util.ts": 'export const x = 1;\nthrow new Error("not a DAG file");\n',
        "only_dag.ts": '// a dag helper\nthrow new Error("no u-p-d-r-a-f-t here");\n',
        "only_sdk.ts": '// updraft helper\nthrow new Error("no d-a-g here");\n',
        "notes.md": "updraft dag notes",
      },
    });
    expect(discoverDagFiles(env.dagsFolder)).toEqual(["good.ts"]);
    const summary = await processDags(env);
    expect(summary).toMatchObject({ files: 1, errors: 0 });
    expect(await importErrors(env)).toEqual({});
    expect(Object.keys(await dagRows(env))).toEqual(["good"]);
  });

  it("finds DAG files case-insensitively, in subfolders and with every JS/TS extension", async () => {
    env = await createTestEnv({
      dags: {
        "a.ts": goodDag("a"),
        "deep/er/b.mts": goodDag("b"),
        "c.js": 'import { dag } from "updraft";\nexport default dag({ id: "c" }, () => {});\n',
        "d.mjs": 'import { dag } from "updraft";\nexport default dag({ id: "d" }, () => {});\n',
        "e.cts": "// Updraft DAG, mentioned in capitals\nexport const x = 1;\n",
      },
    });
    expect(discoverDagFiles(env.dagsFolder)).toEqual(["a.ts", "c.js", "d.mjs", "deep/er/b.mts", "e.cts"]);
    await processDags(env);
    expect(await importErrors(env)).toEqual({});
    expect(Object.keys(await dagRows(env))).toEqual(["a", "b", "c", "d"]);
    expect((await dagRows(env)).b).toMatchObject({ fileloc: "deep/er/b.mts" });
  });

  it("skips paths matched by a .updraftignore regex line", async () => {
    env = await createTestEnv({
      dags: {
        "good.ts": goodDag("good"),
        "ignored/one.ts": TRAP,
        "skip_me.ts": TRAP,
        "keep/skip_me_not.ts": goodDag("kept"),
        ".updraftignore": "# comments and blank lines are fine\n\n^ignored/\nskip_me\\.ts$\n[unclosed\n",
      },
    });
    expect(discoverDagFiles(env.dagsFolder)).toEqual(["good.ts", "keep/skip_me_not.ts"]);
    await processDags(env);
    expect(await importErrors(env)).toEqual({});
    expect(Object.keys(await dagRows(env))).toEqual(["good", "kept"]);
  });

  it("skips test files, declaration files, hidden folders and node_modules", async () => {
    env = await createTestEnv({
      dags: {
        "good.ts": goodDag("good"),
        "good.test.ts": TRAP,
        "good.spec.js": TRAP,
        "types.d.ts": 'declare module "updraft-dag-extra" { export const x: number; }\n',
        "types.d.mts": 'declare module "updraft-dag-other" { export const y: number; }\n',
        ".hidden/secret.ts": TRAP,
        "node_modules/pkg/index.ts": TRAP,
      },
    });
    expect(discoverDagFiles(env.dagsFolder)).toEqual(["good.ts"]);
    const summary = await processDags(env);
    expect(summary).toMatchObject({ files: 1, errors: 0 });
    expect(await importErrors(env)).toEqual({});
  });
});
