/** /pools: CRUD, slot usage, errors, and who may write. */
import { afterEach, describe, expect, it } from "vitest";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { createApiEnv, type ApiEnv } from "./helpers.js";

const ETL_DAG = `
import { dag, task } from "updraft";
const load = task({ id: "load", pool: "etl", poolSlots: 2, run: () => 1 });
const clean = task({ id: "clean", pool: "etl", run: () => 1 });
export default dag({ id: "etl" }, () => { load(); clean(); });
`;

let api: ApiEnv | undefined;
afterEach(async () => {
  await api?.cleanup();
  api = undefined;
});

const USERS = [
  { username: "admin", roles: ["Admin"] },
  { username: "op", roles: ["Op"] },
  { username: "viewer", roles: ["Viewer"] },
];

describe("pools API", () => {
  it("creates, reads, changes and deletes pools", async () => {
    api = await createApiEnv({ users: USERS });
    const op = await api.login("op");

    const created = await api.inject(op, "POST", "/pools", { name: "etl", slots: 4, description: "for the ETL" });
    expect(created.status, created.body).toBe(201);
    expect(created.json).toEqual({ name: "etl", slots: 4, occupied_slots: 0, running_slots: 0, queued_slots: 0, open_slots: 4, description: "for the ETL" });

    const list = await api.inject(op, "GET", "/pools");
    expect(list.status).toBe(200);
    expect(list.json.total_entries).toBe(2);
    expect(list.json.pools.map((p: { name: string }) => p.name)).toEqual(["default_pool", "etl"]);
    const paged = await api.inject(op, "GET", "/pools?limit=1&offset=1");
    expect(paged.json).toMatchObject({ total_entries: 2, pools: [{ name: "etl" }] });

    // PATCH changes only what it names.
    const patched = await api.inject(op, "PATCH", "/pools/etl", { slots: 2 });
    expect(patched.status, patched.body).toBe(200);
    expect(patched.json).toMatchObject({ slots: 2, description: "for the ETL" });
    const described = await api.inject(op, "PATCH", "/pools/etl", { description: null });
    expect(described.json).toMatchObject({ slots: 2, description: null });
    expect((await api.env.store.db.selectFrom("pool").select("slots").where("name", "=", "etl").executeTakeFirstOrThrow()).slots).toBe(2);

    const deleted = await api.inject(op, "DELETE", "/pools/etl");
    expect(deleted.status).toBe(204);
    expect((await api.inject(op, "GET", "/pools/etl")).status).toBe(404);
    expect((await api.inject(op, "GET", "/pools")).json.total_entries).toBe(1);
  });

  it("reports the slots queued and running task instances take", async () => {
    api = await createApiEnv({ users: USERS, dags: { "etl.ts": ETL_DAG } });
    const admin = await api.login("admin");
    expect((await api.inject(admin, "POST", "/pools", { name: "etl", slots: 5 })).status).toBe(201);
    const run = await triggerDagRun(api.env.store, "etl");
    const db = api.env.store.db;
    await db.updateTable("task_instance").set({ state: "running" }).where("dag_run_id", "=", run.id).where("task_id", "=", "load").execute();
    await db.updateTable("task_instance").set({ state: "queued" }).where("dag_run_id", "=", run.id).where("task_id", "=", "clean").execute();
    const pool = await api.inject(admin, "GET", "/pools/etl");
    expect(pool.status, pool.body).toBe(200);
    expect(pool.json).toMatchObject({ slots: 5, running_slots: 2, queued_slots: 1, occupied_slots: 3, open_slots: 2 });
    // Fewer slots than are taken: none open, not a negative number.
    expect((await api.inject(admin, "PATCH", "/pools/etl", { slots: 1 })).json).toMatchObject({ occupied_slots: 3, open_slots: 0 });
  });

  it("answers errors: duplicates, unknown pools, default_pool, bad bodies", async () => {
    api = await createApiEnv({ users: USERS });
    const op = await api.login("op");
    expect((await api.inject(op, "POST", "/pools", { name: "etl", slots: 1 })).status).toBe(201);
    const dup = await api.inject(op, "POST", "/pools", { name: "etl", slots: 3 });
    expect(dup.status).toBe(409);
    expect(dup.json.code).toBe("UPDRAFT_E_CONFLICT");
    expect((await api.inject(op, "GET", "/pools/etl")).json.slots).toBe(1);

    const missing = await api.inject(op, "PATCH", "/pools/nope", { slots: 1 });
    expect(missing.status).toBe(404);
    expect(missing.json.code).toBe("UPDRAFT_E_POOL_NOT_FOUND");
    expect((await api.inject(op, "DELETE", "/pools/nope")).status).toBe(404);

    const deleteDefault = await api.inject(op, "DELETE", "/pools/default_pool");
    expect(deleteDefault.status).toBe(400);
    expect(deleteDefault.json.message).toContain("default_pool cannot be deleted");
    expect((await api.inject(op, "GET", "/pools/default_pool")).status).toBe(200);

    for (const [method, url, body] of [
      ["POST", "/pools", { name: "x", slots: 1, include_deferred: true }],
      ["POST", "/pools", { name: "x", slots: -1 }],
      ["POST", "/pools", { name: "x" }],
      ["POST", "/pools", { name: "a b", slots: 1 }],
      ["PATCH", "/pools/etl", { name: "renamed" }],
      ["PATCH", "/pools/etl", { slots: 1.5 }],
    ] as const) {
      const res = await api.inject(op, method, url, body);
      expect(res.status, `${method} ${url} ${JSON.stringify(body)}: ${res.body}`).toBe(400);
    }
    expect((await api.inject(op, "GET", "/pools/renamed")).status).toBe(404);
    expect((await api.inject(op, "GET", "/pools?limit=1001")).status).toBe(400);
  });

  it("lets a Viewer neither read nor write pools, and records changes in the audit log", async () => {
    api = await createApiEnv({ users: USERS });
    const viewer = await api.login("viewer");
    const op = await api.login("op");
    expect((await api.inject(op, "POST", "/pools", { name: "etl", slots: 1 })).status).toBe(201);
    for (const [method, url, body] of [
      ["GET", "/pools", undefined],
      ["POST", "/pools", { name: "v", slots: 1 }],
      ["PATCH", "/pools/etl", { slots: 9 }],
      ["DELETE", "/pools/etl", undefined],
    ] as const) {
      const res = await api.inject(viewer, method, url, body);
      expect(res.status, `${method} ${url}`).toBe(403);
      expect(res.json.code).toBe("UPDRAFT_E_FORBIDDEN");
    }
    expect((await api.inject(null, "GET", "/pools")).status).toBe(401);
    expect((await api.inject(op, "GET", "/pools/etl")).json.slots).toBe(1);

    // Audit records are written as responses finish: wait for the last one.
    const poolEvents = () => api!.env.store.db.selectFrom("audit_log").select(["action", "username", "object_id", "outcome", "status"]).where("action", "like", "pool.%").orderBy("id").execute();
    const deadline = Date.now() + 30_000;
    while ((await poolEvents()).length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const audit = await poolEvents();
    expect(audit).toEqual([
      { action: "pool.create", username: "op", object_id: "etl", outcome: "success", status: 201 },
      { action: "pool.create", username: "viewer", object_id: null, outcome: "denied", status: 403 },
      { action: "pool.update", username: "viewer", object_id: "etl", outcome: "denied", status: 403 },
      { action: "pool.delete", username: "viewer", object_id: "etl", outcome: "denied", status: 403 },
    ]);
  });
});
