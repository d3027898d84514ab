/**
 * Opens the metadata database: SQLite through better-sqlite3 (the embedded default) or
 * PostgreSQL through pg, both behind Kysely. See docs/ARCHITECTURE.md, "Store".
 */
import { chmodSync, existsSync, mkdirSync, statfsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, sql, type DatabaseIntrospector, type TableMetadata } from "kysely";
import type pg from "pg";
import { UpdraftError } from "../errors/index.js";
import { redactUrl } from "../util/redact.js";
import type { Logger } from "../util/logger.js";
import { bindAtCommit, bindPgClient, bindSqliteConnection } from "./sql.js";
import type { Database } from "./schema.js";
import { StorageState } from "./storage.js";

export type Dialect = "sqlite" | "postgres";

export interface StoreOptions {
  /** "sqlite:///abs/path.db", "sqlite:relative.db", a plain file path, or "postgres://…[?schema=name]". */
  url: string;
  /** SQLite durability: NORMAL (default; survives a process crash) or FULL (survives power loss). */
  sqliteSynchronous?: "NORMAL" | "FULL";
  /** Largest number of PostgreSQL connections this process opens. */
  poolSize?: number;
  /** Where the store reports a full disk and the errors of its own timers. */
  log?: Logger;
}

export interface ParsedUrl {
  dialect: Dialect;
  /** SQLite: the file path; PostgreSQL: the connection string without our own parameters. */
  target: string;
  schema: string | null;
}

export function parseDatabaseUrl(url: string): ParsedUrl {
  if (/^postgres(ql)?:\/\//.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UpdraftError("UPDRAFT_E_DATABASE_URL", "the PostgreSQL URL is not valid", { hint: "postgres://user:password@host:5432/database[?schema=name]" });
    }
    const schema = parsed.searchParams.get("schema");
    if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new UpdraftError("UPDRAFT_E_DATABASE_URL", `schema '${schema}' is not a plain lower-case identifier`, { hint: "use letters, digits and _" });
    }
    parsed.searchParams.delete("schema");
    return { dialect: "postgres", target: parsed.toString(), schema };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !url.startsWith("sqlite:")) {
    throw new UpdraftError("UPDRAFT_E_DATABASE_URL", `unsupported database URL scheme in '${redactUrl(url)}'`, {
      hint: "use sqlite:///path/to/updraft.db or postgres://user@host/db",
    });
  }
  const path = url.replace(/^sqlite:(\/\/)?/, "");
  if (path === "" ) throw new UpdraftError("UPDRAFT_E_DATABASE_URL", "the SQLite URL names no file", { hint: "sqlite:///path/to/updraft.db" });
  return { dialect: "sqlite", target: path === ":memory:" ? path : resolve(path), schema: null };
}

export { redactUrl };

export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** PostgreSQL: the schema Updraft's tables live in ("public" unless the URL names one). */
  readonly schema: string | null;
  /** Runs `fn` in one transaction on one connection; SQLite takes the write lock up front. */
  transaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Tells other processes that state changed (scheduler wake-up). */
  notify(): Promise<void>;
  /**
   * PostgreSQL: the channel that says "events were appended" (appendEvents notifies on it inside
   * the transaction); null on SQLite.
   */
  readonly eventChannel: string | null;
  /** After committing events in this process: wakes this process's event listeners (SQLite). */
  eventsAppended(): void;
  /** Calls `listener` when events may have been appended (by any process). */
  onEvents(listener: () => void): () => void;
  /** Calls `listener` when another process reports a change; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
  /**
   * Whether the disk under the database is full (noticed on a failed write, cleared by a probe
   * write that succeeds); transactions note their errors here themselves.
   */
  readonly storage: StorageState;
  close(): Promise<void>;
}

function freeBytesAt(dir: string): number | null {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

/** The probe of StorageState: one small real write. */
async function probeWrite(db: Kysely<Database>): Promise<void> {
  const value = String(Date.now());
  await db.insertInto("updraft_meta").values({ key: "storage_probe", value }).onConflict((oc) => oc.column("key").doUpdateSet({ value })).execute();
}

export async function openStore(options: StoreOptions): Promise<Store> {
  const parsed = parseDatabaseUrl(options.url);
  return parsed.dialect === "sqlite" ? openSqlite(parsed.target, options) : openPostgres(parsed, options);
}

// ---- SQLite ----------------------------------------------------------------------------------

function openSqlite(file: string, options: StoreOptions): Store {
  const fresh = file !== ":memory:" && !existsSync(file);
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  let raw: BetterSqlite3.Database;
  try {
    raw = new BetterSqlite3(file);
    // It holds password hashes and encrypted secrets: readable by its owner only.
    if (fresh) chmodSync(file, 0o600);
  } catch (error) {
    throw new UpdraftError("UPDRAFT_E_DATABASE", `cannot open SQLite database ${file}: ${(error as Error).message}`, {
      hint: "check that the directory exists and is writable",
    });
  }
  // The busy timeout first: switching a fresh file to WAL needs its lock, which another process
  // starting at the same moment may hold.
  raw.pragma("busy_timeout = 10000");
  raw.pragma("journal_mode = WAL");
  raw.pragma(`synchronous = ${options.sqliteSynchronous === "FULL" ? "FULL" : "NORMAL"}`);
  raw.pragma("foreign_keys = ON");
  // Checkpoints run on a timer below instead of in the middle of a scheduling burst.
  raw.pragma("wal_autocheckpoint = 10000");

  // Kysely prepares every query it runs; preparing is most of the cost of a small query, so
  // statements are cached by their SQL text (the hot path runs the same few dozen shapes).
  const cache = new Map<string, BetterSqlite3.Statement>();
  const database = {
    prepare(text: string) {
      let stmt = cache.get(text);
      if (!stmt) {
        stmt = raw.prepare(text);
        if (cache.size > 2000) cache.clear();
        cache.set(text, stmt);
      }
      return stmt;
    },
    close() {
      raw.close();
    },
  };
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });

  const storage = new StorageState({
    probe: () => probeWrite(db),
    // The probe alone would pass while a few pages are free and the next tick fails again.
    ...(file === ":memory:" ? {} : { freeBytes: () => freeBytesAt(dirname(file)), minFreeBytes: 1024 * 1024 }),
    where: `the SQLite database ${file}`,
    log: options.log ?? null,
  });
  const listeners = new Set<() => void>();
  const eventListeners = new Set<() => void>();
  let dataVersion = raw.pragma("data_version", { simple: true }) as number;
  // The timers below run beside everything else: an error of theirs (a full disk, an I/O error)
  // is reported, never thrown out of the timer, which would end the process.
  // A failure that repeats is logged once a minute.
  const guarded = (what: string, fn: () => void) => {
    let loggedAt = -Infinity;
    return () => {
      try {
        fn();
      } catch (error) {
        if (storage.note(error) || Date.now() - loggedAt < 60_000) return;
        loggedAt = Date.now();
        options.log?.warn({ err: error }, `SQLite ${what} failed`);
      }
    };
  };
  // Another process's commit changes data_version; it may carry state changes and events.
  const poll = setInterval(guarded("change poll", () => {
    if ((listeners.size === 0 && eventListeners.size === 0) || !raw.open) return;
    const now = raw.pragma("data_version", { simple: true }) as number;
    if (now !== dataVersion) {
      dataVersion = now;
      for (const l of listeners) l();
      for (const l of eventListeners) l();
    }
  }), 10);
  poll.unref();
  let ticks = 0;
  const checkpoint = setInterval(guarded("WAL checkpoint", () => {
    if (!raw.open || raw.inTransaction) return;
    raw.pragma("wal_checkpoint(PASSIVE)");
    // Keeps the planner's statistics fresh as tables grow (cheap when nothing changed).
    if (++ticks % 120 === 0) raw.pragma("optimize");
  }), 5_000);
  checkpoint.unref();

  return {
    db,
    dialect: "sqlite",
    schema: null,
    eventChannel: null,
    eventsAppended: () => {
      for (const l of eventListeners) l();
    },
    onEvents(listener) {
      eventListeners.add(listener);
      return () => eventListeners.delete(listener);
    },
    storage,
    // The connection is this transaction's while it runs (Kysely queues every other query), so
    // its statements, begin and commit included, may go to it directly.
    transaction: (fn) =>
      db.connection().execute(async (conn) => {
        bindSqliteConnection(conn, database);
        const writes: Array<Promise<unknown>> = [];
        bindAtCommit(conn, writes);
        database.prepare("begin immediate").run();
        try {
          const result = await fn(conn);
          await Promise.all(writes);
          database.prepare("commit").run();
          return result;
        } catch (error) {
          storage.note(error);
          if (raw.inTransaction) database.prepare("rollback").run();
          throw error;
        } finally {
          bindAtCommit(conn, null);
        }
      }),
    // Other processes see a change through data_version; listeners in this process are told here.
    notify: async () => {
      for (const l of listeners) l();
      for (const l of eventListeners) l();
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      clearInterval(poll);
      clearInterval(checkpoint);
      storage.close();
      await db.destroy();
    },
  };
}

// ---- PostgreSQL ------------------------------------------------------------------------------

/**
 * Kysely's introspection (used by its Migrator) lists the tables of every schema in the
 * database; another schema dropped meanwhile makes that query fail, and a table of the same name
 * elsewhere fools it. Updraft looks only at its own schema.
 */
class SchemaScopedPostgresDialect extends PostgresDialect {
  readonly #schema: string;

  constructor(config: ConstructorParameters<typeof PostgresDialect>[0], schema: string) {
    super(config);
    this.#schema = schema;
  }

  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    const schema = this.#schema;
    const getTables = async (): Promise<TableMetadata[]> => {
      const rows = await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = ${schema}`.execute(db);
      return rows.rows.map((r) => ({ name: r.name, schema, isView: false, columns: [] }));
    };
    return {
      getSchemas: async () => {
        const rows = await sql<{ name: string }>`select schema_name as name from information_schema.schemata where schema_name = ${schema}`.execute(db);
        return rows.rows;
      },
      getTables,
      getMetadata: async () => ({ tables: await getTables() }),
    };
  }
}

const INT8_OID = 20;

async function openPostgres(parsed: ParsedUrl, options: StoreOptions): Promise<Store> {
  // Loaded here: SQLite installations (and commands that open no store) never pay for it.
  const { default: pg } = await import("pg");
  // Ids and epoch-millisecond times are int8; they fit a JS number, so read them as numbers.
  const types = {
    getTypeParser: ((oid: number, format?: "text" | "binary") =>
      oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
  };
  const schemaOption = parsed.schema ? { options: `-c search_path=${parsed.schema}` } : {};
  // Pipelined clients: a query is sent without waiting for the answer to the one before (see transaction()).
  const pool = new pg.Pool({ connectionString: parsed.target, max: options.poolSize ?? 10, types, pipeline: true, ...schemaOption });
  pool.on("error", () => {}); // an idle client's error is reported on its next use
  const channel = `updraft_${parsed.schema ?? "public"}`;
  try {
    const client = await pool.connect();
    try {
      // Two processes creating the schema at once: one of them gets a unique violation.
      if (parsed.schema) await client.query(`create schema if not exists "${parsed.schema}"`).catch((error: { code?: string }) => {
        if (error.code !== "23505" && error.code !== "42P06") throw error;
      });
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end();
    throw new UpdraftError("UPDRAFT_E_DATABASE", `cannot connect to PostgreSQL at ${redactUrl(parsed.target)}: ${(error as Error).message}`, {
      hint: "check UPDRAFT_DATABASE_URL and that the server is running",
    });
  }
  const db = new Kysely<Database>({ dialect: new SchemaScopedPostgresDialect({ pool }, parsed.schema ?? "public") });
  const storage = new StorageState({ probe: () => probeWrite(db), where: `the PostgreSQL server ${redactUrl(parsed.target)}`, log: options.log ?? null });

  // Two channels: state changes (schedulers wake up) and appended events (API servers tail them),
  // so that a scheduler's own ticks do not wake every scheduler.
  const eventChannel = `${channel}_events`;
  const listeners = new Set<() => void>();
  const eventListeners = new Set<() => void>();
  let listenClient: Promise<pg.PoolClient> | null = null;
  const listen = () => {
    listenClient ??= (async () => {
      const client = await pool.connect();
      client.on("notification", (n) => {
        for (const l of n.channel === eventChannel ? eventListeners : listeners) l();
      });
      await client.query(`listen "${channel}"`);
      await client.query(`listen "${eventChannel}"`);
      return client;
    })();
    listenClient.catch(() => {
      listenClient = null;
    });
  };

  // A transaction holds one pg client; its Kysely instance (one per client, kept) sends every
  // query to that client, and hot statements go to it as prepared statements (see sql.ts).
  const scoped = new WeakMap<pg.PoolClient, Kysely<Database>>();
  const kyselyFor = (client: pg.PoolClient): Kysely<Database> => {
    let trx = scoped.get(client);
    if (!trx) {
      const connection = { query: client.query.bind(client), release: () => {} } as unknown as pg.PoolClient;
      trx = new Kysely<Database>({ dialect: new PostgresDialect({ pool: { connect: async () => connection, end: async () => {} } as unknown as pg.Pool }) });
      bindPgClient(trx, client);
      scoped.set(client, trx);
    }
    return trx;
  };

  return {
    db,
    dialect: "postgres",
    schema: parsed.schema ?? "public",
    eventChannel,
    eventsAppended: () => {},
    storage,
    onEvents(listener) {
      eventListeners.add(listener);
      listen();
      return () => eventListeners.delete(listener);
    },
    async transaction(fn) {
      const client = await pool.connect();
      const trx = kyselyFor(client);
      const writes: Array<Promise<unknown>> = [];
      bindAtCommit(trx, writes);
      let broken = false;
      try {
        // The client pipelines: "begin" goes out with the first statement, and the writes left
        // for the commit (execAtCommit: the tick's events) with the COMMIT; two round trips fewer.
        const begun = client.query("begin");
        begun.catch(() => {}); // the statements behind it fail too, and say so
        const result = await fn(trx);
        const commit = client.query("commit");
        commit.catch(() => {});
        await begun;
        await Promise.all(writes);
        // After a failed statement the server answers COMMIT with ROLLBACK.
        const done = await commit;
        if (done.command !== "COMMIT") throw new Error(`the transaction was rolled back (the server answered ${done.command} to COMMIT)`);
        return result;
      } catch (error) {
        storage.note(error);
        await client.query("rollback").catch(() => {
          broken = true;
        });
        throw error;
      } finally {
        bindAtCommit(trx, null);
        client.release(broken);
      }
    },
    notify: async () => {
      await sql`select pg_notify(${channel}, '')`.execute(db);
    },
    onChange(listener) {
      listeners.add(listener);
      listen();
      return () => listeners.delete(listener);
    },
    async close() {
      storage.close();
      if (listenClient) {
        const client = await listenClient.catch(() => null);
        client?.release(true);
        listenClient = null;
      }
      await db.destroy();
    },
  };
}
