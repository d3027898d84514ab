/**
 * Tries whose scheduler is gone. A job (a scheduler process) that stops heartbeating, or whose
 * process on this host is gone, is dead: its queued tries go back to scheduled (they never
 * started). Its running tries are zombies, failed (and retried if retries remain), as in Airflow,
 * because their runner may still be running somewhere. Where the runner is certainly dead, the
 * try is handed back without using up a retry, as a scheduler that stops cleanly hands back its
 * own: a runner of this host whose process is gone (runners die with the executor that started
 * them), or that is still there and is killed here first.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { Kysely, UpdateQueryBuilder, UpdateResult } from "kysely";
import type { Database } from "../store/schema.js";
import type { RunCache } from "../scheduler/run-cache.js";
import { decideEnd } from "./retry-rule.js";
import { parseTryId } from "./try-id.js";

const HOST = hostname();

/** Whether a process runs (a zombie, dead and not yet reaped, does not). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/**
 * Whether the runner of a try on `host` with `pid` is certainly not running: it is on this host
 * and its process is gone, or it was a runner (left behind, busy in a synchronous loop when its
 * executor died) and its process group is killed now.
 */
function runnerGone(host: string | null, pid: number | null): boolean {
  if (host !== HOST || pid === process.pid) return false;
  if (pid === null || !pidAlive(pid)) return true;
  let command: string;
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return false; // cannot tell what the process is
  }
  if (!/runner-main\.[jt]s/.test(command)) return true; // the pid was reused by another process
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      return false;
    }
  }
  return true;
}

/** Marks jobs dead that stopped heartbeating, or whose process on this host is gone. */
export async function reapDeadJobs(trx: Kysely<Database>, ownJobId: number, thresholdMs: number, now: number): Promise<number[]> {
  const running = await trx.selectFrom("job").select(["id", "hostname", "pid", "heartbeat_at"]).where("state", "=", "running").where("id", "<>", ownJobId).execute();
  const dead = running.filter((j) => j.heartbeat_at < now - thresholdMs || (j.hostname === HOST && j.pid !== process.pid && !pidAlive(j.pid))).map((j) => j.id);
  if (dead.length > 0) await trx.updateTable("job").set({ state: "dead", stopped_at: now }).where("id", "in", dead).where("state", "=", "running").execute();
  return dead;
}

export interface HandBackResult {
  /** Runs whose task instances changed state. */
  runs: Set<number>;
  /** Task instances that ended (failed) here, for downstream evaluation. */
  ended: Array<{ dagRunId: number; taskId: string; state: "failed" | "up_for_retry" }>;
  nextRetryAt: number | null;
}

/**
 * Hands back the tries of jobs that are not running (orphans), or with `ownJobId` and
 * `interrupted`, this scheduler's own tries at shutdown. Each change is a compare-and-set on the
 * task instance's try id and state, and a history row is written only where it applied: two
 * schedulers handing back one orphan at once leave one history row.
 */
export async function handBackTries(
  trx: Kysely<Database>,
  cache: RunCache,
  options: { ownJobId?: number; interrupted: boolean; now: number; staleHeartbeatBefore?: number; tryIds?: readonly string[] },
): Promise<HandBackResult> {
  const { now } = options;
  let query = trx
    .selectFrom("task_instance as ti")
    .leftJoin("job as j", "j.id", "ti.job_id")
    .select(["ti.id", "ti.dag_run_id", "ti.dag_id", "ti.task_id", "ti.state", "ti.try_id", "ti.try_number", "ti.max_tries", "ti.queued_at", "ti.start_date", "ti.hostname", "ti.pid", "ti.heartbeat_at"])
    .where("ti.state", "in", ["queued", "running"]);
  // A try running on a remote worker beats on its own (heartbeat_at): it lives on without the
  // scheduler that queued it, and is a zombie only when its own beats stop.
  // `tryIds`: the tries a worker that is stopping hands back itself (its own, running ones).
  query = options.tryIds !== undefined
    ? query
        .where("ti.id", "in", [0, ...options.tryIds.flatMap((id) => parseTryId(id)?.tiId ?? [])])
        .where("ti.try_id", "in", ["", ...options.tryIds])
        .where("ti.state", "=", "running")
    : options.ownJobId !== undefined
    ? query.where("ti.job_id", "=", options.ownJobId).where((eb) => eb.or([eb("ti.state", "=", "queued"), eb("ti.heartbeat_at", "is", null)]))
    : query.where((eb) =>
        eb.or([
          eb.and([eb.or([eb("j.id", "is", null), eb("j.state", "<>", "running")]), eb.or([eb("ti.state", "=", "queued"), eb("ti.heartbeat_at", "is", null)])]),
          ...(options.staleHeartbeatBefore !== undefined ? [eb.and([eb("ti.state", "=", "running"), eb("ti.heartbeat_at", "<", options.staleHeartbeatBefore)])] : []),
        ]),
      );
  const orphans = await query.execute();
  const result: HandBackResult = { runs: new Set(), ended: [], nextRetryAt: null };
  if (orphans.length === 0) return result;
  const runs = await cache.runs(trx, orphans.map((o) => o.dag_run_id));
  for (const ti of orphans) {
    // The fence: this try, in the state read, and nothing has changed it since.
    // A remote try's beat that came meanwhile keeps it alive: the beat read is part of the fence.
    const guard = (q: UpdateQueryBuilder<Database, "task_instance", "task_instance", UpdateResult>) =>
      q
        .where("id", "=", ti.id)
        .where("state", "=", ti.state)
        .where("try_id", ti.try_id === null ? "is" : "=", ti.try_id)
        .where("heartbeat_at", ti.heartbeat_at === null ? "is" : "=", ti.heartbeat_at);
    if (ti.state === "queued") {
      // It never started: the try did not happen.
      const changed = await guard(
        trx.updateTable("task_instance").set({ state: "scheduled", try_number: Math.max(0, ti.try_number - 1), try_id: null, job_id: null, queued_at: null, updated_at: now }),
      ).executeTakeFirst();
      if (Number(changed.numUpdatedRows) > 0) result.runs.add(ti.dag_run_id);
      continue;
    }
    const remote = ti.heartbeat_at !== null;
    const interrupted = options.interrupted || (!remote && runnerGone(ti.hostname, ti.pid));
    const message = options.tryIds !== undefined
      ? "the try was interrupted: its worker stopped before the try ended; it runs again without using up a retry"
      : remote && !options.interrupted
      ? `the try's worker (${ti.hostname ?? "unknown host"}) stopped heartbeating (a zombie): its last beat was ${Math.round((now - ti.heartbeat_at!) / 1000)} s ago; the try counts as failed`
      : options.interrupted
        ? "the try was interrupted: the scheduler running it stopped; it runs again without using up a retry"
        : interrupted
          ? "the try was interrupted: its scheduler and runner died (the process is gone); it runs again without using up a retry"
          : "the try's scheduler stopped heartbeating (a zombie); the try counts as failed";
    const task = runs.get(ti.dag_run_id)?.graph.tasks.get(ti.task_id);
    const decision = interrupted ? null : decideEnd("failed", true, ti.try_number, ti.max_tries, task?.options, now);
    const changed = await guard(
      trx
        .updateTable("task_instance")
        .set(
          decision === null
            ? { state: "scheduled", max_tries: ti.max_tries + 1, try_id: null, job_id: null, scheduled_at: now, end_date: null, updated_at: now }
            : { state: decision.state, end_date: now, next_retry_at: decision.nextRetryAt, job_id: null, updated_at: now },
        ),
    ).executeTakeFirst();
    if (Number(changed.numUpdatedRows) === 0) continue; // another process handed it back first
    result.runs.add(ti.dag_run_id);
    await trx
      .insertInto("task_try")
      .values({
        ti_id: ti.id,
        dag_run_id: ti.dag_run_id,
        dag_id: ti.dag_id,
        task_id: ti.task_id,
        try_number: ti.try_number,
        try_id: ti.try_id ?? `orphan.${ti.id}.${ti.try_number}`,
        state: "failed",
        queued_at: ti.queued_at,
        start_date: ti.start_date,
        end_date: now,
        duration_ms: ti.start_date === null ? null : now - ti.start_date,
        hostname: ti.hostname,
        pid: ti.pid,
        error: JSON.stringify({ message, code: interrupted ? "UPDRAFT_E_TRY_INTERRUPTED" : "UPDRAFT_E_ZOMBIE", stack: null, retryable: true }),
      })
      .execute();
    await trx.insertInto("task_log").values({ ti_id: ti.id, try_number: ti.try_number, ts: now, stream: "log", level: "error", message }).execute();
    if (decision === null) continue;
    const state = decision.state as "failed" | "up_for_retry";
    result.ended.push({ dagRunId: ti.dag_run_id, taskId: ti.task_id, state });
    if (decision.nextRetryAt !== null && (result.nextRetryAt === null || decision.nextRetryAt < result.nextRetryAt)) result.nextRetryAt = decision.nextRetryAt;
  }
  return result;
}
