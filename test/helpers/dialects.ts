/**
 * The dialects a test suite runs on, as Kysely's `for (const dialect of DIALECTS)`: SQLite always,
 * PostgreSQL when its server answers. Outside CI an unreachable server skips the PostgreSQL cases with
 * a one-line reason; under UPDRAFT_REQUIRE_SERVICES=1 importing this module throws, which fails the file.
 *
 *   describe.each(DIALECTS)("pools (%s)", (dialect) => { ... createTestEnv({ dialect }) ... });
 */
import type { TestDialect } from "./env.js";
import { postgresEnabled } from "./services.js";

export const DIALECTS: readonly TestDialect[] = (await postgresEnabled()) ? ["sqlite", "postgres"] : ["sqlite"];
