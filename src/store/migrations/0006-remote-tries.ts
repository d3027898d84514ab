import type { Kysely } from "kysely";
import type { MigrationContext } from "./index.js";

/**
 * Tries that run on remote workers. A try beats through the execution API: its task instance
 * keeps the time of the last beat (null for local tries, whose liveness is their scheduler's job
 * heartbeat), from which the scheduler tells a live try from a zombie; and the hash of the claim
 * its worker started it with, so that only that worker process gets its start answered again.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.alterTable("task_instance").addColumn("heartbeat_at", "bigint").execute();
  await db.schema.alterTable("task_instance").addColumn("claim_hash", "text").execute();
}

export async function down(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.alterTable("task_instance").dropColumn("claim_hash").execute();
  await db.schema.alterTable("task_instance").dropColumn("heartbeat_at").execute();
}
