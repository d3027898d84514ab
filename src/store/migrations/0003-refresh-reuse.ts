import type { Kysely } from "kysely";
import type { MigrationContext } from "./index.js";

/**
 * A session remembers the refresh token it replaced last, so a replayed (stolen and already
 * used) refresh token can be recognised and the whole session revoked.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.alterTable("auth_session").addColumn("prev_refresh_hash", "text").execute();
  await db.schema.createIndex("auth_session_prev_refresh").on("auth_session").column("prev_refresh_hash").execute();
}

export async function down(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.dropIndex("auth_session_prev_refresh").ifExists().execute();
  await db.schema.alterTable("auth_session").dropColumn("prev_refresh_hash").execute();
}
