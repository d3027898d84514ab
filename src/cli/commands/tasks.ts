import { randomUUID } from "node:crypto";
import type { Command } from "commander";
import { auditedCli } from "../../api/audit.js";
import { UpdraftError } from "../../errors/index.js";
import { splitStack } from "../../errors/stack.js";
import { configuredKeyring, createLocalExecutor, processDagsFolder } from "../../runtime/index.js";
import type { TryResult } from "../../runner/protocol.js";
import { clearTaskInstances, markTaskInstances } from "../../scheduler/manual-ops.js";
import { connectionForTask } from "../../store/connections.js";
import { getBundleCode, latestStructureOf } from "../../store/dags.js";
import { listTries, readLogs, readXcoms, requireDagRun, requireTaskInstance } from "../../store/runs.js";
import { variableForTask } from "../../store/variables.js";
import { formatDs, parseDate, restoreTimetable } from "../../timetable/index.js";
import { resolveParams } from "../../dag/params.js";
import { silentLogger } from "../../util/logger.js";
import { CliUsageError, isJson, iso, loadCliConfig, parseJsonOption, printJson, printTable, withStore } from "../context.js";

export function registerTasksCommands(program: Command): void {
  const tasks = program.command("tasks").description("Tasks and task instances: list, test, clear, state, logs");

  tasks
    .command("list <dag_id>")
    .description("Tasks of the DAG's latest version")
    .option("--json", "print JSON")
    .action(async (dagId: string, _opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const { structure } = await latestStructureOf(store.db, dagId);
        const rows = structure.tasks.map((t) => ({
          taskId: t.taskId,
          kind: t.kind,
          upstream: t.upstream,
          triggerRule: t.options.triggerRule,
          retries: t.options.retries,
          pool: t.options.pool,
          priorityWeight: t.weight,
          group: t.group,
        }));
        if (isJson(command)) printJson(rows);
        else printTable(rows.map((r) => ({ ...r, upstream: r.upstream.join(",") })), ["taskId", "kind", "upstream", "triggerRule", "retries", "pool", "priorityWeight"]);
      });
    });

  tasks
    .command("state <dag_id> <run_id> <task_id>")
    .description("The state of a task instance")
    .option("--json", "print JSON")
    .action(async (dagId: string, runId: string, taskId: string, _opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const ti = await requireTaskInstance(store.db, await requireDagRun(store.db, dagId, runId), taskId);
        if (!isJson(command)) return void process.stdout.write(`${ti.state}\n`);
        const tries = await listTries(store.db, ti.id);
        printJson({
          dagId,
          runId,
          taskId,
          state: ti.state,
          tryNumber: ti.try_number,
          maxTries: ti.max_tries,
          startDate: iso(ti.start_date),
          endDate: iso(ti.end_date),
          durationMs: ti.duration_ms,
          nextRetryAt: iso(ti.next_retry_at),
          tries: tries.map((t) => {
            const error = t.error === null ? null : (JSON.parse(t.error) as { message: string; stack: string | null });
            // The stack's frames of the task's own code (`tasks logs` shows the same in the try's log line).
            const stack = error?.stack ? splitStack(error.stack).user : null;
            // Where it ran: the runner's host and pid, or, for a try of a remote worker, the worker's.
            return { tryNumber: t.try_number, state: t.state, hostname: t.hostname, pid: t.pid, startDate: iso(t.start_date), endDate: iso(t.end_date), durationMs: t.duration_ms, error: error?.message ?? null, stack };
          }),
        });
      });
    });

  tasks
    .command("clear <dag_id> <run_id> [task_ids...]")
    .description("Run task instances again in the same run (all tasks when none is named)")
    .option("-d, --downstream", "also everything downstream of them")
    .option("-u, --upstream", "also everything upstream of them")
    .option("-f, --only-failed", "only task instances that failed or are upstream_failed")
    .option("--dry-run", "show what would be cleared and change nothing")
    .option("--json", "print JSON")
    .action(async (dagId: string, runId: string, taskIds: string[], opts: { downstream?: boolean; upstream?: boolean; onlyFailed?: boolean; dryRun?: boolean }, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const options = { taskIds, downstream: opts.downstream ?? false, upstream: opts.upstream ?? false, onlyFailed: opts.onlyFailed ?? false, dryRun: opts.dryRun ?? false };
        // As in the API: the same action name and details; a dry run changes nothing and is not audited.
        const audit = {
          action: "task_instance.clear",
          command: "updraft tasks clear",
          objectType: "dag_run",
          objectId: runId,
          dagId,
          details: { dag_run_id: runId, ...(taskIds.length > 0 ? { task_ids: taskIds } : {}), include_downstream: options.downstream, include_upstream: options.upstream, only_failed: options.onlyFailed },
        };
        const cleared = options.dryRun ? await clearTaskInstances(store, dagId, runId, options) : await auditedCli(store.db, audit, () => clearTaskInstances(store, dagId, runId, options));
        if (isJson(command)) return printJson({ dryRun: opts.dryRun ?? false, taskInstances: cleared });
        process.stdout.write(`${opts.dryRun ? "would clear" : "cleared"} ${cleared.length} task instance(s)\n`);
        printTable(cleared.map((c) => ({ taskId: c.taskId, previousState: c.state })), ["taskId", "previousState"]);
      });
    });

  tasks
    .command("mark <dag_id> <run_id> <task_id> <state>")
    .description("Set a task instance to success or failed")
    .option("-d, --downstream", "also everything downstream of it")
    .option("--dry-run", "show what would change and change nothing")
    .option("--json", "print JSON")
    .action(async (dagId: string, runId: string, taskId: string, state: string, opts: { downstream?: boolean; dryRun?: boolean }, command: Command) => {
      if (state !== "success" && state !== "failed") throw new CliUsageError(`cannot mark a task instance '${state}'`, "use success or failed; to run it again use `updraft tasks clear`");
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const options = { downstream: opts.downstream ?? false, dryRun: opts.dryRun ?? false };
        const audit = { action: "task_instance.set_state", command: "updraft tasks mark", objectType: "task_instance", objectId: `${runId}/${taskId}`, dagId, details: { new_state: state, include_downstream: options.downstream } };
        const mark = () => markTaskInstances(store, dagId, runId, [taskId], state, options);
        const changed = options.dryRun ? await mark() : await auditedCli(store.db, audit, mark);
        if (isJson(command)) return printJson({ dryRun: opts.dryRun ?? false, state, taskInstances: changed });
        process.stdout.write(`${opts.dryRun ? "would mark" : "marked"} ${changed.length} task instance(s) ${state}\n`);
      });
    });

  tasks
    .command("logs <dag_id> <run_id> <task_id>")
    .description("The log of a try (the latest try by default)")
    .option("--try <n>", "try number")
    .option("-f, --follow", "keep printing new lines until the try ends")
    .option("--json", "print JSON lines")
    .action(async (dagId: string, runId: string, taskId: string, opts: { try?: string; follow?: boolean }, command: Command) => {
      const { config } = loadCliConfig(command);
      const json = isJson(command);
      await withStore(config, async (store) => {
        const run = await requireDagRun(store.db, dagId, runId);
        let ti = await requireTaskInstance(store.db, run, taskId);
        const tryNumber = opts.try === undefined ? ti.try_number : Number(opts.try);
        if (!Number.isInteger(tryNumber) || tryNumber < 0) throw new CliUsageError(`--try ${opts.try} is not a try number`, "try numbers start at 1");
        if (tryNumber > ti.try_number || tryNumber === 0) {
          throw new UpdraftError("UPDRAFT_E_USAGE", ti.try_number === 0 ? `task '${taskId}' has not run yet in run '${runId}' (state ${ti.state})` : `task '${taskId}' has ${ti.try_number} tr${ti.try_number === 1 ? "y" : "ies"}; there is no try ${tryNumber}`);
        }
        let after: number | undefined;
        const print = async () => {
          const lines = await readLogs(store.db, ti.id, tryNumber, after === undefined ? {} : { afterId: after });
          for (const l of lines) {
            after = l.id;
            if (json) process.stdout.write(`${JSON.stringify({ ts: iso(l.ts), stream: l.stream, level: l.level, message: l.message })}\n`);
            else process.stdout.write(`${iso(l.ts)} ${l.stream === "log" ? l.level.toUpperCase() : l.stream} ${l.message}\n`);
          }
        };
        await print();
        while (opts.follow && ti.try_number === tryNumber && ["queued", "running", "scheduled"].includes(ti.state)) {
          await new Promise((r) => setTimeout(r, 300));
          await print();
          ti = await requireTaskInstance(store.db, run, taskId);
        }
        if (opts.follow) await print();
      });
    });

  tasks
    .command("test <dag_id> <task_id> [logical_date]")
    .description("Run one task in a runner, now, without recording any state (for development)")
    .option("--run-id <run_id>", "take upstream outputs (XComs) and conf from this run")
    .option("--input <json>", "the task's input as JSON, instead of upstream outputs")
    .option("--conf <json>", "conf for ctx.conf and ctx.params")
    .option("--json", "print one JSON object with the result")
    .action(async (dagId: string, taskId: string, logicalDate: string | undefined, opts: { runId?: string; input?: string; conf?: string }, command: Command) => {
      const { config } = loadCliConfig(command);
      const json = isJson(command);
      let inputOverride: string | undefined;
      if (opts.input !== undefined) {
        try {
          inputOverride = JSON.stringify(JSON.parse(opts.input));
        } catch (error) {
          throw new CliUsageError(`--input is not valid JSON: ${(error as Error).message}`, `--input '[1, 2, 3]'`);
        }
      }
      const keyring = configuredKeyring(config);
      await withStore(config, async (store) => {
        await processDagsFolder(store, config, silentLogger());
        const { versionId, structure } = await latestStructureOf(store.db, dagId);
        const task = structure.tasks.find((t) => t.taskId === taskId);
        if (!task) throw new UpdraftError("UPDRAFT_E_TASK_NOT_FOUND", `DAG '${dagId}' has no task '${taskId}'`, { hint: `its tasks: ${structure.tasks.map((t) => t.taskId).join(", ")}` });
        const run = opts.runId ? await requireDagRun(store.db, dagId, opts.runId) : null;
        const conf = opts.conf !== undefined ? parseJsonOption(opts.conf, "--conf") : run ? (JSON.parse(run.conf) as Record<string, unknown>) : {};
        const inputs: Record<string, string> = {};
        if (run) for (const x of await readXcoms(store.db, run.id)) if (x.key === "return_value" && task.dataUpstream.includes(x.task_id)) inputs[x.task_id] = x.value;
        const missing = task.dataUpstream.filter((u) => !(u in inputs));
        if (inputOverride === undefined && missing.length > 0) {
          throw new CliUsageError(`task '${taskId}' takes the output of ${missing.map((m) => `'${m}'`).join(", ")}`, run ? `run '${run.run_id}' has no output of them; pass --input JSON` : "pass --run-id of a run where they succeeded, or --input JSON");
        }
        const when = run ? run.logical_date : logicalDate ? parseDate(logicalDate, structure.timezone) : Date.now();
        const interval = run
          ? { start: run.data_interval_start, end: run.data_interval_end }
          : restoreTimetable(structure.schedule, structure.timezone).manualInterval(when, { startDate: structure.startDate, endDate: structure.endDate, catchup: structure.catchup });
        const version = await store.db.selectFrom("dag_version").select("bundle_hash").where("id", "=", versionId).executeTakeFirstOrThrow();
        const executor = createLocalExecutor({ ...config, warmRunners: 0, runners: 1 }, silentLogger());
        const result = await new Promise<TryResult>((resolve, reject) => {
          executor
            .start({
              started: () => {},
              log: (_id, lines) => {
                for (const l of lines) (json ? process.stderr : process.stdout).write(`${l.message}\n`);
              },
              xcomPush: () => {},
              finished: (_id, r) => resolve(r),
              pullXcom: async (_id, upstream, key) =>
                run ? ((await readXcoms(store.db, run.id, upstream)).find((x) => x.key === key)?.value ?? null) : null,
              readVariable: (_id, key) => variableForTask(store.db, keyring, key),
              readConnection: (_id, connId) => connectionForTask(store.db, keyring, connId),
              loadBundle: (hash) => getBundleCode(store.db, hash),
            })
            .then(() =>
              executor.dispatch([
                {
                  tryId: `test.${randomUUID()}`,
                  tiId: 0,
                  dagRunId: run?.id ?? 0,
                  dagId,
                  runId: run?.run_id ?? `test__${new Date(when).toISOString()}`,
                  taskId,
                  tryNumber: 1,
                  maxTries: 1,
                  bundleHash: version.bundle_hash,
                  logicalDate: when,
                  dataIntervalStart: interval.start,
                  dataIntervalEnd: interval.end,
                  ds: formatDs(when, structure.timezone),
                  params: JSON.stringify(resolveParams(structure.params, conf)),
                  conf: JSON.stringify(conf),
                  inputs,
                  ...(inputOverride !== undefined ? { inputOverride } : {}),
                  executionTimeoutMs: task.options.executionTimeoutMs,
                  xcomMaxBytes: config.xcomMaxBytes,
                  queue: task.options.queue,
                },
              ]),
            )
            .catch(reject);
        }).finally(() => executor.stop());
        const output = result.output === undefined ? null : (JSON.parse(result.output) as unknown);
        if (json) printJson({ dagId, taskId, state: result.outcome, output, error: result.error?.message ?? null });
        else process.stdout.write(`\n${taskId}: ${result.outcome}${result.output !== undefined ? `, output ${result.output}` : ""}${result.error ? `\n${result.error.message}` : ""}\n`);
        process.exitCode = result.outcome === "failed" ? 1 : 0;
      });
    });
}
