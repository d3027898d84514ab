/**
 * Access to the services tests may use. Outside CI a test whose service is down skips with a
 * one-line reason; with UPDRAFT_REQUIRE_SERVICES=1 (CI) it fails instead.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import pg from "pg";

export const REQUIRE_SERVICES = process.env.UPDRAFT_REQUIRE_SERVICES === "1";
export const PG_BASE_URL = process.env.UPDRAFT_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const REDIS_URL = process.env.UPDRAFT_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

let pgAvailable: Promise<string | null> | null = null;

/** null when PostgreSQL answers, else the reason it does not. */
export function postgresUnavailable(): Promise<string | null> {
  pgAvailable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_BASE_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query("select 1");
      return null;
    } catch (error) {
      return `PostgreSQL at ${PG_BASE_URL} is not reachable: ${(error as Error).message}`;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return pgAvailable;
}

/**
 * Whether PostgreSQL tests run. Under UPDRAFT_REQUIRE_SERVICES=1 an unreachable server throws,
 * which fails the suite; otherwise the reason is printed once and the tests skip.
 */
export async function postgresEnabled(): Promise<boolean> {
  const reason = await postgresUnavailable();
  if (reason === null) return true;
  if (REQUIRE_SERVICES) throw new Error(`${reason} (UPDRAFT_REQUIRE_SERVICES=1)`);
  console.warn(`skipping PostgreSQL tests: ${reason}`);
  return false;
}

let redisAvailable: Promise<string | null> | null = null;

/** null when Redis answers, else the reason it does not. */
export function redisUnavailable(): Promise<string | null> {
  redisAvailable ??= (async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000 });
    client.on("error", () => {});
    try {
      await client.connect();
      await client.ping();
      return null;
    } catch (error) {
      return `Redis at ${REDIS_URL} is not reachable: ${(error as Error).message}`;
    } finally {
      client.disconnect();
    }
  })();
  return redisAvailable;
}

/** Whether Redis tests run (as postgresEnabled: under UPDRAFT_REQUIRE_SERVICES=1 a missing server fails). */
export async function redisEnabled(): Promise<boolean> {
  const reason = await redisUnavailable();
  if (reason === null) return true;
  if (REQUIRE_SERVICES) throw new Error(`${reason} (UPDRAFT_REQUIRE_SERVICES=1)`);
  console.warn(`skipping Redis tests: ${reason}`);
  return false;
}

/** Removes every key under a test's prefix. */
export async function dropRedisPrefix(prefix: string): Promise<void> {
  const client = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      if (keys.length > 0) await client.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    client.disconnect();
  }
}

/** A fresh schema on the test server: its URL and a function that drops it. */
export async function createPgSchema(): Promise<{ url: string; schema: string; drop: () => Promise<void> }> {
  const schema = `t_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  const url = `${PG_BASE_URL}${PG_BASE_URL.includes("?") ? "&" : "?"}schema=${schema}`;
  return {
    url,
    schema,
    drop: async () => {
      const client = new pg.Client({ connectionString: PG_BASE_URL });
      await client.connect();
      try {
        await client.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await client.end();
      }
    },
  };
}

export const CHROMIUM_PATH = process.env.UPDRAFT_CHROMIUM ?? "/usr/bin/chromium";

/**
 * Whether browser tests run: Debian's Chromium must be installed (never a downloaded browser)
 * and the UI built (`npm run build`). Under UPDRAFT_REQUIRE_SERVICES=1 a missing one fails.
 */
export async function browserEnabled(uiIndex: string): Promise<boolean> {
  const { existsSync } = await import("node:fs");
  const reason = !existsSync(CHROMIUM_PATH)
    ? `no browser at ${CHROMIUM_PATH} (apt-get install -y chromium)`
    : !existsSync(uiIndex)
      ? `the web UI is not built (${uiIndex} is missing; run npm run build)`
      : null;
  if (reason === null) return true;
  if (REQUIRE_SERVICES) throw new Error(`${reason} (UPDRAFT_REQUIRE_SERVICES=1)`);
  console.warn(`skipping browser tests: ${reason}`);
  return false;
}
