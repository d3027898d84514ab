import type { Kysely } from "kysely";
import { UpdraftError } from "../errors/index.js";
import type { Database, PoolRow } from "./schema.js";

const POOL_NAME_RE = /^(?!\.+$)[A-Za-z0-9_.-]{1,250}$/;

export async function listPools(db: Kysely<Database>): Promise<Array<PoolRow & { occupied: number; queued: number; running: number }>> {
  const pools = await db.selectFrom("pool").selectAll().orderBy("name").execute();
  const usage = await db
    .selectFrom("task_instance")
    .select(["pool", "state", (eb) => eb.fn.sum<number>("pool_slots").as("slots")])
    .where("state", "in", ["queued", "running"])
    .groupBy(["pool", "state"])
    .execute();
  return pools.map((p) => {
    const queued = Number(usage.find((u) => u.pool === p.name && u.state === "queued")?.slots ?? 0);
    const running = Number(usage.find((u) => u.pool === p.name && u.state === "running")?.slots ?? 0);
    return { ...p, queued, running, occupied: queued + running };
  });
}

/** Creates a pool or changes its slots; its description too, unless `description` is undefined (kept). */
export async function setPool(db: Kysely<Database>, name: string, slots: number, description: string | null | undefined): Promise<void> {
  if (!POOL_NAME_RE.test(name)) throw new UpdraftError("UPDRAFT_E_INVALID_ID", `pool name ${JSON.stringify(name)} is not valid`, { hint: 'use letters, digits, "_", "-" and "." (not dots alone)' });
  if (!Number.isInteger(slots) || slots < 0) throw new UpdraftError("UPDRAFT_E_USAGE", `pool slots ${slots} is not an integer ≥ 0`, { hint: "0 slots holds every task of the pool" });
  await db
    .insertInto("pool")
    .values({ name, slots, description: description ?? null, include_deferred: 0 })
    .onConflict((oc) => oc.column("name").doUpdateSet(description === undefined ? { slots } : { slots, description }))
    .execute();
}

export async function deletePool(db: Kysely<Database>, name: string): Promise<void> {
  if (name === "default_pool") throw new UpdraftError("UPDRAFT_E_USAGE", "default_pool cannot be deleted", { hint: "change its slots instead" });
  const result = await db.deleteFrom("pool").where("name", "=", name).executeTakeFirst();
  if (Number(result.numDeletedRows) === 0) throw new UpdraftError("UPDRAFT_E_POOL_NOT_FOUND", `pool '${name}' not found`);
}
