import type { Kysely } from "kysely";
import type { MigrationContext } from "./index.js";

/**
 * The event log loses its `ts` index: every tick appends to the log, and on SQLite keeping the
 * index up to date was a page of every commit (one in eleven of a chain task's). Events are
 * appended in time order, so trimming finds its bound by id (see trimEvents).
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.dropIndex("event_ts").ifExists().execute();
}

export async function down(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.createIndex("event_ts").ifNotExists().on("event").columns(["ts"]).execute();
}
