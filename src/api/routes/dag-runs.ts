/**
 * DAG runs: lists (per DAG, and across the DAGs a user may read), one run, trigger, set state or
 * note, clear, delete. Reads need { dag: "read" }; trigger, clear and set state need
 * { dag: "trigger" }; delete needs { dag: "trigger" } and the permission runs:delete.
 */
import { Type, type Static } from "typebox";
import { DAG_RUN_STATES, RUN_TYPES } from "../../dag/model.js";
import { UpdraftError } from "../../errors/index.js";
import { can } from "../../security/rbac.js";
import { triggerDagRun } from "../../scheduler/create-run.js";
import { clearTaskInstances } from "../../scheduler/manual-ops.js";
import { deleteDagRun, queryDagRuns, setDagRunState, type DagRunListRow, type RunFilter, type RunOrder } from "../../store/run-queries.js";
import { requireDagRun } from "../../store/runs.js";
import type { DagRunRow } from "../../store/schema.js";
import { principalOf, readableDagIds } from "../access.js";
import type { ApiDeps } from "../deps.js";
import { ChangeList, DagRun } from "../models.js";
import { DagIdParam, ErrorBody, ERRORS, Id, iso, NoContent, Nullable, OneOf, Page, pageOf, RunParams } from "../schemas.js";
import type { ApiApp } from "../types.js";
import { ANY, changeList, oneDag } from "./task-instances.js";

export function dagRunJson(row: DagRunRow & { version_number?: number | null }) {
  let conf: Record<string, unknown> = {};
  try {
    conf = JSON.parse(row.conf) as Record<string, unknown>;
  } catch {
    // a run row always holds JSON; keep the API answering if one does not
  }
  return {
    dag_id: row.dag_id,
    dag_run_id: row.run_id,
    run_type: row.run_type,
    state: row.state,
    logical_date: iso(row.logical_date)!,
    data_interval_start: iso(row.data_interval_start)!,
    data_interval_end: iso(row.data_interval_end)!,
    run_after: iso(row.run_after)!,
    queued_at: iso(row.queued_at),
    start_date: iso(row.start_date),
    end_date: iso(row.end_date),
    last_changed: iso(row.updated_at)!,
    conf,
    note: row.note,
    dag_version: row.version_number ?? null,
  };
}

const RUN_ORDERS: RunOrder[] = ["id", "logical_date", "start_date", "end_date", "run_after", "updated_at"];
const DateBound = (description: string) => Type.Optional(Type.String({ format: "date-time", description }));

const RunListQuery = Type.Object(
  {
    ...Page,
    state: Type.Optional(Type.Array(OneOf(DAG_RUN_STATES), { maxItems: DAG_RUN_STATES.length, description: "any of these states" })),
    run_type: Type.Optional(Type.Array(OneOf(RUN_TYPES), { maxItems: RUN_TYPES.length, description: "any of these run types" })),
    logical_date_gte: DateBound("logical date at or after this"),
    logical_date_lte: DateBound("logical date at or before this"),
    start_date_gte: DateBound("started at or after this"),
    start_date_lte: DateBound("started at or before this"),
    end_date_gte: DateBound("ended at or after this"),
    end_date_lte: DateBound("ended at or before this"),
    order_by: Type.Optional(
      OneOf(RUN_ORDERS.flatMap((o) => [o, `-${o}` as const]), { default: "-logical_date", description: 'a column; "-" in front orders descending' }),
    ),
  },
  { additionalProperties: false },
);

const AcrossQuery = Type.Object(
  { ...RunListQuery.properties, dag_ids: Type.Optional(Type.Array(Id("DAG id"), { maxItems: 100, description: "only runs of these DAGs" })) },
  { additionalProperties: false },
);


const ms = (text: string | undefined) => (text === undefined ? undefined : Date.parse(text));

/** The filter of either list: one DAG's (its path names the DAG) or the one across DAGs. */
function runFilter(q: Static<typeof AcrossQuery>, readable: string[] | null): RunFilter {
  const order = q.order_by ?? "-logical_date";
  return {
    readable,
    dagIds: q.dag_ids,
    states: q.state,
    runTypes: q.run_type,
    logicalDate: { gte: ms(q.logical_date_gte), lte: ms(q.logical_date_lte) },
    startDate: { gte: ms(q.start_date_gte), lte: ms(q.start_date_lte) },
    endDate: { gte: ms(q.end_date_gte), lte: ms(q.end_date_lte) },
    order: { column: order.replace(/^-/, "") as RunOrder, desc: order.startsWith("-") },
  };
}

const RunList = Type.Object({ dag_runs: Type.Array(DagRun), total_entries: Type.Integer() }, { additionalProperties: false });
const listJson = (result: { rows: DagRunListRow[]; total: number }) => ({ dag_runs: result.rows.map(dagRunJson), total_entries: result.total });

const Note = Type.String({ maxLength: 1000 });
const WITH_409 = { ...ERRORS, 409: ErrorBody };

export function registerDagRunRoutes(app: ApiApp, { store }: ApiDeps): void {
  const db = store.db;

  /** A run with its DAG version number. */
  const runJson = async (dagId: string, runId: string) => {
    const run = await requireDagRun(db, dagId, runId);
    const version = await db.selectFrom("dag_version").select("version_number").where("id", "=", run.dag_version_id).executeTakeFirst();
    return dagRunJson({ ...run, version_number: version?.version_number ?? null });
  };

  app.get(
    "/dags/:dag_id/dagRuns",
    {
      config: { access: { dag: "read" }, anyDag: true },
      schema: {
        tags: ["dag runs"],
        summary: 'Runs of a DAG ("~": of every DAG you may read), newest first by default',
        params: DagIdParam,
        querystring: RunListQuery,
        response: { 200: RunList, ...ERRORS },
      },
    },
    async (request) => {
      const { dag_id } = request.params;
      const q = request.query;
      const filter = runFilter(q, dag_id === ANY ? await readableDagIds(db, principalOf(request)) : null);
      if (dag_id !== ANY) filter.dagIds = [dag_id];
      return listJson(await queryDagRuns(db, filter, pageOf(q)));
    },
  );

  app.get(
    "/dagRuns",
    {
      config: { access: { dag: "read" } },
      schema: { tags: ["dag runs"], summary: "Runs across the DAGs you may read", querystring: AcrossQuery, response: { 200: RunList, ...ERRORS } },
    },
    async (request) => {
      const q = request.query;
      return listJson(await queryDagRuns(db, runFilter(q, await readableDagIds(db, principalOf(request))), pageOf(q)));
    },
  );

  app.get(
    "/dags/:dag_id/dagRuns/:dag_run_id",
    {
      config: { access: { dag: "read" } },
      schema: { tags: ["dag runs"], summary: "A run", params: RunParams, response: { 200: DagRun, ...ERRORS } },
    },
    async (request) => {
      const { dag_id, dag_run_id } = request.params;
      return runJson(oneDag(dag_id), dag_run_id);
    },
  );

  app.post(
    "/dags/:dag_id/dagRuns",
    {
      config: { access: { dag: "trigger" }, audit: "dag_run.trigger" },
      schema: {
        tags: ["dag runs"],
        summary: "Trigger a run of the DAG's latest version (conf is checked against the DAG's params)",
        params: DagIdParam,
        body: Type.Object(
          {
            dag_run_id: Type.Optional(Id("run id (default: manual__<logical date>)")),
            logical_date: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 64, description: "ISO date-time; a date without an offset is read in the DAG's timezone; default now" }))),
            conf: Type.Optional(Type.Record(Type.String({ maxLength: 250 }), Type.Unknown(), { description: "the run's conf, laid over the params' defaults" })),
            note: Type.Optional(Note),
          },
          { additionalProperties: false },
        ),
        response: { 200: DagRun, ...WITH_409 },
      },
    },
    async (request) => {
      const dagId = oneDag(request.params.dag_id);
      const body = request.body;
      request.auditNote = { objectType: "dag_run", objectId: body.dag_run_id, dagId, details: { logical_date: body.logical_date ?? null, conf_keys: Object.keys(body.conf ?? {}).slice(0, 50) } };
      const run = await triggerDagRun(store, dagId, {
        conf: body.conf ?? {},
        ...(body.logical_date ? { logicalDate: body.logical_date } : {}),
        ...(body.dag_run_id !== undefined ? { runId: body.dag_run_id } : {}),
        ...(body.note !== undefined ? { note: body.note } : {}),
        runType: "manual",
      });
      request.auditNote.objectId = run.runId;
      return runJson(dagId, run.runId);
    },
  );

  app.patch(
    "/dags/:dag_id/dagRuns/:dag_run_id",
    {
      config: { access: { dag: "trigger" }, audit: "dag_run.update" },
      schema: {
        tags: ["dag runs"],
        summary: "Set a run's state (success or failed mark its task instances; queued clears them all to run again) and/or its note",
        params: RunParams,
        body: Type.Object(
          {
            state: Type.Optional(Type.Union([Type.Literal("success"), Type.Literal("failed"), Type.Literal("queued")])),
            note: Type.Optional(Nullable(Note)),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: DagRun, ...ERRORS },
      },
    },
    async (request) => {
      const { dag_id, dag_run_id } = request.params;
      const body = request.body;
      request.auditNote = { objectType: "dag_run", objectId: dag_run_id, dagId: dag_id, details: { state: body.state, note_set: body.note !== undefined } };
      const run = await requireDagRun(db, oneDag(dag_id), dag_run_id);
      if (body.note !== undefined) {
        await db.updateTable("dag_run").set({ note: body.note, updated_at: Date.now() }).where("id", "=", run.id).execute();
      }
      if (body.state === "queued") await clearTaskInstances(store, run.dag_id, run.run_id, {});
      else if (body.state !== undefined && body.state !== run.state) await setDagRunState(store, run, body.state);
      return runJson(run.dag_id, run.run_id);
    },
  );

  app.delete(
    "/dags/:dag_id/dagRuns/:dag_run_id",
    {
      config: { access: { dag: "trigger" }, audit: "dag_run.delete" },
      schema: {
        tags: ["dag runs"],
        summary: "Delete a run with its task instances, tries, logs and XComs (needs runs:delete); a run with tasks on their way is refused",
        params: RunParams,
        response: { 204: NoContent, ...WITH_409 },
      },
    },
    async (request, reply) => {
      const { dag_id, dag_run_id } = request.params;
      request.auditNote = { objectType: "dag_run", objectId: dag_run_id, dagId: dag_id };
      const principal = principalOf(request);
      if (!can(principal, "runs:delete")) {
        throw new UpdraftError("UPDRAFT_E_FORBIDDEN", "deleting a run needs the permission 'runs:delete', which your roles do not grant", { hint: "ask an Admin for a role that grants it" });
      }
      await deleteDagRun(store, await requireDagRun(db, oneDag(dag_id), dag_run_id));
      return reply.code(204).send();
    },
  );

  app.post(
    "/dags/:dag_id/dagRuns/:dag_run_id/clear",
    {
      config: { access: { dag: "trigger" }, audit: "dag_run.clear" },
      // No body at all means the defaults (a dry run).
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
      schema: {
        tags: ["dag runs"],
        summary: "Clear a run's task instances so they run again (a dry run, the default, only says which)",
        params: RunParams,
        body: Type.Object(
          {
            dry_run: Type.Optional(Type.Boolean({ default: true, description: "only say what would be cleared (the default, as in Airflow)" })),
            only_failed: Type.Optional(Type.Boolean({ default: false, description: "only failed and upstream_failed task instances" })),
          },
          { additionalProperties: false },
        ),
        response: { 200: ChangeList, ...ERRORS },
      },
    },
    async (request) => {
      const { dag_id, dag_run_id } = request.params;
      const body = request.body;
      const dryRun = body.dry_run ?? true;
      request.auditNote = { objectType: "dag_run", objectId: dag_run_id, dagId: dag_id, details: { dry_run: dryRun, only_failed: body.only_failed ?? false }, dryRun };
      const run = await requireDagRun(db, oneDag(dag_id), dag_run_id);
      const affected = await clearTaskInstances(store, run.dag_id, run.run_id, { onlyFailed: body.only_failed ?? false, dryRun });
      return changeList(run, affected.map((a) => ({ taskId: a.taskId, previous: a.state, state: "none" })), dryRun);
    },
  );

  app.post(
    "/dags/:dag_id/dagRuns/:dag_run_id/mark",
    {
      config: { access: { dag: "trigger" }, audit: "dag_run.mark" },
      schema: {
        tags: ["dag runs"],
        summary: "Mark a run success or failed with the task instances that change with it (a dry run, the default, only says which)",
        params: RunParams,
        body: Type.Object(
          {
            state: Type.Union([Type.Literal("success"), Type.Literal("failed")]),
            dry_run: Type.Optional(Type.Boolean({ default: true, description: "only say what would change (the default)" })),
          },
          { additionalProperties: false },
        ),
        response: { 200: ChangeList, ...ERRORS },
      },
    },
    async (request) => {
      const { dag_id, dag_run_id } = request.params;
      const body = request.body;
      const dryRun = body.dry_run ?? true;
      request.auditNote = { objectType: "dag_run", objectId: dag_run_id, dagId: dag_id, details: { state: body.state, dry_run: dryRun }, dryRun };
      const run = await requireDagRun(db, oneDag(dag_id), dag_run_id);
      return changeList(run, await setDagRunState(store, run, body.state, { dryRun }), dryRun);
    },
  );
}
