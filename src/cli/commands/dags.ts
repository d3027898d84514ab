import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { auditedCli } from "../../api/audit.js";
import { isUpdraftError, UpdraftError } from "../../errors/index.js";
import { configuredKeyring, createLocalExecutor, createScheduler, processDagsFolder } from "../../runtime/index.js";
import { triggerDagRun } from "../../scheduler/create-run.js";
import { deleteDag, describeImportError, getDagVersion, importErrorsForDag, latestStructureOf, listDags, listImportErrors, requireDag, setPaused } from "../../store/dags.js";
import { listImportWarnings } from "../../store/import-warnings.js";
import { listDagRuns, listTaskInstances } from "../../store/runs.js";
import type { DagRow } from "../../store/schema.js";
import { createLogger, silentLogger } from "../../util/logger.js";
import { confirm, isJson, iso, loadCliConfig, parseJsonOption, printJson, printTable, withStore } from "../context.js";
import { registerDagsCheckCommand } from "./dags-check.js";

export function dagJson(dag: DagRow, versionNumber?: number) {
  return {
    dagId: dag.dag_id,
    isPaused: dag.is_paused === 1,
    isActive: dag.is_active === 1,
    schedule: JSON.parse(dag.schedule) as unknown,
    scheduleDescription: dag.schedule_description,
    timezone: dag.timezone,
    owner: dag.owner,
    tags: JSON.parse(dag.tags) as string[],
    description: dag.description,
    fileloc: dag.fileloc,
    ...(versionNumber !== undefined ? { version: versionNumber } : {}),
    nextRunAfter: iso(dag.next_dagrun_create_after),
  };
}

export function runJson(run: { dag_id: string; run_id: string; state: string; run_type: string; logical_date: number; data_interval_start: number; data_interval_end: number; start_date: number | null; end_date: number | null; note: string | null; conf: string }) {
  return {
    dagId: run.dag_id,
    runId: run.run_id,
    state: run.state,
    runType: run.run_type,
    logicalDate: iso(run.logical_date),
    dataIntervalStart: iso(run.data_interval_start),
    dataIntervalEnd: iso(run.data_interval_end),
    startDate: iso(run.start_date),
    endDate: iso(run.end_date),
    conf: JSON.parse(run.conf) as unknown,
    note: run.note,
  };
}

export function registerDagsCommands(program: Command): void {
  const dags = program.command("dags").description("DAGs: list, inspect, trigger, pause, test, delete");

  dags
    .command("list")
    .description("DAGs registered from the DAGs folder")
    .option("--include-inactive", "also DAGs whose file is gone")
    .option("--json", "print JSON")
    .action(async (opts: { includeInactive?: boolean }, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const rows = await listDags(store.db, { includeInactive: opts.includeInactive ?? false });
        const versions = new Map<number, number>();
        for (const row of rows) if (row.latest_version_id !== null) versions.set(row.latest_version_id, (await getDagVersion(store.db, row.latest_version_id)).version_number);
        const items = rows.map((r) => dagJson(r, r.latest_version_id === null ? undefined : versions.get(r.latest_version_id)));
        if (isJson(command)) printJson(items);
        else printTable(items.map((d) => ({ ...d, paused: d.isPaused, schedule: d.scheduleDescription, tags: d.tags.join(",") })), ["dagId", "paused", "schedule", "owner", "tags", "fileloc", "nextRunAfter"]);
      });
    });

  dags
    .command("show <dag_id>")
    .description("The DAG's tasks and edges (latest version)")
    .option("--json", "print the serialized DAG as JSON")
    .action(async (dagId: string, _opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const { structure: dag } = await latestStructureOf(store.db, dagId);
        if (isJson(command)) return printJson(dag);
        process.stdout.write(`${dag.dagId}: ${dag.scheduleDescription}${dag.description ? ` — ${dag.description}` : ""}\n`);
        for (const t of dag.tasks) {
          process.stdout.write(`  ${t.taskId} [${t.kind}]${t.upstream.length ? ` <- ${t.upstream.join(", ")}` : ""}${t.options.triggerRule !== "all_success" ? ` (${t.options.triggerRule})` : ""}\n`);
        }
      });
    });

  dags
    .command("trigger <dag_id>")
    .description("Create a manual run")
    .option("--conf <json>", "the run's conf, a JSON object (checked against the DAG's params)")
    .option("--logical-date <date>", "logical date (default: now); a date without offset is read in the DAG's timezone")
    .option("--run-id <run_id>", "run id (default: manual__<logical date>)")
    .option("--note <text>", "a note kept with the run")
    .option("--json", "print JSON")
    .action(async (dagId: string, opts: { conf?: string; logicalDate?: string; runId?: string; note?: string }, command: Command) => {
      const { config } = loadCliConfig(command);
      const conf = opts.conf === undefined ? {} : parseJsonOption(opts.conf, "--conf");
      await withStore(config, async (store) => {
        const audit = { action: "dag_run.trigger", command: "updraft dags trigger", objectType: "dag_run", objectId: opts.runId ?? null, dagId, details: { logical_date: opts.logicalDate ?? null, conf_keys: Object.keys(conf).slice(0, 50) } };
        const run = await auditedCli(store.db, audit, async () => {
          const made = await triggerDagRun(store, dagId, { conf, ...(opts.logicalDate ? { logicalDate: opts.logicalDate } : {}), ...(opts.runId ? { runId: opts.runId } : {}), ...(opts.note ? { note: opts.note } : {}) });
          audit.objectId = made.runId;
          return made;
        });
        if (isJson(command)) printJson({ dagId: run.dagId, runId: run.runId, logicalDate: iso(run.logicalDate), paused: run.paused });
        else process.stdout.write(`created run ${run.runId} of DAG ${run.dagId}\n`);
        if (run.paused) process.stderr.write(`note: DAG '${dagId}' is paused; the run starts when you unpause it (updraft dags unpause ${dagId})\n`);
        const [fileError] = await importErrorsForDag(store.db, dagId);
        if (fileError) process.stderr.write(`note: the file of DAG '${dagId}' has an import error (${describeImportError(fileError)}); the run uses the last version of the DAG that imported\n`);
      });
    });

  for (const [name, paused] of [["pause", true], ["unpause", false]] as const) {
    dags
      .command(`${name} <dag_id>`)
      .description(paused ? "Stop scheduling the DAG (runs in progress wait)" : "Let the DAG run on its schedule")
      .action(async (dagId: string, _opts: unknown, command: Command) => {
        const { config } = loadCliConfig(command);
        await withStore(config, async (store) => {
          const audit = { action: "dag.update", command: `updraft dags ${name}`, objectType: "dag", objectId: dagId, dagId, details: { is_paused: paused } };
          await auditedCli(store.db, audit, () => setPaused(store, dagId, paused));
          process.stdout.write(`DAG ${dagId} is ${paused ? "paused" : "unpaused"}\n`);
        });
      });
  }

  dags
    .command("delete <dag_id>")
    .description("Delete a DAG with all its history: runs, task instances, tries, logs, XComs (asks first unless --yes)")
    .option("-y, --yes", "delete without asking")
    .action(async (dagId: string, opts: { yes?: boolean }, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const dag = await requireDag(store.db, dagId);
        const runs = await store.db.selectFrom("dag_run").select((eb) => eb.fn.countAll<number>().as("n")).where("dag_id", "=", dagId).executeTakeFirstOrThrow();
        const what = `DAG '${dagId}' and its history (${Number(runs.n)} run(s) with their task instances, tries, logs and XComs)`;
        if (!opts.yes && !(await confirm(`Delete ${what}? This cannot be undone.`, { refusal: `deleting ${what} needs a confirmation`, hint: `run \`updraft dags delete ${dagId} --yes\` to delete it without asking` }))) {
          process.stderr.write("cancelled: nothing was deleted\n");
          process.exitCode = 1;
          return;
        }
        const audit = { action: "dag.delete", command: "updraft dags delete", objectType: "dag", objectId: dagId, dagId };
        const deleted = await auditedCli(store.db, audit, () => deleteDag(store, dagId));
        process.stdout.write(`DAG ${dagId} deleted with ${deleted.runs} run(s)\n`);
        if (dag.is_active === 1 && existsSync(join(dag.dags_folder, dag.fileloc))) {
          process.stderr.write(`note: its file ${dag.fileloc} is still in ${dag.dags_folder}: the DAG processor registers the DAG again, as a new one, when it next reads the file; remove the file to keep it deleted\n`);
        }
      });
    });

  dags
    .command("list-runs <dag_id>")
    .description("Runs of a DAG, newest logical date first")
    .option("--state <state>", "only runs in this state (queued, running, success, failed)")
    .option("--limit <n>", "at most this many", "50")
    .option("--json", "print JSON")
    .action(async (dagId: string, opts: { state?: string; limit: string }, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        await requireDag(store.db, dagId);
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new UpdraftError("UPDRAFT_E_USAGE", `--limit ${opts.limit} is not a positive integer`);
        const runs = (await listDagRuns(store.db, { dagId, ...(opts.state ? { state: opts.state } : {}), limit })).map(runJson);
        if (isJson(command)) printJson(runs);
        else printTable(runs, ["runId", "state", "runType", "logicalDate", "startDate", "endDate"]);
      });
    });

  dags
    .command("list-import-errors")
    .description("DAG files that failed to import, with file, line and message; and type warnings of files whose DAGs registered")
    .option("--json", "print JSON (each entry has a severity: error or warning)")
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const entry = (severity: "error" | "warning", e: { fileloc: string; code: string; location: string | null; line: number | null; column: number | null; message: string; created_at: number }) =>
          ({ severity, fileloc: e.fileloc, code: e.code, location: e.location, line: e.line, column: e.column, message: e.message, timestamp: iso(e.created_at) });
        const errors = (await listImportErrors(store.db)).map((e) => entry("error", e));
        const warnings = (await listImportWarnings(store.db)).map((w) => entry("warning", w));
        const all = [...errors, ...warnings].sort((a, b) => a.fileloc.localeCompare(b.fileloc) || a.severity.localeCompare(b.severity));
        if (isJson(command)) printJson(all);
        else if (all.length === 0) process.stdout.write("no import errors\n");
        else {
          for (const e of all) {
            const mark = e.severity === "warning" ? " warning (its DAGs are registered)" : "";
            process.stdout.write(`${e.fileloc} [${e.code}]${mark}\n  ${e.message.split("\n").join("\n  ")}\n`);
          }
        }
      });
    });

  dags
    .command("reserialize")
    .description("Process the DAGs folder once and store what changed")
    .option("--json", "print JSON")
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const summary = await processDagsFolder(store, config, silentLogger(), { waitForTypeChecks: true });
        const warnings = (await listImportWarnings(store.db, { dagsFolder: config.dagsFolder })).length;
        if (isJson(command)) printJson({ ...summary, warnings });
        else process.stdout.write(`${summary.files} DAG file(s), ${summary.processed} processed, ${summary.errors} with import errors, ${warnings} with type warnings\n`);
      });
    });

  registerDagsCheckCommand(dags);

  dags
    .command("test <dag_id> [logical_date]")
    .description("Run one DAG run in the foreground with the real scheduler and executor, ignoring pause")
    .option("--conf <json>", "the run's conf, a JSON object")
    .option("--json", "print one JSON object with the result")
    .action(async (dagId: string, logicalDate: string | undefined, opts: { conf?: string }, command: Command) => {
      const json = isJson(command);
      const { config } = loadCliConfig(command);
      const conf = opts.conf === undefined ? {} : parseJsonOption(opts.conf, "--conf");
      const log = createLogger("warn");
      const keyring = configuredKeyring(config);
      // Runner processes start while the folder is processed, not after it.
      const executor = createLocalExecutor(config, log);
      executor.warm();
      let started = false;
      await withStore(config, async (store) => {
        await processDagsFolder(store, config, silentLogger());
        const folderErrors = (await listImportErrors(store.db)).filter((e) => e.dags_folder === config.dagsFolder);
        const dag = await requireDag(store.db, dagId).catch((error: unknown) => {
          // Not found names the files that may define it when they failed to import; when none
          // looks like it, every file of the folder that failed may still be the one.
          if (folderErrors.length === 0 || !isUpdraftError(error, "UPDRAFT_E_DAG_NOT_FOUND") || error.details !== undefined) throw error;
          throw new UpdraftError("UPDRAFT_E_IMPORT_FAILED", `DAG '${dagId}' is not registered, and files of ${config.dagsFolder} failed to import:\n${folderErrors.map((e) => `  ${describeImportError(e)}`).join("\n")}`, {
            hint: "fix the file and run the test again (`updraft dags list-import-errors` shows the whole error)",
          });
        });
        const fileError = folderErrors.find((e) => e.fileloc === dag.fileloc);
        if (fileError) {
          throw new UpdraftError("UPDRAFT_E_IMPORT_FAILED", `the file of DAG '${dagId}' has an import error: ${describeImportError(fileError)}`, {
            hint: "fix the file and run the test again (`updraft dags list-import-errors` shows the whole error)",
          });
        }
        if (dag.is_active !== 1 || dag.dags_folder !== config.dagsFolder) {
          throw new UpdraftError("UPDRAFT_E_DAG_NOT_FOUND", `DAG '${dagId}' is not defined in the DAGs folder ${config.dagsFolder}`, {
            hint: dag.is_active === 1 ? `it comes from ${dag.dags_folder}: pass --dags-folder ${dag.dags_folder}` : "its file is gone",
          });
        }
        const audit = { action: "dag_run.trigger", command: "updraft dags test", objectType: "dag_run", objectId: null as string | null, dagId, details: { run_type: "test", logical_date: logicalDate ?? null, conf_keys: Object.keys(conf).slice(0, 50) } };
        const run = await auditedCli(store.db, audit, async () => {
          const made = await triggerDagRun(store, dagId, { conf, runType: "test", ...(logicalDate ? { logicalDate } : {}) });
          audit.objectId = made.runId;
          return made;
        });
        const outcome = await new Promise<string>((resolve, reject) => {
          const scheduler = createScheduler(store, config, log, {
            onlyRuns: [run.id],
            keyring,
            executor,
            onEvent: (event) => {
              if (event.type === "log" && !json) {
                for (const line of event.lines) process.stdout.write(`[${event.taskId}#${event.tryNumber}] ${line.message}\n`);
              } else if (event.type === "ti-state" && !json && ["success", "failed", "skipped", "upstream_failed", "up_for_retry"].includes(event.state)) {
                process.stdout.write(`${event.taskId}: ${event.state}\n`);
              } else if (event.type === "run-state" && event.dagRunId === run.id && (event.state === "success" || event.state === "failed")) {
                void scheduler.stop().then(() => resolve(event.state), reject);
              }
            },
          });
          started = true;
          scheduler.start().catch(reject);
        });
        const tis = await listTaskInstances(store.db, run.id);
        const result = { dagId, runId: run.runId, state: outcome, tasks: tis.map((t) => ({ taskId: t.task_id, state: t.state, tryNumber: t.try_number })) };
        if (json) printJson(result);
        else {
          process.stdout.write(`\nrun ${run.runId}: ${outcome}\n`);
          printTable(result.tasks, ["taskId", "state", "tryNumber"]);
        }
        process.exitCode = outcome === "success" ? 0 : 1;
      }).finally(async () => {
        // The scheduler stops the executor it started; one it never started stops here.
        if (!started) await executor.stop();
      });
    });
}
