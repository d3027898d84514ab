/** Jobs: the long-running processes (schedulers, DAG processors) and their heartbeats. */
import { hostname } from "node:os";
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

export type JobKind = "scheduler" | "test" | "dag_processor";

export async function registerJob(db: Kysely<Database>, kind: JobKind): Promise<number> {
  const now = Date.now();
  const row = await db
    .insertInto("job")
    .values({ kind, hostname: hostname(), pid: process.pid, state: "running", started_at: now, heartbeat_at: now })
    .returning("id")
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

/** Records that the job is alive; false when it was declared dead meanwhile (it must fence itself). */
export async function heartbeatJob(db: Kysely<Database>, jobId: number): Promise<boolean> {
  const result = await db.updateTable("job").set({ heartbeat_at: Date.now() }).where("id", "=", jobId).where("state", "=", "running").executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function stopJob(db: Kysely<Database>, jobId: number): Promise<void> {
  await db.updateTable("job").set({ state: "stopped", stopped_at: Date.now() }).where("id", "=", jobId).execute();
}
