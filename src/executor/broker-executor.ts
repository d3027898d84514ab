/**
 * The broker executor: hands tries to workers on other machines through a message broker (Redis
 * or RabbitMQ). A try's message carries its id and a try token the scheduler signs; the worker
 * starts the try, reports its logs and end through the task-execution API, and the scheduler
 * learns of the end from the store. Nothing here waits for a worker.
 */
import type { BrokerPublisher, TryMessage } from "../broker/types.js";
import { errorMessage } from "../errors/index.js";
import { issueTryToken, START_TOKEN_TTL_MS } from "../security/tokens.js";
import type { Logger } from "../util/logger.js";
import type { DispatchItem, Executor, ExecutorCallbacks } from "./types.js";


export interface BrokerExecutorOptions {
  name: "redis" | "rabbitmq";
  publisher: BrokerPublisher;
  /** The key try tokens are signed with: the API server's (it checks them). */
  signingKey: Uint8Array;
  log: Logger;
}

export class BrokerExecutor implements Executor {
  readonly name: string;
  readonly remote = true;
  readonly #publisher: BrokerPublisher;
  readonly #key: Uint8Array;
  readonly #log: Logger;
  #stopped = false;

  constructor(options: BrokerExecutorOptions) {
    this.name = options.name;
    this.#publisher = options.publisher;
    this.#key = options.signingKey;
    this.#log = options.log;
  }

  async start(_callbacks: ExecutorCallbacks): Promise<void> {}

  /** Workers take what they can; the scheduler's parallelism bounds what is in flight. */
  freeSlots(): number {
    return Number.MAX_SAFE_INTEGER;
  }

  dispatch(tries: DispatchItem[]): void {
    if (this.#stopped || tries.length === 0) return;
    void this.publish(tries).catch((error: unknown) => {
      // The tries stay queued in the store; they are published again after their queued timeout.
      this.#log.error({ err: error, tries: tries.length }, `publishing tries to the broker failed: ${errorMessage(error)}`);
    });
  }

  /**
   * Publishes the tries, each to its task's queue, with a token that only starts it: the start
   * answers the token for the rest of the try (so a message read from the broker opens nothing
   * of a try that already started, and the try's time counts from its start).
   */
  async publish(tries: readonly DispatchItem[]): Promise<void> {
    const byQueue = new Map<string, TryMessage[]>();
    const messages = await Promise.all(
      tries.map(async (t) => ({ queue: t.queue, message: { v: 1 as const, tryId: t.tryId, token: await issueTryToken(this.#key, t.tryId, START_TOKEN_TTL_MS, "start") } })),
    );
    for (const { queue, message } of messages) {
      const list = byQueue.get(queue);
      if (list) list.push(message);
      else byQueue.set(queue, [message]);
    }
    await Promise.all([...byQueue].map(([queue, list]) => this.#publisher.publish(queue, list)));
  }

  /** A remote try is stopped by its worker, told by the answer to its next heartbeat. */
  kill(_tryId: string, _reason: string): void {}

  /** None here: a remote try's life is in the store (the scheduler keeps the ones it published). */
  activeTryIds(): string[] {
    return [];
  }

  /** Stops publishing; the tries on workers go on (they report to the API, not to this process). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#publisher.close();
  }
}
