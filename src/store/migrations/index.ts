/** The one migration set, shared by both dialects. Append new migrations; never edit a released one. */
import type { Kysely, Migration, MigrationProvider } from "kysely";
import * as m0001 from "./0001-initial.js";
import * as m0002 from "./0002-api.js";
import * as m0003 from "./0003-refresh-reuse.js";
import * as m0004 from "./0004-import-warnings.js";
import * as m0005 from "./0005-event-ts-index.js";
import * as m0006 from "./0006-remote-tries.js";

export interface MigrationContext {
  dialect: "sqlite" | "postgres";
}

interface MigrationModule {
  up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void>;
  down(db: Kysely<unknown>, ctx: MigrationContext): Promise<void>;
}

const MIGRATIONS: Record<string, MigrationModule> = {
  "0001-initial": m0001,
  "0002-api": m0002,
  "0003-refresh-reuse": m0003,
  "0004-import-warnings": m0004,
  "0005-event-ts-index": m0005,
  "0006-remote-tries": m0006,
};

export const MIGRATION_NAMES: readonly string[] = Object.keys(MIGRATIONS);

export function migrationProvider(ctx: MigrationContext): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      return Object.fromEntries(
        Object.entries(MIGRATIONS).map(([name, m]) => [name, { up: (db: Kysely<unknown>) => m.up(db, ctx), down: (db: Kysely<unknown>) => m.down(db, ctx) }]),
      );
    },
  };
}
