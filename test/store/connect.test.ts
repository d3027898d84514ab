import { join, resolve } from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { openStore, parseDatabaseUrl, redactUrl } from "../../src/store/connect.js";
import { listDags } from "../../src/store/dags.js";
import { migrate, resetDatabase } from "../../src/store/migrate.js";
import { listPools, setPool } from "../../src/store/pools.js";
import { execAtCommit, statement } from "../../src/store/sql.js";
import { appendEvents, eventsAfter, lastEventId, trimEvents } from "../../src/store/events.js";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { createPgSchema, PG_BASE_URL } from "../helpers/services.js";
import { DIALECTS } from "../helpers/dialects.js";
import { countRows, envFactory, expectCode, recordFile, simpleDag } from "./fixtures.js";

describe("parseDatabaseUrl and redactUrl", () => {
  it("reads the SQLite forms: sqlite:///absolute, sqlite:relative, a plain path, :memory:", () => {
    expect(parseDatabaseUrl("sqlite:///var/lib/updraft/u.db")).toEqual({ dialect: "sqlite", target: "/var/lib/updraft/u.db", schema: null });
    expect(parseDatabaseUrl("sqlite:data/u.db")).toEqual({ dialect: "sqlite", target: resolve("data/u.db"), schema: null });
    expect(parseDatabaseUrl("data/u.db")).toEqual({ dialect: "sqlite", target: resolve("data/u.db"), schema: null });
    expect(parseDatabaseUrl("/tmp/x/u.db")).toEqual({ dialect: "sqlite", target: "/tmp/x/u.db", schema: null });
    expect(parseDatabaseUrl("sqlite::memory:")).toEqual({ dialect: "sqlite", target: ":memory:", schema: null });
  });

  it("reads PostgreSQL URLs and takes ?schema= out of the connection string", () => {
    expect(parseDatabaseUrl("postgres://u:pw@db.example:5432/upd?schema=team_a")).toEqual({
      dialect: "postgres",
      target: "postgres://u:pw@db.example:5432/upd",
      schema: "team_a",
    });
    const other = parseDatabaseUrl("postgresql://u@h/upd?sslmode=disable&schema=s1");
    expect(other.dialect).toBe("postgres");
    expect(other.schema).toBe("s1");
    expect(other.target).toContain("sslmode=disable");
    expect(other.target).not.toContain("schema=");
    expect(parseDatabaseUrl("postgres://u@h/upd").schema).toBeNull();
  });

  it("rejects other schemes, empty SQLite URLs and schemas that are not plain identifiers", async () => {
    const mysql = await expectCode(() => parseDatabaseUrl("mysql://root:hunter2@localhost/db"), "UPDRAFT_E_DATABASE_URL");
    expect(mysql.message).not.toContain("hunter2");
    expect(mysql.hint).toMatch(/sqlite|postgres/);
    await expectCode(() => parseDatabaseUrl("sqlite:"), "UPDRAFT_E_DATABASE_URL");
    await expectCode(() => parseDatabaseUrl("postgres://u@h/db?schema=Bad-Name"), "UPDRAFT_E_DATABASE_URL");
    await expectCode(() => parseDatabaseUrl("postgres://u@h/db?schema=x;drop"), "UPDRAFT_E_DATABASE_URL");
  });

  it("redactUrl hides passwords and leaves URLs without one alone", () => {
    expect(redactUrl("postgres://alice:s3cret@db:5432/upd?schema=x")).toBe("postgres://alice:***@db:5432/upd?schema=x");
    expect(redactUrl("postgres://alice@db/upd")).toBe("postgres://alice@db/upd");
    expect(redactUrl("sqlite:///tmp/u.db")).toBe("sqlite:///tmp/u.db");
    expect(redactUrl("postgres://alice:p%40ss:word@db/upd")).not.toContain("word");
  });
});

describe.each(DIALECTS)("connecting and migrating (%s)", (dialect) => {
  const makeEnv = envFactory(dialect);

  // On PostgreSQL the env's own schema already holds Updraft's tables: migrating another, fresh
  // schema of the same database must still create its own migration tables.
  it("migrates a fresh database once; running migrate again applies nothing", async () => {
    const env = await makeEnv();
    const pg = dialect === "postgres" ? await createPgSchema() : null;
    const store = await openStore({ url: pg ? pg.url : `sqlite://${join(env.home, "fresh.db")}` });
    try {
      expect(store.dialect).toBe(dialect);
      expect(store.schema).toBe(pg ? pg.schema : null);
      const first = await migrate(store);
      expect(first.applied).toEqual(["0001-initial", "0002-api", "0003-refresh-reuse", "0004-import-warnings", "0005-event-ts-index", "0006-remote-tries"]);
      const second = await migrate(store);
      expect(second.applied).toEqual([]);
      expect(await listPools(store.db)).toMatchObject([{ name: "default_pool", slots: 128 }]);
    } finally {
      await store.close();
      await pg?.drop();
    }
    // The env's own store was migrated by createTestEnv: nothing left to apply.
    expect((await migrate(env.store)).applied).toEqual([]);
  });

  it("resetDatabase empties every table and leaves a migrated schema with default_pool", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "a.ts", [simpleDag("a.ts", "a", ["t1", "t2"])]);
    await triggerDagRun(env.store, "a");
    await setPool(env.store.db, "etl", 3, null);
    await setPool(env.store.db, "default_pool", 7, "changed");
    expect(await countRows(env.store, "task_instance")).toBe(2);

    await resetDatabase(env.store);

    for (const table of ["dag", "dag_version", "dag_bundle", "dag_run", "task_instance", "import_error"] as const) {
      expect(await countRows(env.store, table), table).toBe(0);
    }
    expect(await listPools(env.store.db)).toEqual([
      { name: "default_pool", slots: 128, description: "Default pool", include_deferred: 0, queued: 0, running: 0, occupied: 0 },
    ]);
    expect((await migrate(env.store)).applied).toEqual([]);
    // Still usable afterwards.
    await recordFile(env.store, "a.ts", [simpleDag("a.ts", "a")]);
    expect((await listDags(env.store.db)).map((d) => d.dag_id)).toEqual(["a"]);
  });

  if (dialect === "postgres") {
    it("keeps stores on different ?schema= apart", async () => {
      const one = await makeEnv();
      const two = await makeEnv();
      const schemaOne = parseDatabaseUrl(one.config.databaseUrl).schema;
      const schemaTwo = parseDatabaseUrl(two.config.databaseUrl).schema;
      expect(schemaOne).not.toBeNull();
      expect(schemaOne).not.toBe(schemaTwo);

      await recordFile(one.store, "one.ts", [simpleDag("one.ts", "shared_id", ["from_one"])]);
      expect(await listDags(two.store.db)).toEqual([]);
      await recordFile(two.store, "two.ts", [simpleDag("two.ts", "shared_id", ["from_two"])]);
      await triggerDagRun(two.store, "shared_id");

      expect((await listDags(one.store.db)).map((d) => [d.dag_id, d.fileloc])).toEqual([["shared_id", "one.ts"]]);
      expect((await listDags(two.store.db)).map((d) => [d.dag_id, d.fileloc])).toEqual([["shared_id", "two.ts"]]);
      expect(await countRows(one.store, "dag_run")).toBe(0);
      expect(await countRows(two.store, "dag_run")).toBe(1);

      // The tables live in the named schema itself.
      const tables = await one.store.db
        .selectFrom("information_schema.tables" as never)
        .select("table_name" as never)
        .where("table_schema" as never, "=", schemaOne as never)
        .execute();
      expect((tables as Array<{ table_name: string }>).map((t) => t.table_name)).toEqual(expect.arrayContaining(["dag", "dag_run", "task_instance", "pool"]));
    });

    // Kysely's Migrator looks for its tables with an introspection query over every schema of the
    // database; when another schema is dropped while that query runs, it fails with "schema … does
    // not exist" / "relation ….dag does not exist" (seen when test files run in parallel).
    it("migrates while other schemas of the same database are being created and dropped", async () => {
      // Two connections create and drop small schemas of their own, as parallel test files (or
      // other Updraft installations sharing the database) do.
      const tag = (await createPgSchema()).schema;
      let stop = false;
      const churn = async (k: number) => {
        const client = new pg.Client({ connectionString: PG_BASE_URL });
        await client.connect();
        try {
          for (let n = 0; !stop; n++) {
            const name = `${tag}_c${k}_${n}`;
            await client.query(`create schema ${name}; create table ${name}.t (id serial primary key, a integer)`);
            await client.query(`drop schema ${name} cascade`);
          }
        } finally {
          await client.end();
        }
      };
      const churners = [churn(1), churn(2)];
      const failures: string[] = [];
      try {
        for (let i = 0; i < 8; i++) {
          const mine = await createPgSchema();
          const store = await openStore({ url: mine.url });
          try {
            expect((await migrate(store)).applied).toEqual(["0001-initial", "0002-api", "0003-refresh-reuse", "0004-import-warnings", "0005-event-ts-index", "0006-remote-tries"]);
          } catch (error) {
            failures.push((error as Error).message);
          } finally {
            await store.close();
            await mine.drop();
          }
        }
      } finally {
        stop = true;
        await Promise.all(churners);
      }
      expect(failures).toEqual([]);
    });

    it("reports an unreachable server as UPDRAFT_E_DATABASE without the password", async () => {
      const error = await expectCode(openStore({ url: "postgres://someone:topsecret@127.0.0.1:1/nothing" }), "UPDRAFT_E_DATABASE");
      expect(error.message).not.toContain("topsecret");
      expect(error.message).toContain("127.0.0.1:1");
    });
  }
});

describe.each(DIALECTS)("writes left for the commit (%s)", (dialect) => {
  const makeEnv = envFactory(dialect);
  const INSERT_POOL = statement(() => "insert into pool (name, slots) values (?, ?)");

  it("are stored with the transaction; one that fails rolls back the whole transaction, the statements before it included", async () => {
    const env = await makeEnv();
    const { store } = env;
    const ctx = (db: typeof store.db) => ({ db, dialect: store.dialect });
    await store.transaction(async (trx) => {
      await trx.insertInto("pool").values({ name: "before", slots: 1, include_deferred: 0 }).execute();
      await execAtCommit(ctx(trx), INSERT_POOL, ["left_for_commit", 2]);
    });
    expect((await listPools(store.db)).map((p) => [p.name, p.slots]).filter(([n]) => n !== "default_pool")).toEqual([["before", 1], ["left_for_commit", 2]]);

    // The second write left for the commit breaks the primary key: nothing of this transaction stays.
    await expect(
      store.transaction(async (trx) => {
        await trx.insertInto("pool").values({ name: "lost", slots: 3, include_deferred: 0 }).execute();
        await execAtCommit(ctx(trx), INSERT_POOL, ["also_lost", 4]);
        await execAtCommit(ctx(trx), INSERT_POOL, ["before", 5]);
      }),
    ).rejects.toThrow(/unique|duplicate|primary key/i);
    expect((await listPools(store.db)).map((p) => p.name).sort()).toEqual(["before", "default_pool", "left_for_commit"]);

    // Outside a store transaction it runs (and is awaited) at once.
    await execAtCommit(ctx(store.db), INSERT_POOL, ["direct", 6]);
    expect((await listPools(store.db)).map((p) => p.name)).toContain("direct");
  });
});

describe.each(DIALECTS)("trimming the event log (%s)", (dialect) => {
  const makeEnv = envFactory(dialect);

  it("removes the events older than the bound and keeps the others; ids go on growing once all are trimmed", async () => {
    const { store } = await makeEnv();
    const ctx = { db: store.db, dialect: store.dialect };
    const event = (n: number) => ({ kind: "dag-updated" as const, dag_id: `d${n}` });
    const before = await lastEventId(store.db);
    for (const ts of [1_000, 2_000, 3_000, 4_000]) await appendEvents(ctx, [event(ts), event(ts + 1)], ts, null);
    const tsOf = async () => (await eventsAfter(store.db, before)).map((e) => Number(e.ts));
    expect(await tsOf()).toEqual([1_000, 1_000, 2_000, 2_000, 3_000, 3_000, 4_000, 4_000]);
    await trimEvents(store.db, 2_500);
    expect(await tsOf()).toEqual([3_000, 3_000, 4_000, 4_000]);
    const last = await lastEventId(store.db);
    await trimEvents(store.db, 10_000);
    expect(await tsOf()).toEqual([]);
    await appendEvents(ctx, [event(5_000)], 5_000, null);
    const after = await eventsAfter(store.db, before);
    expect(after.map((e) => Number(e.ts))).toEqual([5_000]);
    expect(Number(after[0]!.id)).toBeGreaterThan(last);
  });
});
