/**
 * Hot-path SQL: statements written once per dialect, compiled never again. Building a query
 * with Kysely costs ~0.1 ms (more than running it on SQLite), so the scheduler's per-tick
 * statements are fixed texts executed through Kysely's connection (and its transactions).
 *
 * Lists and row sets travel as one parameter each, so a statement's text does not depend on how
 * many rows it touches and SQLite can reuse its prepared statement: JSON arrays through json_each()
 * on SQLite; arrays, and objects through jsonb_to_recordset(), on PostgreSQL.
 */
import type BetterSqlite3 from "better-sqlite3";
import { CompiledQuery, type Kysely } from "kysely";
import type pg from "pg";
import type { Dialect } from "./connect.js";
import type { Database } from "./schema.js";

export interface SqlContext {
  db: Kysely<Database>;
  dialect: Dialect;
}

export type ColumnType = "bigint" | "integer" | "text";
export type Columns = ReadonlyArray<readonly [name: string, type: ColumnType]>;

/**
 * What a dialect can do and how it says it (Kysely's adapter idea, for the hot statements): code
 * asks for a capability or a phrase, never which database it talks to.
 */
export interface DialectSql {
  dialect: Dialect;
  /** `<expr> IN <list parameter>`: write `${d.inList}` after the expression. */
  inList: string;
  /** A FROM item named `v` with the given columns, from one JSON parameter made by `rows()`. */
  rows(columns: Columns): string;
  /**
   * `update <table> set <set> where id <in the list parameter> and <guard>` as the dialect runs it
   * best (SQLite: a join with the list, which updates in one pass; an IN subquery took twice as long).
   */
  updateIdIn(table: string, set: string, guard: string): string;
  /** After `from <table>`: make the planner walk this index (SQLite's INDEXED BY; nothing elsewhere). */
  indexedBy(index: string): string;
  /** After a SELECT that claims rows: lock them, skipping rows another transaction holds (empty where a writer is alone). */
  claimRows: string;
  /** `greatest`/`max` of two values. */
  greatest: string;
  /** Data-modifying statements in WITH: several writes in one round trip. */
  writableCte: boolean;
  /**
   * Statements go out without waiting for the answer to the one before (a pipelining client):
   * a read that may turn out not to be needed costs less than the round trip it saves.
   */
  pipelines: boolean;
  /** Table statistics go stale after bulk inserts and must be refreshed for good plans. */
  analyzeAfterBulkInsert: boolean;
}

const SQLITE: DialectSql = {
  dialect: "sqlite",
  inList: "in (select value from json_each(?))",
  // Arrays, not objects: a value is found by its place, not by a key (a third cheaper per row).
  rows: (columns) => `(select ${columns.map(([name], i) => `value->>${i} as ${name}`).join(", ")} from json_each(?)) as v`,
  updateIdIn: (table, set, guard) => `update ${table} set ${set} from (select value as listed_id from json_each(?)) as ids where ${table}.id = ids.listed_id and ${guard}`,
  indexedBy: (index) => ` indexed by ${index}`,
  claimRows: "",
  greatest: "max",
  writableCte: false,
  pipelines: false,
  analyzeAfterBulkInsert: false,
};

const POSTGRES: DialectSql = {
  dialect: "postgres",
  inList: "= any(?)",
  rows: (columns) => `jsonb_to_recordset(?::jsonb) as v(${columns.map(([name, type]) => `${name} ${type}`).join(", ")})`,
  updateIdIn: (table, set, guard) => `update ${table} set ${set} where id = any(?) and ${guard}`,
  indexedBy: () => "",
  claimRows: " for update skip locked",
  greatest: "greatest",
  writableCte: true,
  pipelines: true,
  analyzeAfterBulkInsert: true,
};

/** The capabilities of a context's dialect. */
export function dialectSql(ctx: Pick<SqlContext, "dialect">): DialectSql {
  return ctx.dialect === "sqlite" ? SQLITE : POSTGRES;
}

export interface Statement {
  readonly sqlite: string;
  readonly postgres: string;
  /** PostgreSQL prepared-statement name: planned once per connection, not once per execution. */
  readonly name: string;
}

let statements = 0;

/**
 * A statement for both dialects; `?` placeholders become $1, $2, … on PostgreSQL, and `+?` on
 * SQLite. There a parameter the planner may look at (a LIMIT, a column compared with it that has
 * ANALYZE statistics) makes SQLite compile the statement again whenever it is bound, which
 * better-sqlite3 does at every run: the ready query took 73 µs instead of 13. The unary plus,
 * a no-op on any value, hides the value from the planner: one plan for every binding, as
 * PostgreSQL's named statements have.
 */
export function statement(build: (d: DialectSql) => string): Statement {
  let n = 0;
  return { sqlite: build(SQLITE).replace(/\?/g, "+?"), postgres: build(POSTGRES).replace(/\?/g, () => `$${++n}`), name: `updraft_${++statements}` };
}

/**
 * PostgreSQL transactions opened by the store run on one pg client; its Kysely instance is
 * registered here so that hot statements go to that client as named prepared statements.
 */
const pgClients = new WeakMap<Kysely<Database>, pg.PoolClient>();

export function bindPgClient(db: Kysely<Database>, client: pg.PoolClient): void {
  pgClients.set(db, client);
}

/**
 * SQLite transactions hold the store's one connection; their Kysely instance is registered here
 * with the connection's statement cache, so that hot statements run on it directly: Kysely's
 * layers cost more than the statement itself (~20 µs each, a dozen times per tick).
 */
const sqliteConnections = new WeakMap<Kysely<Database>, SqliteStatements>();

export interface SqliteStatements {
  prepare(text: string): BetterSqlite3.Statement;
}

export function bindSqliteConnection(db: Kysely<Database>, statements: SqliteStatements): void {
  sqliteConnections.set(db, statements);
}

/** A list parameter for `d.inList`. */
export function list(ctx: SqlContext, values: readonly unknown[]): unknown {
  return dialectSql(ctx).dialect === "sqlite" ? JSON.stringify(values) : values;
}

/** The parameter of a `d.rows(columns)` row set: these rows, with the same columns. */
export function rows(ctx: Pick<SqlContext, "dialect">, columns: Columns, values: ReadonlyArray<Record<string, unknown>>): string {
  if (dialectSql(ctx).dialect !== "sqlite") return JSON.stringify(values);
  return JSON.stringify(values.map((row) => columns.map(([name]) => row[name] ?? null)));
}

export async function query<R>(ctx: SqlContext, stmt: Statement, params: readonly unknown[]): Promise<R[]> {
  const lite = sqliteConnections.get(ctx.db);
  if (lite) {
    const st = lite.prepare(stmt.sqlite);
    if (st.reader) return st.all(params) as R[];
    st.run(params);
    return [];
  }
  const client = pgClients.get(ctx.db);
  if (client) return (await client.query<R & pg.QueryResultRow>({ name: stmt.name, text: stmt.postgres, values: [...params] })).rows;
  const result = await ctx.db.executeQuery<R>(CompiledQuery.raw(ctx.dialect === "sqlite" ? stmt.sqlite : stmt.postgres, [...params]));
  return result.rows;
}

/**
 * Writes whose result nobody waits for (the tick's events), registered by the store's
 * transactions: on PostgreSQL they are sent at once and go on the wire with the COMMIT (the
 * client pipelines), so they cost no round trip of their own; the commit fails if they do.
 */
const atCommit = new WeakMap<Kysely<Database>, Array<Promise<unknown>>>();

/** Starts (a list) or ends (null) a transaction's writes left for its commit. */
export function bindAtCommit(db: Kysely<Database>, writes: Array<Promise<unknown>> | null): void {
  if (writes) atCommit.set(db, writes);
  else atCommit.delete(db);
}

/** Runs a write whose result is not needed before the commit (in a store transaction; elsewhere it is awaited here). */
export async function execAtCommit(ctx: SqlContext, stmt: Statement, params: readonly unknown[]): Promise<void> {
  const writes = atCommit.get(ctx.db);
  const done = exec(ctx, stmt, params);
  if (!writes) {
    await done;
    return;
  }
  done.catch(() => {}); // the commit reports it
  writes.push(done);
}

/** Runs a statement that changes rows; returns how many it changed. */
export async function exec(ctx: SqlContext, stmt: Statement, params: readonly unknown[]): Promise<number> {
  const lite = sqliteConnections.get(ctx.db);
  if (lite) {
    const st = lite.prepare(stmt.sqlite);
    return st.reader ? st.all(params).length : st.run(params).changes;
  }
  const client = pgClients.get(ctx.db);
  if (client) return (await client.query({ name: stmt.name, text: stmt.postgres, values: [...params] })).rowCount ?? 0;
  const result = await ctx.db.executeQuery(CompiledQuery.raw(ctx.dialect === "sqlite" ? stmt.sqlite : stmt.postgres, [...params]));
  return Number(result.numAffectedRows ?? 0n);
}
