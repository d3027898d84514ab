import type { Kysely } from "kysely";
import type { MigrationContext } from "./index.js";

/**
 * A try that runs on a remote worker beats through the execution API: its task instance keeps
 * the time of the last beat (null for local tries, whose liveness is their scheduler's job
 * heartbeat), from which the scheduler tells a live try from a zombie.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.alterTable("task_instance").addColumn("heartbeat_at", "bigint").execute();
}

export async function down(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.alterTable("task_instance").dropColumn("heartbeat_at").execute();
}
