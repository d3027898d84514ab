/**
 * The event log: state changes written in the same transaction as the changes themselves, and
 * tailed by API servers (by id) to push live updates. Old events are trimmed by age.
 */
import type { Kysely } from "kysely";
import type { Store } from "./connect.js";
import type { Database, EventRow } from "./schema.js";
import { chunk } from "./batch.js";
import { execAtCommit, rows, statement, type SqlContext } from "./sql.js";

export type StoredEvent =
  | { kind: "ti-state"; dag_id: string; run_id: string; task_id: string; state: string; try_number?: number }
  | { kind: "run-state"; dag_id: string; run_id: string; state: string }
  | { kind: "dag-version"; dag_id: string; version_number: number }
  | { kind: "dag-updated"; dag_id: string; is_paused?: boolean; is_active?: boolean; deleted?: boolean }
  | { kind: "import-error"; dags_folder: string; fileloc: string; dag_ids: string[]; message: string | null }
  | { kind: "import-warning"; dags_folder: string; fileloc: string; dag_ids: string[]; message: string | null }
  /** Sessions, tokens or roles of these users changed: API servers check their sockets again at once (never sent to clients). */
  | { kind: "auth-changed"; user_ids: number[] };

const EVENT_COLUMNS = [["ts", "bigint"], ["kind", "text"], ["dag_id", "text"], ["payload", "text"]] as const;
const INSERT_EVENTS = statement((d) => `insert into event (ts, kind, dag_id, payload) select ts, kind, dag_id, payload from ${d.rows(EVENT_COLUMNS)}`);
/** PostgreSQL: the insert and the notification (delivered at commit) in one round trip. */
const INSERT_AND_NOTIFY = statement(
  (d) => `with ins as (insert into event (ts, kind, dag_id, payload) select ts, kind, dag_id, payload from ${d.rows(EVENT_COLUMNS)} returning 1)
    select pg_notify(?, 'events') where exists (select 1 from ins)`,
);

const NOTIFY = statement(() => `select pg_notify(?, 'events')`);

/**
 * Wakes event listeners at commit without appending an event (PostgreSQL; on SQLite the commit
 * itself is seen). Used by a tick that wrote only log lines, so live log tails need not wait.
 */
export async function notifyEventListeners(ctx: SqlContext, channel: string | null): Promise<void> {
  if (ctx.dialect === "postgres" && channel) await execAtCommit(ctx, NOTIFY, [channel]);
}

/** Appends events (in the caller's transaction); on PostgreSQL, listeners are woken at commit. */
export async function appendEvents(ctx: SqlContext, events: StoredEvent[], now: number, channel: string | null): Promise<void> {
  if (events.length === 0) return;
  for (const part of chunk(events, 2_000)) {
    const payload = rows(ctx, EVENT_COLUMNS, part.map((e) => ({ ts: now, kind: e.kind, dag_id: "dag_id" in e ? e.dag_id : null, payload: JSON.stringify(e) })));
    if (ctx.dialect === "postgres" && channel) await execAtCommit(ctx, INSERT_AND_NOTIFY, [payload, channel]);
    else await execAtCommit(ctx, INSERT_EVENTS, [payload]);
  }
}

/**
 * In the transaction that revokes tokens or changes roles: every API server re-authenticates the
 * live sockets of these users when it reads the event (milliseconds later), and closes those whose
 * token no longer holds.
 */
export async function appendAuthChanged(trx: Kysely<Database>, store: Pick<Store, "dialect" | "eventChannel">, userIds: number[]): Promise<void> {
  if (userIds.length === 0) return;
  await appendEvents({ db: trx, dialect: store.dialect }, [{ kind: "auth-changed", user_ids: [...new Set(userIds)] }], Date.now(), store.eventChannel);
}

export async function eventsAfter(db: Kysely<Database>, afterId: number, limit = 1_000): Promise<EventRow[]> {
  return db.selectFrom("event").selectAll().where("id", ">", afterId).orderBy("id").limit(limit).execute();
}

export async function lastEventId(db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom("event").select((eb) => eb.fn.max<number>("id").as("id")).executeTakeFirst();
  return Number(row?.id ?? 0);
}

/**
 * Removes events older than `olderThan`. Events are appended in time order, so the first one
 * that is recent enough bounds the old ones by id: the search walks only the rows it then
 * deletes, and the log needs no index on its time (a page of every tick's commit to keep up).
 * Ids never go back (AUTOINCREMENT on SQLite, an identity on PostgreSQL), even once all is trimmed.
 */
export async function trimEvents(db: Kysely<Database>, olderThan: number): Promise<void> {
  const first = await db.selectFrom("event").select("id").where("ts", ">=", olderThan).orderBy("id").limit(1).executeTakeFirst();
  await db
    .deleteFrom("event")
    .$if(first !== undefined, (q) => q.where("id", "<", first!.id))
    .execute();
}
