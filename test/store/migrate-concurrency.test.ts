/**
 * Several processes starting at once on a fresh database race the migrations. One migrates; the
 * others wait for it and then go on: standalone with CLI commands on SQLite, several connections
 * on PostgreSQL. (Several SQLite processes migrating at the same moment: multiprocess.test.ts.)
 */
import { afterEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/store/connect.js";
import { migrate } from "../../src/store/migrate.js";
import { MIGRATION_NAMES } from "../../src/store/migrations/index.js";
import { CLI_TEST_TIMEOUT_MS, createCliEnv, type CliEnv } from "../cli/cli.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createPgSchema } from "../helpers/services.js";
import { startStandaloneProcess, type StandaloneProcess } from "../helpers/standalone.js";

let cli: CliEnv | undefined;
let standalone: StandaloneProcess | undefined;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await standalone?.stop();
  standalone = undefined;
  cli?.cleanup();
  cli = undefined;
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function appliedMigrations(url: string): Promise<string[]> {
  const store = await openStore({ url });
  try {
    const rows = await store.db.selectFrom("updraft_migration" as never).select("name" as never).execute();
    return (rows as Array<{ name: string }>).map((r) => r.name).sort();
  } finally {
    await store.close();
  }
}

describe("migrations started at the same time", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("sqlite: a CLI command run while standalone starts on a fresh home works, and so does standalone", async () => {
    cli = createCliEnv();
    const starting = startStandaloneProcess({ home: cli.home, dagsFolder: cli.dagsFolder });
    const listed = await Promise.all([cli.run(["dags", "list", "--json"]), cli.run(["pools", "list", "--json"])]);
    standalone = await starting;
    for (const r of listed) {
      expect(r.stderr).not.toMatch(/locked|already exists/);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(standalone.child.exitCode).toBeNull();
    expect((await standalone.api("GET", "/health")).status).toBe(200);
  });

  it.runIf(DIALECTS.includes("postgres"))("postgres: three stores migrating a fresh schema at once all succeed", async () => {
    const schema = await createPgSchema();
    const stores: Store[] = [];
    cleanups.push(async () => {
      for (const s of stores) await s.close();
      await schema.drop();
    });
    // Opened at once too: each creates the schema if it is missing.
    stores.push(...(await Promise.all([1, 2, 3].map(() => openStore({ url: schema.url })))));
    const results = await Promise.all(stores.map((s) => migrate(s)));
    expect(results.flatMap((r) => r.applied).sort()).toEqual([...MIGRATION_NAMES].sort());
    expect(await appliedMigrations(schema.url)).toEqual([...MIGRATION_NAMES].sort());
  });
});
