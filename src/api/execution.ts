/**
 * The task-execution API, `/execution/v1`: the only channel of a remote worker. Each route names
 * one try and is called with that try's token (a JWT the scheduler signs for the try, carried in
 * its broker message): the token's try must be the one the path names, so a worker holding a try
 * can touch nothing else. Every state change goes through src/execution (compare-and-set on the
 * try id and the state it expects), so a late, repeated or fenced call is refused with a code and
 * changes nothing.
 */
import { createHash } from "node:crypto";
import { Type, type Static } from "typebox";
import { UpdraftError } from "../errors/index.js";
import { handBackTries } from "../execution/orphans.js";
import { tryPayloads } from "../execution/payload.js";
import { appendLogs, beatTries, claimTries, finishTries, pushXcoms, startTries, type CurrentRow, type Refusal } from "../execution/tries.js";
import { parseTryId } from "../execution/try-id.js";
import type { DispatchItem, TryResult } from "../runner/protocol.js";
import type { RunCache } from "../scheduler/run-cache.js";
import { connectionForTask } from "../store/connections.js";
import { getBundleCode } from "../store/dags.js";
import { appendEvents, notifyEventListeners, type StoredEvent } from "../store/events.js";
import type { SqlContext } from "../store/sql.js";
import { variableForTask } from "../store/variables.js";
import { issueTryToken, TOKEN_GRACE_MS, TOKEN_WITHOUT_TIMEOUT_MS } from "../security/tokens.js";
import { checkJsonDepth } from "../util/json-depth.js";
import type { ApiDeps } from "./deps.js";
import { ErrorBody, ERRORS, Id, NoContent, Nullable, OneOf } from "./schemas.js";
import { TurnBatch } from "./turn-batch.js";
import type { ApiApp } from "./types.js";

export const EXECUTION_PREFIX = "/execution/v1";

/** A run token that expires sooner than this is renewed by the heartbeat's answer. */
const TOKEN_RENEW_BEFORE_MS = 60 * 60_000;

const TryParams = Type.Object({ try_id: Type.String({ minLength: 1, maxLength: 80, description: "try id" }) }, { additionalProperties: false });
const EXECUTION_ERRORS = { ...ERRORS, 409: ErrorBody };
const TAGS = ["execution"];

const Payload = Type.Object(
  {
    tryId: Type.String(),
    tiId: Type.Integer(),
    dagRunId: Type.Integer(),
    dagId: Type.String(),
    runId: Type.String(),
    taskId: Type.String(),
    tryNumber: Type.Integer(),
    maxTries: Type.Integer(),
    bundleHash: Type.String({ description: "sha256 of the bundle's code, hex; GET /execution/v1/bundles/{hash}" }),
    logicalDate: Type.Integer(),
    dataIntervalStart: Type.Integer(),
    dataIntervalEnd: Type.Integer(),
    ds: Type.String(),
    params: Type.String({ description: "JSON text" }),
    conf: Type.String({ description: "JSON text" }),
    inputs: Type.Record(Type.String(), Type.String(), { description: "the output (JSON text) of each upstream task that feeds this task" }),
    executionTimeoutMs: Nullable(Type.Integer()),
    xcomMaxBytes: Type.Integer(),
    queue: Type.String(),
  },
  { additionalProperties: false },
);

const LogLineIn = Type.Object(
  {
    ts: Type.Integer({ minimum: 0 }),
    stream: OneOf(["log", "stdout", "stderr"] as const),
    level: OneOf(["info", "warn", "error"] as const),
    message: Type.String({ maxLength: 128 * 1024, description: "runners cut longer lines at 64 KiB" }),
  },
  { additionalProperties: false },
);

const TryErrorIn = Type.Object(
  {
    message: Type.String({ maxLength: 64 * 1024 }),
    code: Nullable(Type.String({ maxLength: 100 })),
    stack: Nullable(Type.String({ maxLength: 64 * 1024 })),
    retryable: Type.Boolean(),
  },
  { additionalProperties: false },
);

const FinishBody = Type.Object(
  {
    outcome: OneOf(["success", "failed", "skipped"] as const),
    output: Type.Optional(Type.String({ description: "JSON text of the task's output; absent when it returned nothing" })),
    error: Type.Optional(TryErrorIn),
    lines: Type.Optional(Type.Array(LogLineIn, { maxItems: 10_000, description: "log lines not sent yet, stored with the end" })),
  },
  { additionalProperties: false },
);
type FinishBody = Static<typeof FinishBody>;

/** A refusal by the store as the API answers it: the try is unknown (404), or moved on (409). */
function refusal(r: Refusal): UpdraftError {
  const hint =
    r.code === "UPDRAFT_E_TRY_STALE"
      ? "the task instance moved on (it ended, or was marked, cleared or handed back): stop the try and drop its result"
      : r.code === "UPDRAFT_E_TRY_UNKNOWN"
        ? "no task instance has this try (its run was deleted?): stop the try"
        : "send each report once";
  return new UpdraftError(r.code, r.message, { hint });
}

/** A task instance as the execution routes read it. */
type CurrentTi = Omit<CurrentRow, "queued_at" | "start_date"> & { claim_hash: string | null };

const claimHash = (claim: string) => createHash("sha256").update(claim).digest("hex");

/** What the execution routes use beside the API's own dependencies. */
export interface ExecutionDeps extends ApiDeps {
  /** DAG versions and run facts, read once (retry options, payloads). */
  cache: RunCache;
}

export function registerExecutionRoutes(app: ApiApp, deps: ExecutionDeps): void {
  const { store, cache, config, keyring } = deps;
  const inTrx = <T>(fn: (ctx: SqlContext) => Promise<T>) => store.transaction((trx) => fn({ db: trx, dialect: store.dialect }));
  const access = "try" as const;
  // A try's output and XComs may reach xcomMaxBytes, sent as JSON text inside a JSON body (its
  // quotes escaped): such a body may be larger than the REST API's limit.
  const bodyLimit = Math.max(config.bodyLimitBytes, 2 * config.xcomMaxBytes + 1024 * 1024);

  /** The try's task instance as it is now (null when no task instance has this try id's). */
  const current = async (ctx: SqlContext, tryId: string) => {
    const parsed = parseTryId(tryId);
    if (!parsed) return null;
    return (
      (await ctx.db
        .selectFrom("task_instance")
        .select(["id", "dag_run_id", "dag_id", "task_id", "state", "try_id", "try_number", "max_tries", "hostname", "pid"])
        .where("id", "=", parsed.tiId)
        .executeTakeFirst()) ?? null
    );
  };
  /** The task instances of these tries as they are now, by try id (those that exist). */
  const currentRows = async (ctx: SqlContext, tryIds: readonly string[]) => {
    const byTi = new Map<number, string[]>();
    for (const tryId of tryIds) {
      const parsed = parseTryId(tryId);
      if (parsed) byTi.set(parsed.tiId, [...(byTi.get(parsed.tiId) ?? []), tryId]);
    }
    const found = new Map<string, CurrentTi>();
    if (byTi.size === 0) return found;
    const rows = await ctx.db
      .selectFrom("task_instance")
      .select(["id", "dag_run_id", "dag_id", "task_id", "state", "try_id", "try_number", "max_tries", "hostname", "pid", "claim_hash"])
      .where("id", "in", [...byTi.keys()])
      .execute();
    for (const row of rows) for (const tryId of byTi.get(row.id) ?? []) found.set(tryId, row);
    return found;
  };
  /** The try's task instance, while this try is its current one and in flight; else the refusal. */
  const inFlight = async (ctx: SqlContext, tryId: string) => {
    const row = await current(ctx, tryId);
    if (!row) throw refusal({ tryId, code: "UPDRAFT_E_TRY_UNKNOWN", message: "no task instance has this try" });
    if (row.try_id !== tryId || (row.state !== "queued" && row.state !== "running")) {
      throw refusal({ tryId, code: "UPDRAFT_E_TRY_STALE", message: `the try is no longer current: its task instance is ${row.state}${row.try_id === tryId ? "" : " under another try"}` });
    }
    return row;
  };
  /** Starts that arrive together, in one transaction: each a compare-and-set from queued, then its payload. */
  const starts = new TurnBatch<{ tryId: string; hostname: string; pid: number; claim: string }, DispatchItem>(async (items) => {
    const now = Date.now();
    const { answers, events } = await inTrx(async (ctx) => {
      // One start per try: the first caller's (a second is what a second delivery is).
      const unique = new Map<string, (typeof items)[number]>();
      for (const item of items) if (!unique.has(item.tryId)) unique.set(item.tryId, item);
      const started = new Set((await startTries(ctx, [...unique.values()].map((i) => ({ tryId: i.tryId, hostname: i.hostname, pid: i.pid, at: now })), now)).map((s) => s.tryId));
      await claimTries(ctx, [...unique.values()].filter((i) => started.has(i.tryId)).map((i) => ({ tryId: i.tryId, claimHash: claimHash(i.claim) })), now);
      const rows = await currentRows(ctx, items.map((i) => i.tryId));
      const answers: Array<DispatchItem | Error> = [];
      const ok: Array<{ index: number; row: CurrentTi; fresh: boolean }> = [];
      const claimed = new Set<string>();
      items.forEach((item, index) => {
        const row = rows.get(item.tryId);
        // The first caller of a try in the batch started it; the others are what a second delivery is.
        const fresh = started.has(item.tryId) && !claimed.has(item.tryId);
        claimed.add(item.tryId);
        if (!row) answers[index] = refusal({ tryId: item.tryId, code: "UPDRAFT_E_TRY_UNKNOWN", message: "no task instance has this try" });
        // A start asked again (its answer was lost) is answered only to the claim that started it.
        else if (!fresh && (row.try_id !== item.tryId || row.state !== "running" || row.claim_hash !== claimHash(item.claim))) {
          answers[index] = refusal({ tryId: item.tryId, code: "UPDRAFT_E_TRY_STALE", message: row.try_id !== item.tryId || row.state !== "running" ? `the try is no longer current: its task instance is ${row.state}` : `the try was started already on ${row.hostname ?? "another host"}` });
        } else ok.push({ index, row, fresh });
      });
      // A fresh start recorded its first beat with its claim; a start asked again beats here.
      await beatTries(ctx, ok.filter((o) => !o.fresh).map((o) => items[o.index]!.tryId), now);
      const payloads = new Map(
        (
          await tryPayloads(
            ctx,
            cache,
            ok.map(({ index, row }) => ({ tryId: items[index]!.tryId, tiId: row.id, dagRunId: row.dag_run_id, dagId: row.dag_id, taskId: row.task_id, tryNumber: row.try_number, maxTries: row.max_tries })),
            config.xcomMaxBytes,
          )
        ).map((p) => [p.tryId, p]),
      );
      const events: StoredEvent[] = [];
      for (const { index, row, fresh } of ok) {
        const payload = payloads.get(items[index]!.tryId);
        if (!payload) {
          answers[index] = refusal({ tryId: items[index]!.tryId, code: "UPDRAFT_E_TRY_UNKNOWN", message: "the try's DAG run or task is no longer stored" });
          continue;
        }
        answers[index] = payload;
        if (fresh) events.push({ kind: "ti-state", dag_id: row.dag_id, run_id: payload.runId, task_id: row.task_id, state: "running" });
      }
      await appendEvents(ctx, events, now, store.eventChannel);
      return { answers, events };
    });
    if (events.length > 0) store.eventsAppended();
    return answers;
  });

  /** Ends that arrive together, in one transaction, each applied by the compare-and-set of finishTries. */
  const finishes = new TurnBatch<{ tryId: string; body: FinishBody }, string>(async (items) => {
    const now = Date.now();
    const answers = await store.transaction(async (trx) => {
      const ctx: SqlContext = { db: trx, dialect: store.dialect };
      // The end is dated by this server's clock, as the start was: a worker's clock may be off.
      const reports = items.map(({ tryId, body }) => ({
        tryId,
        result: { outcome: body.outcome, at: now, ...(body.output !== undefined ? { output: body.output } : {}), ...(body.error ? { error: body.error } : {}) } as TryResult,
      }));
      const { ended, refused } = await finishTries(ctx, cache, reports, now);
      const endedBy = new Map(ended.map((e) => [e.tryId, e]));
      // The lines that came with an end are the try's own once the end applied.
      const firstOf = new Map<string, number>();
      items.forEach(({ tryId }, i) => firstOf.has(tryId) || firstOf.set(tryId, i));
      await appendLogs(ctx, items.flatMap(({ tryId, body }, i) => (endedBy.has(tryId) && firstOf.get(tryId) === i && body.lines && body.lines.length > 0 ? [{ tryId, lines: body.lines }] : [])));
      const runs = await cache.runs(trx, ended.map((e) => e.dagRunId));
      const events: StoredEvent[] = ended.flatMap((e) => {
        const run = runs.get(e.dagRunId);
        return run ? [{ kind: "ti-state" as const, dag_id: run.dagId, run_id: run.runId, task_id: e.taskId, state: e.state }] : [];
      });
      await appendEvents(ctx, events, now, store.eventChannel);
      const refusedBy = new Map<string, Refusal[]>();
      for (const r of refused) refusedBy.set(r.tryId, [...(refusedBy.get(r.tryId) ?? []), r]);
      const seen = new Set<string>();
      return items.map(({ tryId }): string | Error => {
        const first = !seen.has(tryId);
        seen.add(tryId);
        const applied = endedBy.get(tryId);
        if (applied && first) return applied.state;
        const why = refusedBy.get(tryId)?.shift();
        return why ? refusal(why) : refusal({ tryId, code: "UPDRAFT_E_TRY_DUPLICATE", message: "the try's end is reported twice at once; the first report counts" });
      });
    });
    // The scheduler goes on from here (downstream tasks, the run's state): the events appended with
    // the ends wake it, in this process or through the database.
    store.eventsAppended();
    return answers;
  });

  app.post(
    "/tries/:try_id/start",
    {
      config: { access },
      schema: {
        tags: TAGS,
        summary: "Start the try: marks it running on this worker and returns what the runner needs",
        description:
          "A compare-and-set from queued to running. Calling it again from the same host and pid (a lost answer) returns the payload again; any other caller of a try that already started gets 409 UPDRAFT_E_TRY_STALE and must drop the message.",
        params: TryParams,
        body: Type.Object(
          {
            hostname: Type.String({ minLength: 1, maxLength: 255 }),
            pid: Type.Integer({ minimum: 0, maximum: 2 ** 31 }),
            claim: Type.String({ minLength: 16, maxLength: 128, description: "a secret of the worker process: a start asked again is answered only with the same claim" }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            {
              payload: Payload,
              token: Type.String({ description: "the try token for every other call of this try (the message's token only starts it)" }),
              fenceAfterMs: Type.Integer({ description: "the worker stops the try when its heartbeats have failed this long: half the scheduler's zombie threshold" }),
            },
            { additionalProperties: false },
          ),
          ...EXECUTION_ERRORS,
        },
      },
    },
    async (request) => {
      const { try_id: tryId } = request.params;
      const payload = await starts.add({ tryId, ...request.body });
      // Its lifetime counts from the start: the time the message waited in the queue is not the try's.
      const token = await issueTryToken(deps.auth.signingKey, tryId, (payload.executionTimeoutMs ?? TOKEN_WITHOUT_TIMEOUT_MS) + TOKEN_GRACE_MS, "run");
      // Half the zombie threshold: a try whose worker lost the API is stopped well before the
      // scheduler, which sees the same silence, may run it again.
      return { payload, token, fenceAfterMs: Math.floor(config.zombieThresholdMs / 2) };
    },
  );

  app.post(
    "/tries/:try_id/heartbeat",
    {
      config: { access },
      schema: {
        tags: TAGS,
        summary: "The try is alive; the answer says whether it must stop",
        description: "`stop: true` when the task instance moved on (marked, cleared, handed back or deleted): the worker kills the try and drops its result.",
        params: TryParams,
        response: {
          200: Type.Object(
            {
              stop: Type.Boolean(),
              state: Nullable(Type.String()),
              token: Type.Optional(Type.String({ description: "a new run token, when the one used expires within the hour: use it from now on" })),
            },
            { additionalProperties: false },
          ),
          ...EXECUTION_ERRORS,
        },
      },
    },
    async (request) => {
      const { try_id: tryId } = request.params;
      const [stop] = await inTrx((ctx) => beatTries(ctx, [tryId], Date.now()));
      if (stop) return { stop: true, state: stop.state };
      // A try that runs longer than its token lasts (no execution timeout) gets a new one while it beats.
      const renew = request.tryScope === "run" && request.tryTokenExpiresAt !== null && request.tryTokenExpiresAt - Date.now() < TOKEN_RENEW_BEFORE_MS;
      return { stop: false, state: "running", ...(renew ? { token: await issueTryToken(deps.auth.signingKey, tryId, 2 * TOKEN_RENEW_BEFORE_MS, "run") } : {}) };
    },
  );

  app.post(
    "/tries/:try_id/logs",
    {
      config: { access },
      bodyLimit,
      schema: {
        tags: TAGS,
        summary: "Log lines of the try, in order",
        description: "Kept while the try is its task instance's latest (also for a while after it ended: what a stopped try logs on its way out).",
        params: TryParams,
        body: Type.Object({ lines: Type.Array(LogLineIn, { minItems: 1, maxItems: 10_000 }) }, { additionalProperties: false }),
        response: { 204: NoContent, ...EXECUTION_ERRORS },
      },
    },
    async (request, reply) => {
      const { try_id: tryId } = request.params;
      await inTrx(async (ctx) => {
        // The try's own log while it is its task instance's latest (a try that ended still logs
        // its way out; one handed back and queued again under a new try id does not).
        const row = await current(ctx, tryId);
        if (!row) throw refusal({ tryId, code: "UPDRAFT_E_TRY_UNKNOWN", message: "no task instance has this try" });
        if (row.try_id !== tryId) throw refusal({ tryId, code: "UPDRAFT_E_TRY_STALE", message: "the task instance has another try now" });
        await appendLogs(ctx, [{ tryId, lines: request.body.lines }]);
        // Live log tails follow task_log when told something changed.
        await notifyEventListeners(ctx, store.eventChannel);
      });
      store.eventsAppended();
      return reply.code(204).send();
    },
  );

  app.put(
    "/tries/:try_id/xcoms/:key",
    {
      config: { access },
      bodyLimit,
      schema: {
        tags: TAGS,
        summary: "Push an XCom of the try's task",
        params: Type.Object({ try_id: TryParams.properties.try_id, key: Id("XCom key", 200) }, { additionalProperties: false }),
        body: Type.Object({ value: Type.String({ description: "JSON text" }) }, { additionalProperties: false }),
        response: { 204: NoContent, ...EXECUTION_ERRORS, 422: ErrorBody },
      },
    },
    async (request, reply) => {
      const { try_id: tryId, key } = request.params;
      const { value } = request.body;
      checkJsonText(value, config.xcomMaxBytes, `XCom '${key}'`);
      await inTrx(async (ctx) => {
        await inFlight(ctx, tryId);
        await pushXcoms(ctx, [{ tryId, key, value }], Date.now());
      });
      return reply.code(204).send();
    },
  );

  app.get(
    "/tries/:try_id/xcoms/:task_id/:key",
    {
      config: { access },
      schema: {
        tags: TAGS,
        summary: "An XCom of a task of the try's own DAG run (null when there is none)",
        params: Type.Object({ try_id: TryParams.properties.try_id, task_id: Id("task id"), key: Id("XCom key", 200) }, { additionalProperties: false }),
        response: { 200: Type.Object({ value: Nullable(Type.String()) }, { additionalProperties: false }), ...EXECUTION_ERRORS },
      },
    },
    async (request) => {
      const { try_id: tryId, task_id: taskId, key } = request.params;
      const row = await inFlight({ db: store.db, dialect: store.dialect }, tryId);
      const found = await store.db.selectFrom("xcom").select("value").where("dag_run_id", "=", row.dag_run_id).where("task_id", "=", taskId).where("key", "=", key).executeTakeFirst();
      return { value: found?.value ?? null };
    },
  );

  app.get(
    "/tries/:try_id/variables/:key",
    {
      config: { access },
      schema: {
        tags: TAGS,
        summary: "A variable the try reads (decrypted; `secret` says its value is masked in logs)",
        params: Type.Object({ try_id: TryParams.properties.try_id, key: Id("variable key") }, { additionalProperties: false }),
        response: { 200: Type.Object({ value: Type.String(), secret: Type.Boolean() }, { additionalProperties: false }), ...EXECUTION_ERRORS },
      },
    },
    async (request) => {
      await inFlight({ db: store.db, dialect: store.dialect }, request.params.try_id);
      const variable = await variableForTask(store.db, keyring, request.params.key);
      if (!variable) throw new UpdraftError("UPDRAFT_E_VARIABLE_NOT_FOUND", `variable '${request.params.key}' is not set`);
      return variable;
    },
  );

  app.get(
    "/tries/:try_id/connections/:conn_id",
    {
      config: { access },
      schema: {
        tags: TAGS,
        summary: "A connection the try reads, with its password and extra decrypted",
        params: Type.Object({ try_id: TryParams.properties.try_id, conn_id: Id("connection id") }, { additionalProperties: false }),
        response: {
          200: Type.Object(
            {
              connType: Type.String(),
              description: Nullable(Type.String()),
              host: Nullable(Type.String()),
              port: Nullable(Type.Integer()),
              schema: Nullable(Type.String()),
              login: Nullable(Type.String()),
              password: Nullable(Type.String()),
              extra: Nullable(Type.Record(Type.String(), Type.Unknown())),
            },
            { additionalProperties: false },
          ),
          ...EXECUTION_ERRORS,
        },
      },
    },
    async (request) => {
      await inFlight({ db: store.db, dialect: store.dialect }, request.params.try_id);
      const connection = await connectionForTask(store.db, keyring, request.params.conn_id);
      if (!connection) throw new UpdraftError("UPDRAFT_E_CONNECTION_NOT_FOUND", `connection '${request.params.conn_id}' is not defined`);
      return connection;
    },
  );

  app.post(
    "/tries/:try_id/finish",
    {
      config: { access },
      bodyLimit,
      schema: {
        tags: TAGS,
        summary: "The try ended: its result (output or error), applied once",
        description:
          "Applied only while the try is its task instance's current one and in flight; a retryable failure with tries left becomes up_for_retry. The answer is the state the task instance took. A second or late report gets 409 UPDRAFT_E_TRY_STALE and changes nothing.",
        params: TryParams,
        body: FinishBody,
        response: { 200: Type.Object({ state: Type.String() }, { additionalProperties: false }), ...EXECUTION_ERRORS, 422: ErrorBody },
      },
    },
    async (request) => {
      const { try_id: tryId } = request.params;
      const body = request.body;
      if (body.output !== undefined) checkJsonText(body.output, config.xcomMaxBytes, "the task's output");
      if (body.outcome === "failed" && !body.error) throw new UpdraftError("UPDRAFT_E_VALIDATION", "a failed try needs its error", { hint: "send error: { message, code, stack, retryable }" });
      return { state: await finishes.add({ tryId, body }) };
    },
  );

  app.post(
    "/tries/:try_id/handback",
    {
      config: { access },
      schema: {
        tags: TAGS,
        summary: "Hand the running try back: its worker is stopping; it runs again, without using up a retry",
        description: "The task instance goes back to scheduled, with the try in its history as interrupted. 409 when the try is no longer running here.",
        params: TryParams,
        response: { 204: NoContent, ...EXECUTION_ERRORS },
      },
    },
    async (request, reply) => {
      const { try_id: tryId } = request.params;
      const now = Date.now();
      await inTrx(async (ctx) => {
        const handed = await handBackTries(ctx.db, cache, { tryIds: [tryId], interrupted: true, now });
        if (handed.runs.size === 0) {
          await inFlight(ctx, tryId);
          throw refusal({ tryId, code: "UPDRAFT_E_TRY_STALE", message: "the try is not running" });
        }
        const row = await current(ctx, tryId);
        const run = row ? (await cache.runs(ctx.db, [row.dag_run_id])).get(row.dag_run_id) : undefined;
        if (row && run) await appendEvents(ctx, [{ kind: "ti-state", dag_id: row.dag_id, run_id: run.runId, task_id: row.task_id, state: row.state }], now, store.eventChannel);
      });
      store.eventsAppended();
      return reply.code(204).send();
    },
  );

  app.get(
    "/bundles/:hash",
    {
      config: { access },
      schema: {
        tags: TAGS,
        summary: "The code of the try's DAG bundle, by its content hash (the worker checks the hash and keeps the file)",
        description: "The try token must be for a try whose DAG run uses this bundle.",
        params: Type.Object({ hash: Type.String({ pattern: "^[0-9a-f]{64}$" }) }, { additionalProperties: false }),
        response: { 200: Type.String(), ...EXECUTION_ERRORS },
      },
    },
    async (request, reply) => {
      const tryId = request.tryId!;
      const row = await inFlight({ db: store.db, dialect: store.dialect }, tryId);
      const run = (await cache.runs(store.db, [row.dag_run_id])).get(row.dag_run_id);
      if (!run || run.bundleHash !== request.params.hash) throw new UpdraftError("UPDRAFT_E_FORBIDDEN", "this try's DAG run does not use that bundle", { hint: "ask for the bundleHash of the try's payload" });
      const code = await getBundleCode(store.db, request.params.hash);
      return reply.type("text/javascript; charset=utf-8").header("cache-control", "private, max-age=31536000, immutable").send(code);
    },
  );
}

/** A value a try sends as JSON text: valid JSON within the XCom size limit. */
function checkJsonText(text: string, maxBytes: number, what: string): void {
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) throw new UpdraftError("UPDRAFT_E_XCOM_TOO_LARGE", `${what} is ${bytes} bytes, above xcomMaxBytes (${maxBytes})`, { hint: "store large data elsewhere and pass a reference" });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UpdraftError("UPDRAFT_E_XCOM_NOT_SERIALIZABLE", `${what} is not JSON text`);
  }
  checkJsonDepth(value, what);
}
