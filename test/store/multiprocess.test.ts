import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { openStore, type Store } from "../../src/store/connect.js";
import { setPaused } from "../../src/store/dags.js";
import { MIGRATION_NAMES } from "../../src/store/migrations/index.js";
import { listDagRuns } from "../../src/store/runs.js";
import { DIALECTS } from "../helpers/dialects.js";
import { countRows, envFactory, etlDag, recordFile, simpleDag, waitFor } from "./fixtures.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CHILD = fileURLToPath(new URL("./store-child.ts", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ChildReply {
  ok?: boolean;
  ready?: boolean;
  ids?: number[];
  applied?: string[];
  error?: string;
  code?: string | null;
}

/** The other process: started on `url`, driven one command at a time. */
class OtherProcess {
  private readonly replies: ChildReply[] = [];
  private readonly waiting: Array<(reply: ChildReply) => void> = [];
  private stderr = "";
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const reply = JSON.parse(line) as ChildReply;
      const waiter = this.waiting.shift();
      if (waiter) waiter(reply);
      else this.replies.push(reply);
    });
    child.stderr!.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  }

  static async start(url: string): Promise<OtherProcess> {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, url], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    const other = new OtherProcess(child);
    expect(await other.next(), `child did not start: ${other.stderr}`).toMatchObject({ ready: true });
    return other;
  }

  next(timeoutMs = 30_000): Promise<ChildReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from the child within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      this.exited.then((code) => reject(new Error(`child exited (${code}); stderr: ${this.stderr}`)), () => {});
      this.waiting.push((reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }

  async send(command: object): Promise<ChildReply> {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
    return this.next();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.stdin!.end(`${JSON.stringify({ op: "exit" })}\n`);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

describe.each(DIALECTS)("several processes on one database (%s)", (dialect) => {
  const makeEnv = envFactory(dialect);
  const others: OtherProcess[] = [];
  const stores: Store[] = [];
  afterEach(async () => {
    for (const other of others.splice(0)) await other.stop();
    for (const store of stores.splice(0)) await store.close();
  });

  it("two processes write at the same time; every write lands and none fails with SQLITE_BUSY", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "etl.ts", [etlDag()]);
    const other = await OtherProcess.start(env.config.databaseUrl);
    others.push(other);

    const N = 15;
    const childDone = other.send({ op: "trigger", dagId: "etl", prefix: "child_", count: N, holdMs: 10 });
    const ownErrors: unknown[] = [];
    for (let i = 0; i < N; i++) {
      try {
        await triggerDagRun(env.store, "etl", { runId: `parent_${i}` });
        await env.store.transaction(async (trx) => {
          await trx.insertInto("pool").values({ name: `parent_${i}`, slots: 1, description: "parent", include_deferred: 0 }).execute();
          await sleep(10); // hold the write lock while the other process wants it
        });
      } catch (error) {
        ownErrors.push(error);
      }
    }
    const reply = await childDone;
    expect(ownErrors).toEqual([]);
    expect(reply).toMatchObject({ ok: true });
    expect(reply.ids).toHaveLength(N);

    const runIds = (await listDagRuns(env.store.db, { dagId: "etl", limit: 1000 })).map((r) => r.run_id).sort();
    const expected = [...Array.from({ length: N }, (_, i) => `child_${i}`), ...Array.from({ length: N }, (_, i) => `parent_${i}`)].sort();
    expect(runIds).toEqual(expected);
    expect(await countRows(env.store, "task_instance")).toBe(2 * N * 4);
    expect(await countRows(env.store, "pool")).toBe(2 * N + 1);
  });

  it("onChange fires after the other process commits, and not after unsubscribing", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "f.ts", [simpleDag("f.ts", "watched")]);
    let calls = 0;
    const unsubscribe = env.store.onChange(() => calls++);
    if (dialect === "postgres") {
      // LISTEN starts in the background: wait until our own NOTIFY comes back, then start counting.
      await waitFor(async () => {
        await env.store.notify();
        await sleep(50);
        return calls > 0;
      }, 30_000, "LISTEN to be active");
      await sleep(100);
      calls = 0;
    }
    const other = await OtherProcess.start(env.config.databaseUrl);
    others.push(other);
    await sleep(300);
    expect(calls).toBe(0); // nobody else wrote yet

    expect(await other.send({ op: "trigger", dagId: "watched", prefix: "first_", count: 1 })).toMatchObject({ ok: true });
    await waitFor(() => calls > 0, 30_000, "onChange after the other process's commit");
    expect((await listDagRuns(env.store.db, { dagId: "watched" })).map((r) => r.run_id)).toEqual(["first_0"]);

    // A listener that stays subscribed witnesses the next notice: listeners are called together.
    let witnessed = 0;
    env.store.onChange(() => witnessed++);
    unsubscribe();
    calls = 0;
    expect(await other.send({ op: "trigger", dagId: "watched", prefix: "second_", count: 1 })).toMatchObject({ ok: true });
    await waitFor(() => witnessed > 0, 30_000, "onChange of the listener still subscribed");
    expect(calls).toBe(0);
    expect(await countRows(env.store, "dag_run")).toBe(2);
  });

  it("a change made through one store reaches onChange of another store on the same database", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "f.ts", [simpleDag("f.ts", "p")]);
    const second = await openStore({ url: env.config.databaseUrl });
    stores.push(second);
    let calls = 0;
    second.onChange(() => calls++);
    // setPaused writes and calls notify(); repeat until the listener (LISTEN on PostgreSQL, data_version polling on SQLite) sees it.
    let paused = false;
    await waitFor(async () => {
      paused = !paused;
      await setPaused(env.store, "p", paused);
      await sleep(100);
      return calls > 0;
    }, 30_000, "onChange of the second store");
    expect(calls).toBeGreaterThan(0);
  });

  if (dialect === "postgres") {
    it("notify() reaches stores on the same schema only", async () => {
      const env = await makeEnv();
      const otherEnv = await makeEnv();
      const sameSchema = await openStore({ url: env.config.databaseUrl });
      const otherSchema = await openStore({ url: otherEnv.config.databaseUrl });
      stores.push(sameSchema, otherSchema);
      let same = 0;
      let other = 0;
      sameSchema.onChange(() => same++);
      otherSchema.onChange(() => other++);
      // Both listeners must be active before the check: each first hears its own schema's notify.
      await waitFor(async () => {
        await otherEnv.store.notify();
        await sleep(50);
        return other > 0;
      }, 30_000, "LISTEN on the other schema");
      await sleep(200);
      other = 0;
      await waitFor(async () => {
        await env.store.notify();
        await sleep(50);
        return same > 0;
      }, 30_000, "notify on the same schema");
      await env.store.notify();
      await sleep(300);
      expect(same).toBeGreaterThan(0);
      expect(other).toBe(0);
    });
  }
});

describe("processes migrating a fresh SQLite database at the same moment", () => {
  const others: OtherProcess[] = [];
  afterEach(async () => {
    for (const other of others.splice(0)) await other.stop();
  });

  it("one migrates, the others wait and then find nothing to do; none fails (three rounds)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "updraft-migrate-race-"));
    try {
      for (let round = 0; round < 3; round++) {
        const url = `sqlite://${join(dir, `round${round}.db`)}`;
        // Every child has opened the file already: the migrations start at the same moment.
        const children = await Promise.all([1, 2, 3, 4].map(() => OtherProcess.start(url)));
        others.push(...children);
        const replies = await Promise.all(children.map((c) => c.send({ op: "migrate" })));
        expect(replies.filter((r) => !r.ok), JSON.stringify(replies)).toEqual([]);
        expect(replies.filter((r) => (r.applied ?? []).length > 0)).toHaveLength(1);
        expect(replies.flatMap((r) => r.applied ?? [])).toEqual([...MIGRATION_NAMES]);
        for (const c of others.splice(0)) await c.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

