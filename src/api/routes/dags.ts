import { sql } from "kysely";
import { Type } from "typebox";
import { DAG_RUN_STATES, RUN_TYPES, type SerializedDag } from "../../dag/model.js";
import { UpdraftError } from "../../errors/index.js";
import { deleteDag, getDagVersion, setPaused } from "../../store/dags.js";
import type { DagRow } from "../../store/schema.js";
import { parseAccess, principalOf, readableDagIds } from "../access.js";
import { canDag, type Principal } from "../../security/rbac.js";
import type { ApiDeps } from "../deps.js";
import { Dag, DagDetail, DagListItem, DagVersion, Grid, Structure, Task, type GridTask, type RecentRun } from "../models.js";
import { DagIdParam, ErrorBody, ERRORS, iso, NoContent, OneOf, Page, pageOf } from "../schemas.js";
import type { ApiApp } from "../types.js";

const ORDER = { dag_id: "dag_id", "-dag_id": "dag_id desc", next_dagrun: "next_dagrun_create_after", "-next_dagrun": "next_dagrun_create_after desc" } as const;
const ORDERS = ["dag_id", "-dag_id", "next_dagrun", "-next_dagrun"] as const satisfies ReadonlyArray<keyof typeof ORDER>;

export function dagJson(row: DagRow & { version_number?: number | null; has_errors?: number | null }, principal: Principal) {
  const access = parseAccess(row.access);
  return {
    dag_id: row.dag_id,
    description: row.description,
    owner: row.owner,
    tags: JSON.parse(row.tags) as string[],
    is_paused: row.is_paused === 1,
    is_active: row.is_active === 1,
    fileloc: row.fileloc,
    schedule: JSON.parse(row.schedule) as unknown,
    schedule_description: row.schedule_description,
    timezone: row.timezone,
    max_active_runs: row.max_active_runs,
    max_active_tasks: row.max_active_tasks,
    latest_version: row.version_number ?? null,
    next_dagrun_create_after: iso(row.next_dagrun_create_after),
    next_dagrun_data_interval_start: iso(row.next_dagrun_interval_start),
    next_dagrun_data_interval_end: iso(row.next_dagrun_interval_end),
    has_import_errors: (row.has_errors ?? 0) > 0,
    my_access: { edit: canDag(principal, access, "edit"), trigger: canDag(principal, access, "trigger"), delete: canDag(principal, access, "delete") },
  };
}

export function taskJson(t: SerializedDag["tasks"][number]) {
  return {
    task_id: t.taskId,
    kind: t.kind,
    group: t.group,
    upstream: t.upstream,
    data_upstream: t.dataUpstream,
    trigger_rule: t.options.triggerRule,
    retries: t.options.retries,
    retry_delay_ms: t.options.retryDelayMs,
    retry_backoff: t.options.retryBackoff,
    retry_backoff_multiplier: t.options.retryBackoff === "exponential" ? (t.options.retryBackoffMultiplier ?? 2) : null,
    execution_timeout_ms: t.options.executionTimeoutMs,
    pool: t.options.pool,
    pool_slots: t.options.poolSlots,
    priority_weight: t.weight,
    queue: t.options.queue,
    owner: t.options.owner,
    doc: t.options.doc,
    display: t.display,
  };
}

export function registerDagRoutes(app: ApiApp, { store }: ApiDeps): void {
  const db = store.db;
  /** DAG rows with their latest version number and whether their file has an import error. */
  const dagQuery = () =>
    db
      .selectFrom("dag as d")
      .leftJoin("dag_version as v", "v.id", "d.latest_version_id")
      .selectAll("d")
      .select("v.version_number")
      .select((eb) =>
        eb
          .selectFrom("import_error as e")
          .select(sql<number>`count(*)`.as("n"))
          .whereRef("e.dags_folder", "=", "d.dags_folder")
          .whereRef("e.fileloc", "=", "d.fileloc")
          .as("has_errors"),
      );

  /** The latest `n` runs of each DAG, newest first (one query, a window over the runs). */
  const recentRuns = async (dagIds: string[], n: number) => {
    const byDag = new Map<string, RecentRun[]>();
    if (dagIds.length === 0) return byDag;
    const rows = await db
      .selectFrom((eb) =>
        eb
          .selectFrom("dag_run")
          .select(["dag_id", "run_id", "state", "run_type", "logical_date"])
          .select(sql<number>`row_number() over (partition by dag_id order by logical_date desc, id desc)`.as("rn"))
          .where("dag_id", "in", dagIds)
          .as("r"),
      )
      .selectAll("r")
      .where("r.rn", "<=", n)
      .orderBy("r.dag_id")
      .orderBy("r.rn")
      .execute();
    for (const r of rows) {
      const list = byDag.get(r.dag_id) ?? [];
      list.push({ dag_run_id: r.run_id, state: r.state, run_type: r.run_type, logical_date: iso(r.logical_date)! });
      byDag.set(r.dag_id, list);
    }
    return byDag;
  };

  const latest = async (dagId: string) => {
    const row = await dagQuery().where("d.dag_id", "=", dagId).executeTakeFirst();
    if (!row) throw new UpdraftError("UPDRAFT_E_DAG_NOT_FOUND", `DAG '${dagId}' not found`);
    return row;
  };

  app.get(
    "/dags",
    {
      config: { access: { dag: "read" } },
      schema: {
        tags: ["dags"],
        summary: "DAGs you may read",
        querystring: Type.Object(
          {
            ...Page,
            tags: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: 20, description: "DAGs with any of these tags" })),
            paused: Type.Optional(Type.Boolean()),
            only_active: Type.Optional(Type.Boolean({ default: true })),
            dag_id_pattern: Type.Optional(Type.String({ maxLength: 250, description: "part of the DAG id (case-insensitive)" })),
            order_by: Type.Optional(OneOf(ORDERS, { default: "dag_id" })),
            recent_runs: Type.Optional(Type.Integer({ minimum: 0, maximum: 25, default: 0, description: "also give each DAG's latest runs (at most 25), newest first" })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ dags: Type.Array(DagListItem), total_entries: Type.Integer() }, { additionalProperties: false }),
          ...ERRORS,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const { limit, offset } = pageOf(q);
      const readable = await readableDagIds(db, principalOf(request));
      let base = dagQuery();
      if (readable !== null) base = readable.length ? base.where("d.dag_id", "in", readable) : base.where(sql<boolean>`1 = 0`);
      if (q.only_active !== false) base = base.where("d.is_active", "=", 1);
      if (q.paused !== undefined) base = base.where("d.is_paused", "=", q.paused ? 1 : 0);
      if (q.dag_id_pattern) base = base.where(sql<string>`lower(d.dag_id)`, "like", `%${q.dag_id_pattern.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`);
      let rows = await base.orderBy(sql.raw(`d.${ORDER[q.order_by ?? "dag_id"]}`)).execute();
      if (q.tags?.length) rows = rows.filter((r) => (JSON.parse(r.tags) as string[]).some((t) => q.tags!.includes(t)));
      const principal = principalOf(request);
      const page = rows.slice(offset, offset + limit).map((r) => dagJson(r, principal));
      if (!q.recent_runs) return { dags: page, total_entries: rows.length };
      const recent = await recentRuns(page.map((d) => d.dag_id), q.recent_runs);
      return { dags: page.map((d) => ({ ...d, recent_runs: recent.get(d.dag_id) ?? [] })), total_entries: rows.length };
    },
  );

  app.get(
    "/dags/:dag_id",
    {
      config: { access: { dag: "read" } },
      schema: { tags: ["dags"], summary: "A DAG, with its details", params: DagIdParam, response: { 200: DagDetail, ...ERRORS } },
    },
    async (request) => {
      const row = await latest(request.params.dag_id);
      const structure = row.latest_version_id === null ? null : (JSON.parse((await getDagVersion(db, row.latest_version_id)).structure) as SerializedDag);
      return {
        ...dagJson(row, principalOf(request)),
        doc_md: structure?.docMd ?? null,
        params: structure?.params ?? {},
        start_date: iso(structure?.startDate),
        end_date: iso(structure?.endDate),
        catchup: structure?.catchup ?? false,
      };
    },
  );

  app.patch(
    "/dags/:dag_id",
    {
      config: { access: { dag: "edit" }, audit: "dag.update" },
      schema: {
        tags: ["dags"],
        summary: "Pause or unpause a DAG",
        params: DagIdParam,
        body: Type.Object({ is_paused: Type.Boolean() }, { additionalProperties: false }),
        response: { 200: Dag, ...ERRORS },
      },
    },
    async (request) => {
      const { dag_id } = request.params;
      const { is_paused } = request.body;
      request.auditNote = { objectType: "dag", objectId: dag_id, dagId: dag_id, details: { is_paused } };
      await setPaused(store, dag_id, is_paused);
      return dagJson(await latest(dag_id), principalOf(request));
    },
  );

  app.delete(
    "/dags/:dag_id",
    {
      config: { access: { dag: "delete" }, audit: "dag.delete" },
      schema: {
        tags: ["dags"],
        summary: "Delete a DAG and all its history (Admin); refused while a task of it is queued or running",
        params: DagIdParam,
        response: { 204: NoContent, ...ERRORS, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const { dag_id } = request.params;
      request.auditNote = { objectType: "dag", objectId: dag_id, dagId: dag_id };
      await deleteDag(store, dag_id);
      return reply.code(204).send();
    },
  );

  app.get(
    "/dags/:dag_id/versions",
    {
      config: { access: { dag: "read" } },
      schema: {
        tags: ["dags"],
        summary: "Versions of a DAG, newest first",
        params: DagIdParam,
        querystring: Type.Object({ ...Page }, { additionalProperties: false }),
        response: { 200: Type.Object({ versions: Type.Array(DagVersion), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const { dag_id } = request.params;
      const { limit, offset } = pageOf(request.query);
      const rows = await db.selectFrom("dag_version").select(["version_number", "dag_id", "created_at", "hash", "bundle_hash"]).where("dag_id", "=", dag_id).orderBy("version_number", "desc").limit(limit).offset(offset).execute();
      const total = await db.selectFrom("dag_version").select((eb) => eb.fn.countAll<number>().as("n")).where("dag_id", "=", dag_id).executeTakeFirstOrThrow();
      return { versions: rows.map((r) => ({ ...r, created_at: iso(r.created_at)! })), total_entries: Number(total.n) };
    },
  );

  const VersionQuery = Type.Object({ version: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: "version number (default: the latest)" })) }, { additionalProperties: false });
  const versionOf = async (dagId: string, version: number | undefined) => {
    const dag = await latest(dagId);
    const row = await db
      .selectFrom("dag_version")
      .selectAll()
      .where("dag_id", "=", dagId)
      .$if(version !== undefined, (q) => q.where("version_number", "=", version!))
      .$if(version === undefined, (q) => q.where("id", "=", dag.latest_version_id ?? -1))
      .executeTakeFirst();
    if (!row) throw new UpdraftError("UPDRAFT_E_DAG_VERSION_NOT_FOUND", `DAG '${dagId}' has no version ${version ?? "yet"}`);
    return { dag, row, structure: JSON.parse(row.structure) as SerializedDag };
  };

  app.get(
    "/dags/:dag_id/source",
    {
      config: { access: { dag: "read" } },
      schema: {
        tags: ["dags"],
        summary: "The source code of a DAG's file, as it was in a version",
        params: DagIdParam,
        querystring: VersionQuery,
        response: { 200: Type.Object({ dag_id: Type.String(), version_number: Type.Integer(), fileloc: Type.String(), content: Type.String() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const { dag_id } = request.params;
      const { row, structure } = await versionOf(dag_id, request.query.version);
      return { dag_id, version_number: row.version_number, fileloc: structure.fileloc, content: row.source };
    },
  );

  app.get(
    "/dags/:dag_id/structure",
    {
      config: { access: { dag: "read" } },
      schema: {
        tags: ["dags"],
        summary: "Tasks, edges and groups of a DAG version, for the graph view",
        params: DagIdParam,
        querystring: VersionQuery,
        response: { 200: Structure, ...ERRORS },
      },
    },
    async (request) => {
      const { dag_id } = request.params;
      const { row, structure } = await versionOf(dag_id, request.query.version);
      return {
        dag_id,
        version_number: row.version_number,
        tasks: structure.tasks.map(taskJson),
        edges: structure.tasks.flatMap((t) => t.upstream.map((up) => ({ source: up, target: t.taskId, data: t.dataUpstream.includes(up) }))),
        groups: structure.groups.map((g) => ({ group_id: g.groupId, parent: g.parent })),
      };
    },
  );

  app.get(
    "/dags/:dag_id/grid",
    {
      config: { access: { dag: "read" } },
      schema: {
        tags: ["dags"],
        summary: "Runs × tasks for the grid view: the latest runs (with their dates, for the run header and duration bars) and every task instance's state and try, in one answer",
        params: DagIdParam,
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 25, description: "runs, newest first" })),
            before: Type.Optional(Type.String({ format: "date-time", description: "only runs with an earlier logical date (paging back)" })),
            run_type: Type.Optional(OneOf(RUN_TYPES)),
            state: Type.Optional(OneOf(DAG_RUN_STATES)),
          },
          { additionalProperties: false },
        ),
        response: { 200: Grid, ...ERRORS },
      },
    },
    async (request) => {
      const { dag_id } = request.params;
      const q = request.query;
      const dag = await latest(dag_id);
      const structure = dag.latest_version_id === null ? null : (JSON.parse((await getDagVersion(db, dag.latest_version_id)).structure) as SerializedDag);
      const runs = await db
        .selectFrom("dag_run as r")
        .leftJoin("dag_version as v", "v.id", "r.dag_version_id")
        .select(["r.id", "r.run_id", "r.state", "r.run_type", "r.logical_date", "r.data_interval_start", "r.data_interval_end", "r.start_date", "r.end_date", "v.version_number"])
        .where("r.dag_id", "=", dag_id)
        .$if(q.before !== undefined, (b) => b.where("r.logical_date", "<", Date.parse(q.before!)))
        .$if(q.run_type !== undefined, (b) => b.where("r.run_type", "=", q.run_type!))
        .$if(q.state !== undefined, (b) => b.where("r.state", "=", q.state!))
        .orderBy("r.logical_date", "desc")
        .orderBy("r.id", "desc")
        .limit(q.limit ?? 25)
        .execute();
      const tis = runs.length
        ? await db.selectFrom("task_instance").select(["dag_run_id", "task_id", "state", "try_number"]).where("dag_run_id", "in", runs.map((r) => r.id)).execute()
        : [];
      const tasks: GridTask[] = (structure?.tasks ?? []).map((t) => ({ task_id: t.taskId, group: t.group, kind: t.kind }));
      const index = new Map(tasks.map((t, i) => [t.task_id, i]));
      for (const ti of tis) {
        if (!index.has(ti.task_id)) {
          index.set(ti.task_id, tasks.length);
          tasks.push({ task_id: ti.task_id, group: null, kind: "removed" });
        }
      }
      const cells = new Map(runs.map((r) => [Number(r.id), { states: new Array<string | null>(tasks.length).fill(null), tries: new Array<number>(tasks.length).fill(0) }]));
      for (const ti of tis) {
        const cell = cells.get(Number(ti.dag_run_id))!;
        const i = index.get(ti.task_id)!;
        cell.states[i] = ti.state;
        cell.tries[i] = ti.try_number;
      }
      return {
        dag_id,
        version_number: dag.version_number ?? null,
        tasks,
        groups: (structure?.groups ?? []).map((g) => ({ group_id: g.groupId, parent: g.parent })),
        runs: runs.map((r) => ({
          dag_run_id: r.run_id,
          state: r.state,
          run_type: r.run_type,
          logical_date: iso(r.logical_date)!,
          data_interval_start: iso(r.data_interval_start)!,
          data_interval_end: iso(r.data_interval_end)!,
          start_date: iso(r.start_date),
          end_date: iso(r.end_date),
          version_number: r.version_number ?? null,
          ...cells.get(Number(r.id))!,
        })),
      };
    },
  );

  app.get(
    "/dags/:dag_id/tasks",
    {
      config: { access: { dag: "read" } },
      schema: {
        tags: ["dags"],
        summary: "Tasks of a DAG version",
        params: DagIdParam,
        querystring: VersionQuery,
        response: { 200: Type.Object({ tasks: Type.Array(Task), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const { structure } = await versionOf(request.params.dag_id, request.query.version);
      return { tasks: structure.tasks.map(taskJson), total_entries: structure.tasks.length };
    },
  );

}
