/**
 * The Redis broker, through BullMQ: one BullMQ queue per Updraft queue, under the installation's
 * key prefix. A message's job id is its try id, so publishing a try again (after its queued
 * timeout) adds nothing while the first message still waits. Jobs leave Redis once handled: the
 * metadata database keeps the try's history, not the broker.
 */
import { Queue, Worker, type ConnectionOptions } from "bullmq";
import type { Logger } from "../util/logger.js";
import { parseTryMessage, type Broker, type BrokerConsumer, type BrokerPublisher, type TryHandler, type TryMessage } from "./types.js";

const JOB_NAME = "try";

export interface RedisBrokerOptions {
  url: string;
  /** Key prefix of this installation: installations sharing a Redis never meet. */
  prefix: string;
  log: Logger;
}

/** Slots shared by the consumers of several queues: a try waits here for one before it starts. */
class Slots {
  #free: number;
  readonly #waiting: Array<() => void> = [];
  constructor(n: number) {
    this.#free = n;
  }
  async take(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
  give(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

export function redisBroker(options: RedisBrokerOptions): Broker {
  // BullMQ's blocking connections must retry for ever (it says so); ioredis reconnects with backoff.
  const connection: ConnectionOptions = { url: options.url, maxRetriesPerRequest: null } as ConnectionOptions;
  return {
    kind: "redis",
    publisher(): BrokerPublisher {
      const queues = new Map<string, Queue>();
      const queueOf = (name: string) => {
        let q = queues.get(name);
        if (!q) {
          q = new Queue(name, { connection, prefix: options.prefix });
          q.on("error", (error) => options.log.warn({ err: error, queue: name }, "Redis queue error (it reconnects)"));
          queues.set(name, q);
        }
        return q;
      };
      return {
        async publish(queue: string, messages: readonly TryMessage[]) {
          if (messages.length === 0) return;
          // A handler that fails (the API out of reach) leaves the message for a later attempt;
          // the start is a compare-and-set, so an attempt after one that did start runs nothing.
          await queueOf(queue).addBulk(
            messages.map((m) => ({ name: JOB_NAME, data: m, opts: { jobId: m.tryId, removeOnComplete: true, removeOnFail: true, attempts: 8, backoff: { type: "exponential", delay: 1_000 } } })),
          );
        },
        async close() {
          await Promise.all([...queues.values()].map((q) => q.close()));
        },
      };
    },
    async consume(queueNames: readonly string[], slots: number, handler: TryHandler): Promise<BrokerConsumer> {
      const shared = new Slots(slots);
      const workers = queueNames.map((name) => {
        // Each queue's worker may hold `slots` messages; the shared slots bound what runs at once.
        const worker = new Worker(
          name,
          async (job) => {
            const message = parseTryMessage(job.data);
            if (!message) {
              options.log.warn({ queue: name, jobId: job.id }, "dropping a broker message this worker does not understand");
              return;
            }
            await shared.take();
            try {
              await handler(message);
            } finally {
              shared.give();
            }
          },
          { connection, prefix: options.prefix, concurrency: slots },
        );
        worker.on("error", (error) => options.log.warn({ err: error, queue: name }, "Redis worker error (it reconnects)"));
        worker.on("failed", (job, error) => {
          const last = job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1);
          options.log.warn({ err: error, queue: name, tryId: job?.id, attempt: job?.attemptsMade }, last ? "a try's message failed for the last time: it waits for its queued timeout" : "a try's message failed; it is tried again");
        });
        return worker;
      });
      await Promise.all(workers.map((w) => w.waitUntilReady()));
      return {
        async close() {
          await Promise.all(workers.map((w) => w.close()));
        },
      };
    },
  };
}
