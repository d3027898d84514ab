import { Type } from "typebox";
import { UpdraftError } from "../../errors/index.js";
import { deletePool, listPools, setPool } from "../../store/pools.js";
import type { ApiDeps } from "../deps.js";
import { Pool } from "../models.js";
import { ErrorBody, ERRORS, Id, NoContent, Nullable, Page, pageOf } from "../schemas.js";
import type { ApiApp } from "../types.js";

const PoolParams = Type.Object({ pool_name: Id("pool name") }, { additionalProperties: false });
const Slots = Type.Integer({ minimum: 0, maximum: 1_000_000 });
const Description = Nullable(Type.String({ maxLength: 1000 }));

type PoolUsage = Awaited<ReturnType<typeof listPools>>[number];

function poolJson(p: PoolUsage) {
  return {
    name: p.name,
    slots: p.slots,
    occupied_slots: p.occupied,
    running_slots: p.running,
    queued_slots: p.queued,
    open_slots: Math.max(0, p.slots - p.occupied),
    description: p.description,
  };
}

export function registerPoolRoutes(app: ApiApp, { store }: ApiDeps): void {
  const db = store.db;
  const find = async (name: string) => (await listPools(db)).find((p) => p.name === name);
  const requirePool = async (name: string) => {
    const pool = await find(name);
    if (!pool) throw new UpdraftError("UPDRAFT_E_POOL_NOT_FOUND", `pool '${name}' not found`);
    return pool;
  };

  app.get(
    "/pools",
    {
      config: { access: "pools:read" },
      schema: {
        tags: ["pools"],
        summary: "Pools, with the slots their task instances take",
        querystring: Type.Object({ ...Page }, { additionalProperties: false }),
        response: { 200: Type.Object({ pools: Type.Array(Pool), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const { limit, offset } = pageOf(request.query);
      const pools = await listPools(db);
      return { pools: pools.slice(offset, offset + limit).map(poolJson), total_entries: pools.length };
    },
  );

  app.get(
    "/pools/:pool_name",
    {
      config: { access: "pools:read" },
      schema: { tags: ["pools"], summary: "A pool", params: PoolParams, response: { 200: Pool, ...ERRORS } },
    },
    async (request) => poolJson(await requirePool(request.params.pool_name)),
  );

  app.post(
    "/pools",
    {
      config: { access: "pools:write", audit: "pool.create" },
      schema: {
        tags: ["pools"],
        summary: "Create a pool",
        body: Type.Object({ name: Id("pool name"), slots: Slots, description: Type.Optional(Description) }, { additionalProperties: false }),
        response: { 201: Pool, ...ERRORS, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      request.auditNote = { objectType: "pool", objectId: body.name, details: { slots: body.slots } };
      if (await find(body.name)) throw new UpdraftError("UPDRAFT_E_CONFLICT", `pool '${body.name}' already exists`, { hint: `change it with PATCH /api/v1/pools/${body.name}` });
      await setPool(db, body.name, body.slots, body.description ?? null);
      await store.notify();
      return reply.code(201).send(poolJson(await requirePool(body.name)));
    },
  );

  app.patch(
    "/pools/:pool_name",
    {
      config: { access: "pools:write", audit: "pool.update" },
      schema: {
        tags: ["pools"],
        summary: "Change a pool's slots or description",
        params: PoolParams,
        body: Type.Object({ slots: Type.Optional(Slots), description: Type.Optional(Description) }, { additionalProperties: false }),
        response: { 200: Pool, ...ERRORS },
      },
    },
    async (request) => {
      const { pool_name } = request.params;
      const body = request.body;
      request.auditNote = { objectType: "pool", objectId: pool_name, details: body };
      const pool = await requirePool(pool_name);
      await setPool(db, pool_name, body.slots ?? pool.slots, body.description === undefined ? pool.description : body.description);
      await store.notify();
      return poolJson(await requirePool(pool_name));
    },
  );

  app.delete(
    "/pools/:pool_name",
    {
      config: { access: "pools:write", audit: "pool.delete" },
      schema: { tags: ["pools"], summary: "Delete a pool (not default_pool)", params: PoolParams, response: { 204: NoContent, ...ERRORS } },
    },
    async (request, reply) => {
      const { pool_name } = request.params;
      request.auditNote = { objectType: "pool", objectId: pool_name };
      await deletePool(db, pool_name);
      await store.notify();
      return reply.code(204).send();
    },
  );
}
