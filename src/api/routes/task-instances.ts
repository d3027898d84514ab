/**
 * Task instances: lists (per run, and across runs and DAGs), one task instance, its tries, its
 * logs per try (tailed with a continuation token), its XComs (and those of every run and DAG, with
 * "~"); marking success or failed and clearing. Reads need { dag: "read" }; marking and clearing need { dag: "trigger" }.
 */
import { Type, type Static } from "typebox";
import { TI_STATES } from "../../dag/model.js";
import { UpdraftError } from "../../errors/index.js";
import { splitStack } from "../../errors/stack.js";
import { clearTaskInstances, markTaskInstances } from "../../scheduler/manual-ops.js";
import { queryTaskInstances, queryXcoms, type TiFilter, type TiListRow, type TiOrder, type XcomFilter, type XcomOrder } from "../../store/run-queries.js";
import { readLogs, requireDagRun, requireTaskInstance } from "../../store/runs.js";
import type { DagRunRow, TaskInstanceRow } from "../../store/schema.js";
import { principalOf, readableDagIds } from "../access.js";
import type { ApiDeps } from "../deps.js";
import { ChangeList, LogPage, TaskInstance, Try, XcomEntry } from "../models.js";
import { DagIdParam, ERRORS, Id, iso, MAX_PAGE, OneOf, Page, pageOf, RunParams, TaskParams } from "../schemas.js";
import type { ApiApp } from "../types.js";

/** "~" in a path stands for "every": only list routes accept it (it is never a DAG, run or task id). */
export const ANY = "~";

/** The DAG id of a route that acts on one DAG: "~" names none. */
export function oneDag(dagId: string): string {
  if (dagId === ANY) throw new UpdraftError("UPDRAFT_E_DAG_NOT_FOUND", `DAG '${ANY}' not found`, { hint: `'${ANY}' (every DAG) is only accepted by list routes` });
  return dagId;
}

export function tiJson(ti: TaskInstanceRow, run: { run_id: string; logical_date: number }) {
  return {
    dag_id: ti.dag_id,
    dag_run_id: run.run_id,
    task_id: ti.task_id,
    logical_date: iso(run.logical_date)!,
    state: ti.state,
    try_number: ti.try_number,
    max_tries: ti.max_tries,
    operator: ti.operator,
    pool: ti.pool,
    pool_slots: ti.pool_slots,
    queue: ti.queue,
    priority_weight: ti.priority_weight,
    scheduled_when: iso(ti.scheduled_at),
    queued_when: iso(ti.queued_at),
    start_date: iso(ti.start_date),
    end_date: iso(ti.end_date),
    duration_ms: ti.duration_ms,
    next_retry_at: iso(ti.next_retry_at),
    hostname: ti.hostname,
    pid: ti.pid,
    note: ti.note,
  };
}

export function changeList(run: DagRunRow, changes: Array<{ taskId: string; previous: string; state: string }>, dryRun: boolean) {
  return {
    task_instances: changes.map((c) => ({ dag_id: run.dag_id, dag_run_id: run.run_id, task_id: c.taskId, previous_state: c.previous, new_state: c.state })),
    total_entries: changes.length,
    dry_run: dryRun,
  };
}

const StateList = Type.Optional(Type.Array(OneOf(TI_STATES), { maxItems: TI_STATES.length, description: "any of these states" }));
const IdList = (description: string) => Type.Optional(Type.Array(Id(description), { maxItems: 100, description: `any of these (${description}s)` }));
const DateBound = (description: string) => Type.Optional(Type.String({ format: "date-time", description }));
const TI_ORDERS: TiOrder[] = ["id", "task_id", "start_date", "end_date", "duration_ms", "priority_weight", "updated_at"];

const TiListQuery = Type.Object(
  {
    ...Page,
    state: StateList,
    task_ids: IdList("task id"),
    pool: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 250 }), { maxItems: 100, description: "any of these pools" })),
    logical_date_gte: DateBound("runs with a logical date at or after this"),
    logical_date_lte: DateBound("runs with a logical date at or before this"),
    start_date_gte: DateBound("started at or after this"),
    start_date_lte: DateBound("started at or before this"),
    end_date_gte: DateBound("ended at or after this"),
    end_date_lte: DateBound("ended at or before this"),
    order_by: Type.Optional(OneOf(TI_ORDERS.flatMap((o) => [o, `-${o}` as const]), { default: "id", description: 'a column; "-" in front orders descending' })),
  },
  { additionalProperties: false },
);

const AcrossQuery = Type.Object(
  { ...TiListQuery.properties, dag_ids: IdList("DAG id"), dag_run_ids: IdList("run id") },
  { additionalProperties: false },
);

const ms = (text: string | undefined) => (text === undefined ? undefined : Date.parse(text));
const rangeOf = (gte: string | undefined, lte: string | undefined) => ({ gte: ms(gte), lte: ms(lte) });

/** The filter of either list: one run's (its path names the DAG and run) or the one across runs. */
function tiFilter(q: Static<typeof AcrossQuery>, readable: string[] | null): TiFilter {
  const order = q.order_by ?? "id";
  return {
    readable,
    dagIds: q.dag_ids,
    runIds: q.dag_run_ids,
    taskIds: q.task_ids,
    states: q.state,
    pools: q.pool,
    logicalDate: rangeOf(q.logical_date_gte, q.logical_date_lte),
    startDate: rangeOf(q.start_date_gte, q.start_date_lte),
    endDate: rangeOf(q.end_date_gte, q.end_date_lte),
    order: { column: order.replace(/^-/, "") as TiOrder, desc: order.startsWith("-") },
  };
}

const TiList = Type.Object({ task_instances: Type.Array(TaskInstance), total_entries: Type.Integer() }, { additionalProperties: false });
const listJson = (result: { rows: TiListRow[]; total: number }) => ({ task_instances: result.rows.map((r) => tiJson(r, r)), total_entries: result.total });

const LogsParams = Type.Object(
  { ...TaskParams.properties, try_number: Type.String({ minLength: 1, maxLength: 20, description: "a try number: 1 up to the task instance's try_number" }) },
  { additionalProperties: false },
);

const XCOM_ORDERS: XcomOrder[] = ["key", "timestamp", "dag_id", "task_id", "logical_date"];
const XcomListQuery = Type.Object(
  {
    ...Page,
    xcom_key: Type.Optional(Type.String({ minLength: 1, maxLength: 400, description: "only this key" })),
    logical_date_gte: DateBound("of runs with a logical date at or after this"),
    logical_date_lte: DateBound("of runs with a logical date at or before this"),
    order_by: Type.Optional(OneOf(XCOM_ORDERS.flatMap((o) => [o, `-${o}` as const]), { default: "key", description: 'a column; "-" in front orders descending' })),
  },
  { additionalProperties: false },
);
const XcomParams = Type.Object({ ...TaskParams.properties, xcom_key: Type.String({ minLength: 1, maxLength: 400, description: "XCom key ('return_value' for the task's output)" }) }, { additionalProperties: false });

const TOKEN_PREFIX = "log:";

/** The continuation token after log row `id`: opaque to clients. */
export function encodeLogToken(id: number): string {
  return Buffer.from(`${TOKEN_PREFIX}${id}`).toString("base64url");
}

export function decodeLogToken(token: string): number {
  const bad = () =>
    new UpdraftError("UPDRAFT_E_VALIDATION", "the continuation token is not valid", { hint: "pass the continuation_token of a previous response, or none to read from the start" });
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(token)) throw bad();
  const match = /^log:(0|[1-9][0-9]{0,14})$/.exec(Buffer.from(token, "base64url").toString("utf8"));
  if (!match || encodeLogToken(Number(match[1])) !== token) throw bad();
  return Number(match[1]);
}

/** A try's stored error (JSON: message, code, stack, retryable) as the tries answer shows it. */
function parseError(text: string | null): Pick<Static<typeof Try>, "error_message" | "error_code" | "stack" | "full_stack"> {
  const none = { error_message: null, error_code: null, stack: null, full_stack: null };
  if (!text) return none;
  try {
    const e = JSON.parse(text) as { message?: unknown; code?: unknown; stack?: unknown };
    const full = typeof e.stack === "string" ? e.stack : null;
    return {
      error_message: typeof e.message === "string" ? e.message : null,
      error_code: typeof e.code === "string" ? e.code : null,
      stack: full === null ? null : splitStack(full).user,
      full_stack: full,
    };
  } catch {
    return { ...none, error_message: text };
  }
}

export function registerTaskInstanceRoutes(app: ApiApp, { store }: ApiDeps): void {
  const db = store.db;

  const loadTi = async (p: Static<typeof TaskParams>) => {
    const run = await requireDagRun(db, oneDag(p.dag_id), p.dag_run_id);
    const ti = await requireTaskInstance(db, run, p.task_id);
    return { run, ti };
  };

  app.get(
    "/dags/:dag_id/dagRuns/:dag_run_id/taskInstances",
    {
      config: { access: { dag: "read" }, anyDag: true },
      schema: {
        tags: ["task instances"],
        summary: 'Task instances of a run ("~" for the DAG id or run id: of every DAG or run you may read)',
        params: RunParams,
        querystring: TiListQuery,
        response: { 200: TiList, ...ERRORS },
      },
    },
    async (request) => {
      const { dag_id, dag_run_id } = request.params;
      const q = request.query;
      const readable = dag_id === ANY ? await readableDagIds(db, principalOf(request)) : null;
      const filter = tiFilter(q, readable);
      if (dag_id !== ANY) filter.dagIds = [dag_id];
      if (dag_run_id !== ANY) {
        if (dag_id !== ANY) filter.dagRunIds = [(await requireDagRun(db, dag_id, dag_run_id)).id];
        else filter.runIds = [dag_run_id];
      }
      return listJson(await queryTaskInstances(db, filter, pageOf(q)));
    },
  );

  app.get(
    "/taskInstances",
    {
      config: { access: { dag: "read" } },
      schema: {
        tags: ["task instances"],
        summary: "Task instances across runs and DAGs you may read",
        querystring: AcrossQuery,
        response: { 200: TiList, ...ERRORS },
      },
    },
    async (request) => {
      const q = request.query;
      const readable = await readableDagIds(db, principalOf(request));
      return listJson(await queryTaskInstances(db, tiFilter(q, readable), pageOf(q)));
    },
  );

  app.get(
    "/dags/:dag_id/dagRuns/:dag_run_id/taskInstances/:task_id",
    {
      config: { access: { dag: "read" } },
      schema: { tags: ["task instances"], summary: "A task instance", params: TaskParams, response: { 200: TaskInstance, ...ERRORS } },
    },
    async (request) => {
      const { run, ti } = await loadTi(request.params);
      return tiJson(ti, run);
    },
  );

  app.get(
    "/dags/:dag_id/dagRuns/:dag_run_id/taskInstances/:task_id/tries",
    {
      config: { access: { dag: "read" } },
      schema: {
        tags: ["task instances"],
        summary: "The tries of a task instance, the current one included",
        params: TaskParams,
        querystring: Type.Object({ ...Page }, { additionalProperties: false }),
        response: { 200: Type.Object({ task_instance_tries: Type.Array(Try), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const { ti } = await loadTi(request.params);
      const { limit, offset } = pageOf(request.query);
      const rows = await db.selectFrom("task_try").selectAll().where("ti_id", "=", ti.id).orderBy("try_number").orderBy("id").execute();
      const tries = rows.map((t) => ({
        try_number: t.try_number,
        state: t.state,
        queued_when: iso(t.queued_at),
        start_date: iso(t.start_date),
        end_date: iso(t.end_date),
        duration_ms: t.duration_ms,
        hostname: t.hostname,
        pid: t.pid,
        ...parseError(t.error),
      }));
      // The try on its way (or the one a mark ended) has no history row yet.
      if (ti.try_number > 0 && !rows.some((t) => t.try_number === ti.try_number)) {
        tries.push({
          try_number: ti.try_number,
          state: ti.state,
          queued_when: iso(ti.queued_at),
          start_date: iso(ti.start_date),
          end_date: iso(ti.end_date),
          duration_ms: ti.duration_ms,
          hostname: ti.hostname,
          pid: ti.pid,
          ...parseError(null),
        });
      }
      return { task_instance_tries: tries.slice(offset, offset + limit), total_entries: tries.length };
    },
  );

  app.get(
    "/dags/:dag_id/dagRuns/:dag_run_id/taskInstances/:task_id/logs/:try_number",
    {
      config: { access: { dag: "read" } },
      schema: {
        tags: ["task instances"],
        summary: "Log lines of a try, oldest first; tail with the continuation token until finished",
        params: LogsParams,
        querystring: Type.Object(
          {
            continuation_token: Type.Optional(Type.String({ maxLength: 100, description: "from a previous response: only lines after it" })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: MAX_PAGE })),
          },
          { additionalProperties: false },
        ),
        response: { 200: LogPage, ...ERRORS },
      },
    },
    async (request) => {
      const params = request.params;
      const query = request.query;
      const afterId = query.continuation_token === undefined ? undefined : decodeLogToken(query.continuation_token);
      const limit = query.limit ?? MAX_PAGE;
      // The state is read before the lines: when the try was over then, every line of it is stored.
      const { run, ti } = await loadTi(params);
      const tryNumber = /^[1-9][0-9]{0,8}$/.test(params.try_number) ? Number(params.try_number) : 0;
      if (tryNumber < 1 || tryNumber > ti.try_number) {
        throw new UpdraftError("UPDRAFT_E_TASK_TRY_NOT_FOUND", `task '${ti.task_id}' of run '${run.run_id}' has no try ${JSON.stringify(params.try_number.slice(0, 20))}`, {
          hint: ti.try_number > 0 ? `its tries are 1 to ${ti.try_number}` : "it has not run yet",
        });
      }
      const over = tryNumber < ti.try_number || (ti.state !== "queued" && ti.state !== "running");
      const rows = await readLogs(db, ti.id, tryNumber, { ...(afterId !== undefined ? { afterId } : {}), limit: limit + 1 });
      const more = rows.length > limit;
      const lines = rows.slice(0, limit);
      const last = lines.at(-1);
      return {
        lines: lines.map((l) => ({ ts: iso(l.ts)!, stream: l.stream, level: l.level, message: l.message })),
        continuation_token: last ? encodeLogToken(last.id) : (query.continuation_token ?? null),
        finished: over && !more,
      };
    },
  );

  const xcomJson = (run: { dag_id: string; run_id: string }, row: { task_id: string; key: string; value: string; created_at: number }) => {
    let value: unknown;
    try {
      value = JSON.parse(row.value);
    } catch {
      value = row.value;
    }
    return { dag_id: run.dag_id, dag_run_id: run.run_id, task_id: row.task_id, key: row.key, value, timestamp: iso(row.created_at)! };
  };

  app.get(
    "/dags/:dag_id/dagRuns/:dag_run_id/taskInstances/:task_id/xcomEntries",
    {
      config: { access: { dag: "read" }, anyDag: true },
      schema: {
        tags: ["task instances"],
        summary: 'XCom entries of a task instance (its output is key \'return_value\'); "~" for the DAG, run or task id: of every one you may read',
        params: TaskParams,
        querystring: XcomListQuery,
        response: { 200: Type.Object({ xcom_entries: Type.Array(XcomEntry), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const { dag_id, dag_run_id, task_id } = request.params;
      const q = request.query;
      const order = q.order_by ?? "key";
      // As the other "~" lists: every DAG the caller may read, filtered in SQL before paging.
      const filter: XcomFilter = {
        readable: dag_id === ANY ? await readableDagIds(db, principalOf(request)) : null,
        ...(q.xcom_key !== undefined ? { keys: [q.xcom_key] } : {}),
        logicalDate: rangeOf(q.logical_date_gte, q.logical_date_lte),
        order: { column: order.replace(/^-/, "") as XcomOrder, desc: order.startsWith("-") },
      };
      if (dag_id !== ANY) filter.dagIds = [dag_id];
      if (dag_run_id !== ANY) {
        if (dag_id === ANY) filter.runIds = [dag_run_id];
        else {
          const run = await requireDagRun(db, dag_id, dag_run_id);
          filter.dagRunIds = [run.id];
          // A task instance named in full must exist, as on the task instance's other routes.
          if (task_id !== ANY) await requireTaskInstance(db, run, task_id);
        }
      }
      if (task_id !== ANY) filter.taskIds = [task_id];
      const result = await queryXcoms(db, filter, pageOf(q));
      return { xcom_entries: result.rows.map((r) => xcomJson(r, r)), total_entries: result.total };
    },
  );

  app.get(
    "/dags/:dag_id/dagRuns/:dag_run_id/taskInstances/:task_id/xcomEntries/:xcom_key",
    {
      config: { access: { dag: "read" } },
      schema: { tags: ["task instances"], summary: "One XCom entry", params: XcomParams, response: { 200: XcomEntry, ...ERRORS } },
    },
    async (request) => {
      const params = request.params;
      const { run, ti } = await loadTi(params);
      const row = await db
        .selectFrom("xcom")
        .select(["task_id", "key", "value", "created_at"])
        .where("dag_run_id", "=", run.id)
        .where("task_id", "=", ti.task_id)
        .where("key", "=", params.xcom_key)
        .executeTakeFirst();
      if (!row) throw new UpdraftError("UPDRAFT_E_XCOM_NOT_FOUND", `task '${ti.task_id}' of run '${run.run_id}' has no XCom '${params.xcom_key.slice(0, 100)}'`);
      return xcomJson(run, row);
    },
  );

  app.patch(
    "/dags/:dag_id/dagRuns/:dag_run_id/taskInstances/:task_id",
    {
      config: { access: { dag: "trigger" }, audit: "task_instance.set_state" },
      schema: {
        tags: ["task instances"],
        summary: "Mark a task instance (and optionally its downstream) success or failed",
        params: TaskParams,
        body: Type.Object(
          {
            new_state: Type.Union([Type.Literal("success"), Type.Literal("failed")]),
            include_downstream: Type.Optional(Type.Boolean({ default: false })),
            dry_run: Type.Optional(Type.Boolean({ default: false, description: "only say what would change" })),
          },
          { additionalProperties: false },
        ),
        response: { 200: ChangeList, ...ERRORS },
      },
    },
    async (request) => {
      const params = request.params;
      const body = request.body;
      const dryRun = body.dry_run ?? false;
      request.auditNote = { objectType: "task_instance", objectId: `${params.dag_run_id}/${params.task_id}`, dagId: params.dag_id, details: { ...body }, dryRun };
      const { run } = await loadTi(params);
      const affected = await markTaskInstances(store, run.dag_id, run.run_id, [params.task_id], body.new_state, { downstream: body.include_downstream ?? false, dryRun });
      return changeList(run, affected.map((a) => ({ taskId: a.taskId, previous: a.state, state: body.new_state })), dryRun);
    },
  );

  app.post(
    "/dags/:dag_id/clearTaskInstances",
    {
      config: { access: { dag: "trigger" }, audit: "task_instance.clear" },
      schema: {
        tags: ["task instances"],
        summary: "Clear task instances of a run so they run again (a dry run, the default, only says which)",
        params: DagIdParam,
        body: Type.Object(
          {
            dag_run_id: Id("run id"),
            task_ids: Type.Optional(Type.Array(Id("task id"), { minItems: 1, maxItems: 1000, description: "default: every task" })),
            include_downstream: Type.Optional(Type.Boolean({ default: false })),
            include_upstream: Type.Optional(Type.Boolean({ default: false })),
            only_failed: Type.Optional(Type.Boolean({ default: false, description: "only failed and upstream_failed task instances" })),
            dry_run: Type.Optional(Type.Boolean({ default: true, description: "only say what would be cleared (the default, as in Airflow)" })),
          },
          { additionalProperties: false },
        ),
        response: { 200: ChangeList, ...ERRORS },
      },
    },
    async (request) => {
      const dagId = oneDag(request.params.dag_id);
      const body = request.body;
      const dryRun = body.dry_run ?? true;
      request.auditNote = { objectType: "dag_run", objectId: body.dag_run_id, dagId, details: { ...body }, dryRun };
      const run = await requireDagRun(db, dagId, body.dag_run_id);
      const affected = await clearTaskInstances(store, dagId, run.run_id, {
        ...(body.task_ids ? { taskIds: body.task_ids } : {}),
        downstream: body.include_downstream ?? false,
        upstream: body.include_upstream ?? false,
        onlyFailed: body.only_failed ?? false,
        dryRun,
      });
      return changeList(run, affected.map((a) => ({ taskId: a.taskId, previous: a.state, state: "none" })), dryRun);
    },
  );
}

