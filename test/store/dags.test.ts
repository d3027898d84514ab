import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { SerializedDag } from "../../src/dag/model.js";
import { task } from "../../src/sdk/task.js";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { eventsAfter } from "../../src/store/events.js";
import {
  deleteDag,
  forgetMissingFiles,
  getBundleCode,
  getDag,
  importErrorsForDag,
  latestStructure,
  listDags,
  listImportErrors,
  requireDag,
  setPaused,
} from "../../src/store/dags.js";
import { DIALECTS } from "../helpers/dialects.js";
import { buildDag, countRows, DAGS_FOLDER, envFactory, expectCode, recordFile, simpleDag } from "./fixtures.js";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 2, 10, 12, 30); // 2026-03-10 12:30 UTC

describe.each(DIALECTS)("dags repository (%s)", (dialect) => {
  const makeEnv = envFactory(dialect);

  it("creates the DAG, version 1 and the bundle on first import", async () => {
    const env = await makeEnv();
    const hello = simpleDag("hello.ts", "hello", ["one", "two"], { tags: ["t1"], description: "says hi", owner: "ops" });
    const report = await recordFile(env.store, "hello.ts", [hello], { now: NOW, pausedAtCreation: true, source: "SOURCE" });
    expect(report).toEqual({ created: ["hello"], newVersions: [], deactivated: [], clashes: [] });

    const row = await requireDag(env.store.db, "hello");
    expect(row).toMatchObject({
      dag_id: "hello",
      fileloc: "hello.ts",
      is_active: 1,
      is_paused: 1,
      owner: "ops",
      description: "says hi",
      tags: '["t1"]',
      schedule: "null",
      timezone: "UTC",
      created_at: NOW,
      updated_at: NOW,
      last_parsed_at: NOW,
    });
    expect(row.latest_version_id).not.toBeNull();
    const versions = await env.store.db.selectFrom("dag_version").selectAll().where("dag_id", "=", "hello").execute();
    expect(versions).toHaveLength(1);
    expect(versions[0]).toMatchObject({ id: row.latest_version_id, version_number: 1, source: "SOURCE", created_at: NOW });
    const { structure } = await latestStructure(env.store.db, row);
    expect(structure).toEqual(hello);
    expect(await getBundleCode(env.store.db, versions[0]!.bundle_hash)).toContain("bundle of hello.ts");
    expect(await countRows(env.store, "dag_bundle")).toBe(1);
    expect(await listImportErrors(env.store.db)).toEqual([]);
  });

  it("stores no new version when the same content is imported again", async () => {
    const env = await makeEnv();
    const first = await recordFile(env.store, "hello.ts", [simpleDag("hello.ts", "hello")], { now: NOW });
    const versionId = (await requireDag(env.store.db, "hello")).latest_version_id;
    const again = await recordFile(env.store, "hello.ts", [simpleDag("hello.ts", "hello")], { now: NOW + 60_000 });
    expect(first.created).toEqual(["hello"]);
    expect(again).toEqual({ created: [], newVersions: [], deactivated: [], clashes: [] });
    expect(await countRows(env.store, "dag_version")).toBe(1);
    expect(await countRows(env.store, "dag_bundle")).toBe(1);
    const row = await requireDag(env.store.db, "hello");
    expect(row.latest_version_id).toBe(versionId);
    expect(row.last_parsed_at).toBe(NOW + 60_000);
  });

  it("stores version 2 when the structure changes and moves latest_version_id, keeping is_paused", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "hello.ts", [simpleDag("hello.ts", "hello", ["one"])], { now: NOW, pausedAtCreation: true });
    const v1 = (await requireDag(env.store.db, "hello")).latest_version_id!;
    await setPaused(env.store, "hello", false);

    const report = await recordFile(env.store, "hello.ts", [simpleDag("hello.ts", "hello", ["one", "two"])], { now: NOW + 1, pausedAtCreation: true });
    expect(report).toEqual({ created: [], newVersions: ["hello"], deactivated: [], clashes: [] });
    const row = await requireDag(env.store.db, "hello");
    expect(row.latest_version_id).not.toBe(v1);
    expect(row.is_paused).toBe(0); // a new version does not re-pause a DAG someone unpaused
    expect(row.created_at).toBe(NOW);
    const versions = await env.store.db.selectFrom("dag_version").select(["id", "version_number"]).where("dag_id", "=", "hello").orderBy("version_number").execute();
    expect(versions).toEqual([
      { id: v1, version_number: 1 },
      { id: row.latest_version_id, version_number: 2 },
    ]);
    expect((await latestStructure(env.store.db, row)).structure.tasks.map((t) => t.taskId)).toEqual(["one", "two"]);
  });

  it("deactivates a DAG that a cleanly imported file no longer defines, and brings it back later", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "multi.ts", [simpleDag("multi.ts", "keep"), simpleDag("multi.ts", "drop")], { now: NOW });
    const report = await recordFile(env.store, "multi.ts", [simpleDag("multi.ts", "keep")], { now: NOW + 1 });
    expect(report.deactivated).toEqual(["drop"]);
    expect(await getDag(env.store.db, "drop")).toMatchObject({ is_active: 0, updated_at: NOW + 1 });
    expect((await listDags(env.store.db)).map((d) => d.dag_id)).toEqual(["keep"]);
    expect((await listDags(env.store.db, { includeInactive: true })).map((d) => d.dag_id)).toEqual(["drop", "keep"]);

    // A file that now defines no DAG at all deactivates everything it had.
    const empty = await recordFile(env.store, "multi.ts", [], { now: NOW + 2 });
    expect(empty.deactivated).toEqual(["keep"]);
    expect(await listDags(env.store.db)).toEqual([]);

    const back = await recordFile(env.store, "multi.ts", [simpleDag("multi.ts", "drop")], { now: NOW + 3 });
    expect(back.created).toEqual([]);
    expect(await getDag(env.store.db, "drop")).toMatchObject({ is_active: 1 });
  });

  it("keeps the DAGs of a file whose import failed, and sets then clears its import error", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "broken.ts", [simpleDag("broken.ts", "one"), simpleDag("broken.ts", "two")], { now: NOW });
    const error = { code: "UPDRAFT_E_IMPORT_FAILED", message: "SyntaxError: Unexpected token", line: 12, column: 5, location: "broken.ts:12:5", stack: "at broken.ts:12:5" };
    const failed = await recordFile(env.store, "broken.ts", [], { now: NOW + 1, error });
    expect(failed.deactivated).toEqual([]);
    expect((await listDags(env.store.db)).map((d) => d.dag_id)).toEqual(["one", "two"]);
    expect(await listImportErrors(env.store.db)).toMatchObject([
      { fileloc: "broken.ts", code: "UPDRAFT_E_IMPORT_FAILED", message: "SyntaxError: Unexpected token", line: 12, column: 5, location: "broken.ts:12:5", stack: "at broken.ts:12:5", created_at: NOW + 1 },
    ]);

    // Failing again replaces the row instead of adding a second one.
    await recordFile(env.store, "broken.ts", [], { now: NOW + 2, error: { ...error, code: "UPDRAFT_E_IMPORT_TIMEOUT", message: "ReferenceError: x is not defined", line: 3 } });
    expect(await listImportErrors(env.store.db)).toMatchObject([{ fileloc: "broken.ts", code: "UPDRAFT_E_IMPORT_TIMEOUT", message: "ReferenceError: x is not defined", line: 3 }]);

    // A file that imports some DAGs but reports an error for another keeps the error too.
    await recordFile(env.store, "broken.ts", [simpleDag("broken.ts", "one")], { now: NOW + 3, error: { ...error, code: "UPDRAFT_E_DAG_CYCLE", message: "DAG 'two' is invalid" } });
    expect((await listDags(env.store.db)).map((d) => d.dag_id)).toEqual(["one", "two"]);
    expect(await listImportErrors(env.store.db)).toMatchObject([{ fileloc: "broken.ts", code: "UPDRAFT_E_DAG_CYCLE", message: "DAG 'two' is invalid" }]);

    await recordFile(env.store, "broken.ts", [simpleDag("broken.ts", "one"), simpleDag("broken.ts", "two")], { now: NOW + 4 });
    expect(await listImportErrors(env.store.db)).toEqual([]);
  });

  it("refuses a DAG id that another existing file defines: clash and import error, the DAG stays put", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "first.ts", [simpleDag("first.ts", "dup", ["a"])], { now: NOW });
    const report = await recordFile(env.store, "second.ts", [simpleDag("second.ts", "dup", ["b"]), simpleDag("second.ts", "fine")], {
      now: NOW + 1,
      existingFiles: ["first.ts", "second.ts"],
    });
    expect(report.clashes).toEqual(["dup"]);
    expect(report.created).toEqual(["fine"]);
    const dup = await requireDag(env.store.db, "dup");
    expect(dup.fileloc).toBe("first.ts");
    expect((await latestStructure(env.store.db, dup)).structure.tasks.map((t) => t.taskId)).toEqual(["a"]);
    const errors = await listImportErrors(env.store.db);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fileloc).toBe("second.ts");
    expect(errors[0]!.code).toBe("UPDRAFT_E_DUPLICATE_DAG_ID");
    expect(errors[0]!.message).toContain("'dup'");
    expect(errors[0]!.message).toContain("first.ts");

    // Re-importing first.ts is not a clash and does not deactivate anything.
    const again = await recordFile(env.store, "first.ts", [simpleDag("first.ts", "dup", ["a"])], { now: NOW + 2, existingFiles: ["first.ts", "second.ts"] });
    expect(again).toEqual({ created: [], newVersions: [], deactivated: [], clashes: [] });
  });

  it("lets a DAG move to another file when its old file is gone", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "old.ts", [simpleDag("old.ts", "mover")], { now: NOW });
    const report = await recordFile(env.store, "new.ts", [simpleDag("new.ts", "mover")], { now: NOW + 1, existingFiles: ["new.ts"] });
    expect(report.clashes).toEqual([]);
    expect(report.newVersions).toEqual(["mover"]);
    expect(await requireDag(env.store.db, "mover")).toMatchObject({ fileloc: "new.ts", is_active: 1 });
    expect(await listImportErrors(env.store.db)).toEqual([]);
  });

  it("forgetMissingFiles deactivates the DAGs of missing files and drops their import errors", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "stays.ts", [simpleDag("stays.ts", "stays")], { now: NOW });
    await recordFile(env.store, "goes.ts", [simpleDag("goes.ts", "goes_a"), simpleDag("goes.ts", "goes_b")], { now: NOW });
    await recordFile(env.store, "goes.ts", [simpleDag("goes.ts", "goes_a"), simpleDag("goes.ts", "goes_b")], {
      now: NOW,
      error: { code: "UPDRAFT_E_IMPORT_FAILED", message: "boom", line: null, column: null, location: null, stack: null },
    });
    await recordFile(env.store, "bad.ts", [], { now: NOW, error: { code: "UPDRAFT_E_IMPORT_FAILED", message: "bad", line: 1, column: 1, location: "bad.ts:1:1", stack: null } });
    expect((await listImportErrors(env.store.db)).map((e) => e.fileloc)).toEqual(["bad.ts", "goes.ts"]);

    const gone = await forgetMissingFiles(env.store, DAGS_FOLDER, new Set(["stays.ts", "bad.ts"]), NOW + 5);
    expect(gone.sort()).toEqual(["goes_a", "goes_b"]);
    expect((await listDags(env.store.db)).map((d) => d.dag_id)).toEqual(["stays"]);
    expect(await getDag(env.store.db, "goes_a")).toMatchObject({ is_active: 0, updated_at: NOW + 5 });
    expect((await listImportErrors(env.store.db)).map((e) => e.fileloc)).toEqual(["bad.ts"]);
    // History is kept: the inactive DAG's versions remain.
    expect(await countRows(env.store, "dag_version")).toBe(3);

    expect(await forgetMissingFiles(env.store, DAGS_FOLDER, new Set(["stays.ts", "bad.ts"]), NOW + 6)).toEqual([]);
  });

  it("a scan of another DAGs folder leaves this folder's DAGs alone; a live clash across folders is refused", async () => {
    const env = await makeEnv();
    const folderA = mkdtempSync(join(tmpdir(), "updraft-folder-a-"));
    try {
      writeFileSync(join(folderA, "a.ts"), "// a");
      await recordFile(env.store, "a.ts", [simpleDag("a.ts", "in_a")], { dagsFolder: folderA, now: NOW });
      // A one-off command pointed at another folder (say ./dags) finds no files there.
      expect(await forgetMissingFiles(env.store, "/elsewhere/dags", new Set(), NOW + 1)).toEqual([]);
      expect(await getDag(env.store.db, "in_a")).toMatchObject({ is_active: 1, dags_folder: folderA });
      // The same DAG id from a file in another folder, while a.ts still exists there: refused.
      const clash = await recordFile(env.store, "a.ts", [simpleDag("a.ts", "in_a")], { dagsFolder: "/elsewhere/dags", now: NOW + 2 });
      expect(clash.clashes).toEqual(["in_a"]);
      expect(await getDag(env.store.db, "in_a")).toMatchObject({ dags_folder: folderA });
      const errors = await listImportErrors(env.store.db);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ dags_folder: "/elsewhere/dags", fileloc: "a.ts", code: "UPDRAFT_E_DUPLICATE_DAG_ID" });
      expect(errors[0]!.message).toContain(join(folderA, "a.ts"));
    } finally {
      rmSync(folderA, { recursive: true, force: true });
    }
  });

  it("requireDag names the known DAGs when one is not found", async () => {
    const env = await makeEnv();
    const none = await expectCode(requireDag(env.store.db, "nope"), "UPDRAFT_E_DAG_NOT_FOUND");
    expect(none.message).toContain("'nope'");
    expect(none.hint).toMatch(/no DAGs/);

    await recordFile(env.store, "f.ts", [simpleDag("f.ts", "beta"), simpleDag("f.ts", "alpha")]);
    const missing = await expectCode(requireDag(env.store.db, "gamma"), "UPDRAFT_E_DAG_NOT_FOUND");
    expect(missing.hint).toBe("known DAGs: alpha, beta");
    expect(missing.status).toBe(404);
  });

  it("requireDag names the import errors of files that may define a DAG that is not found (by name, by text), with line and code", async () => {
    const dagsFolder = mkdtempSync(join(tmpdir(), "updraft-dags-"));
    try {
      const env = await makeEnv();
      await recordFile(env.store, "main.ts", [simpleDag("main.ts", "ok")], { dagsFolder });
      const error = (message: string, line: number) => ({ code: "UPDRAFT_E_BUNDLE_FAILED", message, line, column: 7, location: null, stack: null });
      // gamma.ts never imported: matched by its name. reports.ts holds the id as a string.
      writeFileSync(join(dagsFolder, "gamma.ts"), "export default dag({ id: 'gamma' }, () => { t( });\n");
      writeFileSync(join(dagsFolder, "reports.ts"), 'import { dag } from "updraft";\nexport default dag({ id: "weekly_report" }, () => { x( });\n');
      await recordFile(env.store, "gamma.ts", [], { dagsFolder, error: error('Expected ")" but found "}"\nmore lines of the bundler', 1) });
      await recordFile(env.store, "reports.ts", [], { dagsFolder, error: error("reports.ts:2:7: Unexpected token", 2) });

      const gamma = await expectCode(requireDag(env.store.db, "gamma"), "UPDRAFT_E_DAG_NOT_FOUND");
      expect(gamma.status).toBe(404);
      expect(gamma.message).toBe(`DAG 'gamma' not found, and a file that may define it failed to import: gamma.ts:1:7 [UPDRAFT_E_BUNDLE_FAILED] Expected ")" but found "}"`);
      expect(gamma.hint).toMatch(/fix the file/);
      expect(gamma.details).toEqual({ import_errors: [{ filename: "gamma.ts", line: 1, column: 7, code: "UPDRAFT_E_BUNDLE_FAILED", message: 'Expected ")" but found "}"\nmore lines of the bundler' }] });

      const weekly = await expectCode(requireDag(env.store.db, "weekly_report"), "UPDRAFT_E_DAG_NOT_FOUND");
      expect(weekly.message).toContain("reports.ts:2:7 [UPDRAFT_E_BUNDLE_FAILED] Unexpected token");
      expect(weekly.message).not.toContain("gamma.ts");

      // A DAG no file mentions: not found as before, with the known DAGs.
      const nope = await expectCode(requireDag(env.store.db, "nope"), "UPDRAFT_E_DAG_NOT_FOUND");
      expect(nope.message).toBe("DAG 'nope' not found");
      expect(nope.hint).toBe("known DAGs: ok");
      expect(nope.details).toBeUndefined();

      // A DAG whose file broke after it registered: found by its row (byRow) and by nothing else.
      await recordFile(env.store, "main.ts", [], { dagsFolder, error: error("ReferenceError: y is not defined", 9) });
      expect((await importErrorsForDag(env.store.db, "ok")).map((e) => e.fileloc)).toEqual(["main.ts"]);
      expect(await importErrorsForDag(env.store.db, "ok", { byRow: false })).toEqual([]);
    } finally {
      rmSync(dagsFolder, { recursive: true, force: true });
    }
  });

  it("triggering an inactive DAG whose file is back but broken names the import error", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "f.ts", [simpleDag("f.ts", "f")]);
    await forgetMissingFiles(env.store, DAGS_FOLDER, new Set(), Date.now());
    const gone = await expectCode(triggerDagRun(env.store, "f"), "UPDRAFT_E_DAG_INACTIVE");
    expect(gone.message).toContain("its file is gone");
    await recordFile(env.store, "f.ts", [], { error: { code: "UPDRAFT_E_IMPORT_FAILED", message: "SyntaxError: Unexpected end of input", line: 3, column: null, location: null, stack: null } });
    const broken = await expectCode(triggerDagRun(env.store, "f"), "UPDRAFT_E_DAG_INACTIVE");
    expect(broken.message).toBe("DAG 'f' is not active, and its file failed to import: f.ts:3 [UPDRAFT_E_IMPORT_FAILED] SyntaxError: Unexpected end of input");
    expect(broken.details).toMatchObject({ import_errors: [{ filename: "f.ts", line: 3 }] });
  });

  it("deleteDag deletes a DAG with its versions, runs and task instances, records the event, and refuses while a task is on its way", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "f.ts", [simpleDag("f.ts", "gone", ["a", "b"]), simpleDag("f.ts", "kept")]);
    await triggerDagRun(env.store, "gone", { runId: "r1" });
    await triggerDagRun(env.store, "gone", { runId: "r2" });
    const kept = await triggerDagRun(env.store, "kept", { runId: "k1" });
    await env.store.db.updateTable("task_instance").set({ state: "running" }).where("dag_id", "=", "gone").where("task_id", "=", "a").execute();

    const busy = await expectCode(deleteDag(env.store, "gone"), "UPDRAFT_E_INVALID_STATE");
    expect(busy.status).toBe(409);
    expect(busy.message).toContain("(a)");
    expect(await getDag(env.store.db, "gone")).toBeDefined();

    await env.store.db.updateTable("task_instance").set({ state: "failed" }).where("dag_id", "=", "gone").execute();
    const before = Number((await env.store.db.selectFrom("event").select((eb) => eb.fn.max<number>("id").as("id")).executeTakeFirst())?.id ?? 0);
    expect(await deleteDag(env.store, "gone")).toEqual({ runs: 2 });
    expect(await getDag(env.store.db, "gone")).toBeUndefined();
    for (const table of ["dag_version", "dag_run", "task_instance"] as const) {
      const rows = await env.store.db.selectFrom(table).select("dag_id").where("dag_id", "=", "gone").execute();
      expect(rows, table).toEqual([]);
    }
    // The other DAG of the file is untouched.
    expect((await env.store.db.selectFrom("task_instance").select("id").where("dag_run_id", "=", kept.id).execute()).length).toBe(1);
    const events = (await eventsAfter(env.store.db, before)).map((e) => JSON.parse(e.payload) as unknown);
    expect(events).toEqual([{ kind: "dag-updated", dag_id: "gone", is_active: false, deleted: true }]);

    await expectCode(deleteDag(env.store, "gone"), "UPDRAFT_E_DAG_NOT_FOUND");
  });

  it("setPaused pauses and unpauses, and refuses unknown DAGs", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "f.ts", [simpleDag("f.ts", "p")], { pausedAtCreation: false });
    expect((await getDag(env.store.db, "p"))!.is_paused).toBe(0);
    expect((await setPaused(env.store, "p", true)).is_paused).toBe(1);
    expect((await getDag(env.store.db, "p"))!.is_paused).toBe(1);
    expect((await setPaused(env.store, "p", false)).is_paused).toBe(0);
    expect((await getDag(env.store.db, "p"))!.is_paused).toBe(0);
    await expectCode(setPaused(env.store, "unknown", true), "UPDRAFT_E_DAG_NOT_FOUND");
  });

  it("computes next_dagrun_create_after for a scheduled DAG and leaves it null for schedule null", async () => {
    const env = await makeEnv();
    const daily = buildDag("s.ts", { id: "daily", schedule: "@daily", startDate: "2026-01-01" }, () => {
      task({ id: "t", run: () => 1 })();
    });
    const manual: SerializedDag = simpleDag("s.ts", "manual");
    await recordFile(env.store, "s.ts", [daily, manual], { now: NOW });

    // catchup false: the latest complete interval at NOW, [03-09 00:00, 03-10 00:00), due at its end.
    const today = Date.UTC(2026, 2, 10);
    expect(await getDag(env.store.db, "daily")).toMatchObject({
      schedule: JSON.stringify("0 0 * * *"),
      next_dagrun_create_after: today,
      next_dagrun_interval_start: today - DAY,
      next_dagrun_interval_end: today,
    });
    expect(await getDag(env.store.db, "manual")).toMatchObject({
      next_dagrun_create_after: null,
      next_dagrun_interval_start: null,
      next_dagrun_interval_end: null,
    });

    // With startDate in the future, the first run is the interval that starts there.
    const later = buildDag("s.ts", { id: "daily", schedule: "@daily", startDate: "2026-04-01" }, () => {
      task({ id: "t", run: () => 1 })();
    });
    await recordFile(env.store, "s.ts", [later, manual], { now: NOW + 1 });
    expect(await getDag(env.store.db, "daily")).toMatchObject({
      next_dagrun_interval_start: Date.UTC(2026, 3, 1),
      next_dagrun_create_after: Date.UTC(2026, 3, 2),
    });
  });
});
