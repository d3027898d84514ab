import { sql } from "kysely";
import { Type, type Static } from "typebox";
import type { ApiDeps } from "../deps.js";
import { iso, Nullable, Timestamp } from "../schemas.js";
import type { ApiApp } from "../types.js";
import { API_VERSION } from "../version.js";

const Component = Type.Object(
  { status: Type.Union([Type.Literal("healthy"), Type.Literal("unhealthy")]), latest_heartbeat: Timestamp, detail: Nullable(Type.String()) },
  { additionalProperties: false },
);

export function registerHealthRoutes(app: ApiApp, { store, config }: ApiDeps): void {
  app.get(
    "/health",
    {
      config: { access: "public" },
      schema: {
        tags: ["monitoring"],
        summary: "Health of the database, the schedulers and the DAG processors (no authentication)",
        response: { 200: Type.Object({ metadatabase: Component, scheduler: Component, dag_processor: Component }, { additionalProperties: false }) },
      },
    },
    async () => {
      let database: Static<typeof Component> = { status: "healthy", latest_heartbeat: null, detail: null };
      try {
        await sql`select 1`.execute(store.db);
        const full = store.storage.full;
        if (full) {
          database = {
            status: "unhealthy",
            latest_heartbeat: null,
            detail: `the metadata database cannot store changes since ${new Date(full.since).toISOString()}: its disk is full (${full.message}); new work is paused and resumes by itself once space is freed`,
          };
        }
      } catch {
        database = { status: "unhealthy", latest_heartbeat: null, detail: "the metadata database does not answer" };
      }
      const heartbeat = async (kind: string) => {
        try {
          const row = await store.db.selectFrom("job").select((eb) => eb.fn.max<number>("heartbeat_at").as("at")).where("kind", "=", kind).where("state", "=", "running").executeTakeFirst();
          const at = row?.at === null || row?.at === undefined ? null : Number(row.at);
          const fresh = at !== null && Date.now() - at < config.zombieThresholdMs;
          return { status: fresh ? ("healthy" as const) : ("unhealthy" as const), latest_heartbeat: iso(at), detail: at === null ? `no ${kind.replace("_", " ")} is running` : fresh ? null : "the latest heartbeat is too old" };
        } catch {
          return { status: "unhealthy" as const, latest_heartbeat: null, detail: "unknown: the metadata database does not answer" };
        }
      };
      return { metadatabase: database, scheduler: await heartbeat("scheduler"), dag_processor: await heartbeat("dag_processor") };
    },
  );

  app.get(
    "/version",
    {
      config: { access: "public" },
      schema: { tags: ["monitoring"], summary: "Updraft's version", response: { 200: Type.Object({ version: Type.String() }, { additionalProperties: false }) } },
    },
    async () => ({ version: API_VERSION }),
  );
}
