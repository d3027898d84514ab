/**
 * The task-execution API (/execution/v1), a remote worker's only channel: a try's start, beat,
 * logs, XComs, variables, bundle and end, each with the try's own token; everything a token of
 * another try, an expired one, a user's token or none asks is refused, and a repeated or late
 * report changes nothing. On every dialect, through the real API and store.
 */
import { createHash } from "node:crypto";
import { SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { queueTries } from "../../src/execution/tries.js";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { issueTryToken, verifyTryToken } from "../../src/security/tokens.js";
import type { SqlContext } from "../../src/store/sql.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createApiEnv, type ApiEnv } from "./helpers.js";

const DAGS = {
  "remote.ts": `
    import { dag, task } from "updraft";
    const extract = task({ id: "extract", retries: 1, run: () => ({ rows: 3 }) });
    const load = task({ id: "load", run: (x: { rows: number }) => x.rows });
    export default dag({ id: "remote" }, () => { load(extract()); });
  `,
};

let api: ApiEnv | undefined;
afterEach(async () => {
  await api?.cleanup();
  api = undefined;
});

async function setUp(dialect: (typeof DIALECTS)[number]) {
  api = await createApiEnv({ dialect, dags: DAGS, users: [{ username: "admin", roles: ["Admin"] }] });
  const a = api;
  const store = a.env.store;
  const run = await triggerDagRun(store, "remote");
  const inTrx = <T>(fn: (ctx: SqlContext) => Promise<T>) => store.transaction((trx) => fn({ db: trx, dialect: store.dialect }));
  const ti = (taskId: string) => store.db.selectFrom("task_instance").selectAll().where("dag_run_id", "=", run.id).where("task_id", "=", taskId).executeTakeFirstOrThrow();
  /**
   * Queues a new try of the task, as the scheduler would: its try id, the start token of its
   * broker message, and a run token such as its start answers.
   */
  const queue = async (taskId: string) => {
    const row = await ti(taskId);
    await store.db.updateTable("task_instance").set({ state: "scheduled" }).where("id", "=", row.id).execute();
    const tryId = (await inTrx((ctx) => queueTries(ctx, [{ id: row.id, tryNumber: row.try_number }], 0, Date.now()))).get(row.id)!;
    return { tryId, startToken: await issueTryToken(a.signingKey, tryId, 60_000, "start"), token: await issueTryToken(a.signingKey, tryId, 60_000), tiId: row.id };
  };
  const call = (token: string | null, method: string, path: string, body?: unknown) => a.inject(token, method, `/execution/v1${path}`, body);
  return { a, store, run, ti, queue, call };
}

describe.each(DIALECTS)("task-execution API (%s)", (dialect) => {
  it("runs a try through start, beat, logs, XComs and finish; its downstream's payload carries the output", async () => {
    const t = await setUp(dialect);
    const { tryId, startToken } = await t.queue("extract");
    const host = { hostname: "worker-1", pid: 4242, claim: "claim-of-worker-1-process" };

    // The message's token starts the try and nothing else; the start answers the token for the rest.
    const early = await t.call(startToken, "POST", `/tries/${tryId}/heartbeat`);
    expect(early.status).toBe(403);
    expect(early.json.message).toMatch(/only starts/);
    const started = await t.call(startToken, "POST", `/tries/${tryId}/start`, host);
    expect(started.status, started.body).toBe(200);
    const payload = started.json.payload;
    const token = started.json.token as string;
    expect((await t.call(startToken, "GET", `/tries/${tryId}/variables/v`)).status).toBe(403);
    expect(payload).toMatchObject({ tryId, dagId: "remote", taskId: "extract", tryNumber: 1, maxTries: 2, runId: t.run.runId, inputs: {} });
    let row = await t.ti("extract");
    expect(row).toMatchObject({ state: "running", hostname: "worker-1", pid: 4242 });
    expect(row.heartbeat_at).not.toBeNull();

    // A lost answer asked again by the same process: the same payload; anyone else: refused.
    expect((await t.call(startToken, "POST", `/tries/${tryId}/start`, host)).json.payload).toEqual(payload);
    // The same host and pid without the claim (what anyone who can read the task instance knows) is refused.
    const other = await t.call(startToken, "POST", `/tries/${tryId}/start`, { ...host, claim: "someone-else-0123456789" });
    expect(other.status).toBe(409);
    expect(other.json.code).toBe("UPDRAFT_E_TRY_STALE");
    expect((await t.ti("extract")).hostname).toBe("worker-1");

    const beat = await t.call(token, "POST", `/tries/${tryId}/heartbeat`);
    expect(beat.json).toEqual({ stop: false, state: "running" });

    const lines = [{ ts: Date.now(), stream: "stdout", level: "info", message: "extracting" }];
    expect((await t.call(token, "POST", `/tries/${tryId}/logs`, { lines })).status).toBe(204);
    const logs = await t.store.db.selectFrom("task_log").select(["message", "try_number"]).where("ti_id", "=", row.id).execute();
    expect(logs).toEqual([{ message: "extracting", try_number: 1 }]);

    expect((await t.call(token, "PUT", `/tries/${tryId}/xcoms/stats`, { value: '{"n":1}' })).status).toBe(204);
    const notJson = await t.call(token, "PUT", `/tries/${tryId}/xcoms/stats`, { value: "{oops" });
    expect(notJson.status).toBe(422);
    expect(notJson.json.code).toBe("UPDRAFT_E_XCOM_NOT_SERIALIZABLE");
    expect((await t.call(token, "GET", `/tries/${tryId}/xcoms/extract/stats`)).json).toEqual({ value: '{"n":1}' });
    expect((await t.call(token, "GET", `/tries/${tryId}/xcoms/extract/nothing`)).json).toEqual({ value: null });

    // The bundle of the try's own run, whose hash the worker can check; no other.
    const bundle = await t.call(token, "GET", `/bundles/${payload.bundleHash}`);
    expect(bundle.status).toBe(200);
    expect(createHash("sha256").update(bundle.body).digest("hex")).toBe(payload.bundleHash);
    expect((await t.call(token, "GET", `/bundles/${"0".repeat(64)}`)).status).toBe(403);

    const done = await t.call(token, "POST", `/tries/${tryId}/finish`, { outcome: "success", output: '{"rows":3}', lines: [{ ts: Date.now(), stream: "log", level: "info", message: "done" }] });
    expect(done.status, done.body).toBe(200);
    expect(done.json).toEqual({ state: "success" });
    row = await t.ti("extract");
    expect(row.state).toBe("success");
    const history = await t.store.db.selectFrom("task_try").select(["try_id", "state", "hostname"]).where("ti_id", "=", row.id).execute();
    expect(history).toEqual([{ try_id: tryId, state: "success", hostname: "worker-1" }]);
    expect((await t.store.db.selectFrom("task_log").select("message").where("ti_id", "=", row.id).execute()).map((l) => l.message)).toEqual(["extracting", "done"]);

    // A second end, and anything else the ended try sends, is refused and changes nothing.
    const again = await t.call(token, "POST", `/tries/${tryId}/finish`, { outcome: "failed", error: { message: "late", code: null, stack: null, retryable: true } });
    expect(again.status).toBe(409);
    expect(again.json.code).toBe("UPDRAFT_E_TRY_STALE");
    expect((await t.call(token, "PUT", `/tries/${tryId}/xcoms/stats`, { value: "2" })).status).toBe(409);
    expect((await t.call(token, "POST", `/tries/${tryId}/heartbeat`)).json).toEqual({ stop: true, state: "success" });
    expect(await t.ti("extract")).toEqual(row);

    const load = await t.queue("load");
    const loadStart = await t.call(load.token, "POST", `/tries/${load.tryId}/start`, host);
    expect(loadStart.json.payload.inputs).toEqual({ extract: '{"rows":3}' });
  });

  it("two deliveries starting one try at once: one runs it; two ends at once: one applies (they share a batch)", async () => {
    const t = await setUp(dialect);
    const { tryId, startToken } = await t.queue("extract");
    const starts = await Promise.all([
      t.call(startToken, "POST", `/tries/${tryId}/start`, { hostname: "w1", pid: 1, claim: "claim-of-w1-0123456789" }),
      t.call(startToken, "POST", `/tries/${tryId}/start`, { hostname: "w2", pid: 2, claim: "claim-of-w2-0123456789" }),
    ]);
    expect(starts.map((r) => r.status).sort()).toEqual([200, 409]);
    const winner = starts.find((r) => r.status === 200)!;
    const row = await t.ti("extract");
    expect(row.hostname).toBe(starts[0]!.status === 200 ? "w1" : "w2");
    const token = winner.json.token as string;
    const ends = await Promise.all([
      t.call(token, "POST", `/tries/${tryId}/finish`, { outcome: "success", output: "1" }),
      t.call(token, "POST", `/tries/${tryId}/finish`, { outcome: "failed", error: { message: "x", code: null, stack: null, retryable: true } }),
    ]);
    expect(ends.map((r) => r.status).sort()).toEqual([200, 409]);
    expect((await t.ti("extract")).state).toBe(ends[0]!.status === 200 ? "success" : "up_for_retry");
    expect((await t.store.db.selectFrom("task_try").select("try_id").where("ti_id", "=", row.id).execute()).length).toBe(1);
  });

  it("a run token about to expire is renewed by the heartbeat's answer while the try runs, and not after", async () => {
    const t = await setUp(dialect);
    const { tryId, startToken } = await t.queue("extract");
    expect((await t.call(startToken, "POST", `/tries/${tryId}/start`, { hostname: "w", pid: 1, claim: "claim-of-w-0123456789" })).status).toBe(200);
    const short = await issueTryToken(t.a.signingKey, tryId, 10 * 60_000); // 10 minutes left
    const beat = await t.call(short, "POST", `/tries/${tryId}/heartbeat`);
    expect(beat.json).toMatchObject({ stop: false, state: "running" });
    const renewed = await verifyTryToken(t.a.signingKey, beat.json.token as string);
    expect(renewed).toMatchObject({ tryId, scope: "run" });
    expect(renewed.expiresAt - Date.now()).toBeGreaterThan(60 * 60_000);
    expect((await t.call(beat.json.token as string, "POST", `/tries/${tryId}/finish`, { outcome: "success" })).status).toBe(200);
    const after = await t.call(short, "POST", `/tries/${tryId}/heartbeat`);
    expect(after.json).toEqual({ stop: true, state: "success" });
  });

  it("a retryable failure with a try left becomes up_for_retry; a try marked elsewhere is told to stop", async () => {
    const t = await setUp(dialect);
    const first = await t.queue("extract");
    await t.call(first.token, "POST", `/tries/${first.tryId}/start`, { hostname: "w", pid: 1, claim: "claim-of-w-0123456789" });
    const failed = await t.call(first.token, "POST", `/tries/${first.tryId}/finish`, { outcome: "failed", error: { message: "boom", code: null, stack: null, retryable: true } });
    expect(failed.json).toEqual({ state: "up_for_retry" });

    const second = await t.queue("extract");
    expect(second.tryId).not.toBe(first.tryId);
    await t.call(second.token, "POST", `/tries/${second.tryId}/start`, { hostname: "w", pid: 1, claim: "claim-of-w-0123456789" });
    // The first try's token cannot act for the second.
    expect((await t.call(first.token, "POST", `/tries/${second.tryId}/heartbeat`)).status).toBe(403);
    await t.store.db.updateTable("task_instance").set({ state: "failed" }).where("id", "=", second.tiId).execute();
    expect((await t.call(second.token, "POST", `/tries/${second.tryId}/heartbeat`)).json).toEqual({ stop: true, state: "failed" });
    const late = await t.call(second.token, "POST", `/tries/${second.tryId}/finish`, { outcome: "success" });
    expect(late.status).toBe(409);
    expect((await t.ti("extract")).state).toBe("failed");
  });

  it("refuses a token of another try, an expired or forged one, a user's token and none; a try token is no REST API token", async () => {
    const t = await setUp(dialect);
    const mine = await t.queue("extract");
    const theirs = await t.queue("load");
    const paths: Array<[string, string, unknown?]> = [
      ["POST", `/tries/${theirs.tryId}/start`, { hostname: "h", pid: 1, claim: "claim-of-h-0123456789" }],
      ["POST", `/tries/${theirs.tryId}/heartbeat`],
      ["POST", `/tries/${theirs.tryId}/logs`, { lines: [{ ts: 1, stream: "log", level: "info", message: "x" }] }],
      ["PUT", `/tries/${theirs.tryId}/xcoms/k`, { value: "1" }],
      ["GET", `/tries/${theirs.tryId}/xcoms/extract/k`],
      ["GET", `/tries/${theirs.tryId}/variables/v`],
      ["GET", `/tries/${theirs.tryId}/connections/c`],
      ["POST", `/tries/${theirs.tryId}/finish`, { outcome: "success" }],
    ];
    for (const [method, path, body] of paths) {
      const res = await t.call(mine.token, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.json.code).toBe("UPDRAFT_E_FORBIDDEN");
    }
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ typ: "try" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(theirs.tryId)
      .setIssuer("updraft")
      .setAudience("updraft-execution")
      .setIssuedAt(now - 120)
      .setNotBefore(now - 120)
      .setExpirationTime(now - 60)
      .sign(t.a.signingKey);
    const forged = await issueTryToken(new Uint8Array(32).fill(7), theirs.tryId, 60_000);
    const admin = await t.a.login("admin");
    for (const token of [expired, forged, admin, null]) {
      const res = await t.call(token, "POST", `/tries/${theirs.tryId}/start`, { hostname: "h", pid: 1, claim: "claim-of-h-0123456789" });
      expect(res.status).toBe(401);
    }
    expect((await t.call(expired, "POST", `/tries/${theirs.tryId}/heartbeat`)).json.message).toMatch(/expired/);
    expect((await t.ti("load")).state).toBe("queued");
    // A try token opens nothing on the REST API.
    expect((await t.a.inject(mine.token, "GET", "/dags")).status).toBe(401);
    expect((await t.a.inject(mine.token, "GET", "/dags/remote/dagRuns")).status).toBe(401);
  });

  it("validates what a worker sends: a failure without its error, an output above xcomMaxBytes", async () => {
    const t = await setUp(dialect);
    const { tryId, token } = await t.queue("extract");
    await t.call(token, "POST", `/tries/${tryId}/start`, { hostname: "h", pid: 1, claim: "claim-of-h-0123456789" });
    const noError = await t.call(token, "POST", `/tries/${tryId}/finish`, { outcome: "failed" });
    expect(noError.status).toBe(400);
    const big = await t.call(token, "POST", `/tries/${tryId}/finish`, { outcome: "success", output: JSON.stringify("x".repeat(t.a.env.config.xcomMaxBytes)) });
    expect(big.status).toBe(422);
    expect(big.json.code).toBe("UPDRAFT_E_XCOM_TOO_LARGE");
    expect((await t.ti("extract")).state).toBe("running");
    const openapi = await t.a.inject(null, "GET", "/openapi.json");
    const start = openapi.json.paths["/execution/v1/tries/{try_id}/start"].post;
    expect(start.tags).toEqual(["execution"]);
    expect(start.security).toEqual([{ tryToken: [] }]);
  });
});
