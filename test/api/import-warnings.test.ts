/**
 * Import warnings (type errors of files whose DAGs registered) through the import-errors routes:
 * each entry has a severity; the default lists errors only, as before warnings existed;
 * `severity=warning|all` adds them, with the same per-DAG visibility as errors.
 */
import { afterEach, describe, expect, it } from "vitest";
import { recordImportWarning } from "../../src/store/import-warnings.js";
import { processDags } from "../helpers/run.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createApiEnv, type ApiEnv } from "./helpers.js";

const DAGS = {
  "alpha.ts": `import { dag, task } from "updraft";
const only = task({ id: "only", run: () => 1 });
export default dag({ id: "alpha", access: { "team-a": ["read"] } }, () => { only(); });
`,
  "beta.ts": `import { dag, task } from "updraft";
const only = task({ id: "only", run: () => 1 });
export default dag({ id: "beta" }, () => { only(); });
`,
};

let api: ApiEnv | undefined;
afterEach(async () => {
  await api?.cleanup();
  api = undefined;
});

describe.each(DIALECTS)("import warnings API (%s)", (dialect) => {
  it("lists errors by default, warnings with severity=warning, both with all; per-DAG visibility holds", async () => {
    const a = (api = await createApiEnv({ dialect, dags: DAGS, users: [{ username: "admin", roles: ["Admin"] }, { username: "teama", roles: ["team-a"] }] }));
    // beta.ts breaks (an import error); alpha.ts and beta.ts get type warnings.
    a.env.writeDag("beta.ts", `import { dag } from "updraft";\nexport default dag({ id: "beta" }, () => { throw new Error("beta is broken"); });\n`);
    await processDags(a.env);
    const warn = (fileloc: string, message: string) =>
      recordImportWarning(a.env.store, { dagsFolder: a.env.dagsFolder, fileloc, now: Date.now(), warning: { code: "UPDRAFT_E_TYPE_ERRORS", message, line: 3, column: 7, location: `${fileloc}:3:7` } });
    expect(await warn("alpha.ts", "1 type error:\nalpha.ts:3:7 - error TS2345: no")).toBe(true);
    expect(await warn("alpha.ts", "1 type error:\nalpha.ts:3:7 - error TS2345: no")).toBe(false); // unchanged: no new event
    await warn("beta.ts", "1 type error:\nbeta.ts:3:7 - error TS2322: no");

    const admin = await a.login("admin");
    const errors = await a.inject(admin, "GET", "/importErrors");
    expect(errors.status, errors.body).toBe(200);
    expect(errors.json.total_entries).toBe(1);
    expect(errors.json.import_errors.map((e: { filename: string; severity: string }) => [e.filename, e.severity])).toEqual([["beta.ts", "error"]]);

    const warnings = await a.inject(admin, "GET", "/importErrors?severity=warning");
    expect(warnings.json.total_entries).toBe(2);
    expect(warnings.json.import_errors[0]).toMatchObject({ filename: "alpha.ts", severity: "warning", code: "UPDRAFT_E_TYPE_ERRORS", line: 3, column: 7, location: "alpha.ts:3:7", stack_trace: null });

    const all = await a.inject(admin, "GET", "/importErrors?severity=all");
    expect(all.json.total_entries).toBe(3);
    expect(all.json.import_errors.map((e: { filename: string; severity: string }) => `${e.filename}:${e.severity}`)).toEqual(["alpha.ts:warning", "beta.ts:error", "beta.ts:warning"]);
    const page = await a.inject(admin, "GET", "/importErrors?severity=all&limit=1&offset=1");
    expect(page.json.import_errors.map((e: { filename: string; severity: string }) => `${e.filename}:${e.severity}`)).toEqual(["beta.ts:error"]);
    expect(page.json.total_entries).toBe(3);

    // One warning by id; its id is a warning's, so without severity=warning it is not that entry.
    const alphaWarning = warnings.json.import_errors[0];
    const one = await a.inject(admin, "GET", `/importErrors/${alphaWarning.import_error_id}?severity=warning`);
    expect(one.status).toBe(200);
    expect(one.json).toEqual(alphaWarning);
    expect((await a.inject(admin, "GET", "/importErrors/999999?severity=warning")).json.code).toBe("UPDRAFT_E_IMPORT_ERROR_NOT_FOUND");
    expect((await a.inject(admin, "GET", "/importErrors?severity=loud")).status).toBe(400);

    // team-a reads alpha only: alpha's warning, not beta's error or warning.
    const t = await a.login("teama");
    const mine = await a.inject(t, "GET", "/importErrors?severity=all");
    expect(mine.json.import_errors.map((e: { filename: string }) => e.filename)).toEqual(["alpha.ts"]);
    const betaWarning = warnings.json.import_errors[1];
    expect((await a.inject(t, "GET", `/importErrors/${betaWarning.import_error_id}?severity=warning`)).status).toBe(404);

    // Cleared: gone from the list.
    await recordImportWarning(a.env.store, { dagsFolder: a.env.dagsFolder, fileloc: "alpha.ts", now: Date.now(), warning: null });
    expect((await a.inject(admin, "GET", "/importErrors?severity=warning")).json.total_entries).toBe(1);
  });
});
