/**
 * The yardstick of issue 9: the same fan-out of no-op jobs through a bare BullMQ queue on this
 * machine, so that `npm run bench` prints Updraft's fan-out as a ratio of it. BullMQ as the team
 * measured it: one Worker with concurrency 50 in this process, the jobs added with one `addBulk`,
 * and otherwise BullMQ's defaults, except that completed jobs are removed (`removeOnComplete`)
 * so Redis does not grow. Each measurement uses a queue of its own under a fresh key prefix and
 * obliterates it afterwards; nothing else in the Redis database is touched.
 *
 * BullMQ 6 no longer ships a Redis driver: it loads `ioredis` (a dev dependency of the bench)
 * when given connection options, and owns, and closes, the connections it opens from them.
 */
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";

export const REDIS_URL = process.env.UPDRAFT_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const QUEUE = "noop";

export interface BullmqRun {
  /** From the `addBulk` call until the worker completed the last job. */
  ms: number;
  /** The `addBulk` call alone. */
  addMs: number;
  /** Keys of the run's prefix still in Redis after `obliterate` (should be 0). */
  leftKeys: number;
}

/** Redis's version, or why Redis cannot be used. */
export async function probeRedis(): Promise<{ version: string } | { error: string }> {
  // One attempt, no retries and no offline queue: BullMQ's own connections retry forever.
  const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  let cause: Error | undefined; // connect() rejects with "Connection is closed"; the event says why
  client.on("error", (error: Error) => (cause ??= error));
  try {
    await client.connect();
    const info = await client.info("server");
    return { version: /redis_version:(\S+)/.exec(info)?.[1] ?? "?" };
  } catch (error) {
    return { error: `Redis unreachable at ${REDIS_URL}: ${(cause ?? (error as Error)).message}` };
  } finally {
    client.disconnect();
  }
}

/** Versions of BullMQ and its Redis driver, as installed. */
export function bullmqVersions(): string {
  const require = createRequire(import.meta.url);
  const version = (name: string) => (require(`${name}/package.json`) as { version: string }).version;
  return `BullMQ ${version("bullmq")}, ioredis ${version("ioredis")}`;
}

/** Runs `count` no-op jobs through a new queue and worker; removes the queue's keys afterwards. */
export async function bullmqFanout(count: number, concurrency = 50): Promise<BullmqRun> {
  const prefix = `updraft-bench-${randomBytes(4).toString("hex")}`;
  const connection = { url: REDIS_URL };
  const queue = new Queue(QUEUE, { connection, prefix, defaultJobOptions: { removeOnComplete: true } });
  let completed = 0;
  let failed = 0;
  let allDone!: () => void;
  let broken!: (error: Error) => void;
  const done = new Promise<void>((resolve, reject) => ((allDone = resolve), (broken = reject)));
  done.catch(() => {}); // awaited below; an error before that must not be an unhandled rejection
  const worker = new Worker(QUEUE, async () => undefined, { connection, prefix, concurrency });
  const settle = () => {
    if (completed + failed === count) allDone();
  };
  worker.on("completed", () => {
    completed++;
    settle();
  });
  worker.on("failed", () => {
    failed++;
    settle();
  });
  // A connection lost midway: stop instead of waiting forever (and without a listener the
  // 'error' event would crash the bench).
  worker.on("error", broken);
  queue.on("error", broken);
  let run: { ms: number; addMs: number };
  try {
    await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
    // The worker waits for jobs in a blocking call once it runs; give it the moment to get there,
    // as Updraft's fan-out gives its runners half a second to warm up.
    await new Promise((r) => setTimeout(r, 200));
    const jobs = Array.from({ length: count }, () => ({ name: QUEUE, data: {} }));
    const t0 = performance.now();
    await queue.addBulk(jobs);
    const addMs = performance.now() - t0;
    await done;
    run = { ms: performance.now() - t0, addMs };
    if (failed > 0) throw new Error(`${failed} of ${count} BullMQ jobs failed`);
  } finally {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
  }
  return { ...run, leftKeys: await keysUnder(prefix) };
}

/** How many keys are under `prefix` (with `remove`, deleting them as they are found). */
export async function keysUnder(prefix: string, remove = false): Promise<number> {
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    let n = 0;
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      n += keys.length;
      if (remove && keys.length > 0) await client.del(...keys);
    } while (cursor !== "0");
    return n;
  } finally {
    client.disconnect();
  }
}
