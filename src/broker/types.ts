/**
 * A message broker carries ready tries from schedulers to workers: a message names the try and
 * carries its token, nothing else (the worker gets the try's payload from the execution API when
 * it starts it, so a message that arrives late or twice cannot run stale inputs, and the broker
 * never holds task data or secrets beyond that one try's token).
 */

/** What a broker message holds. */
export interface TryMessage {
  /** The message format; a worker drops formats it does not know. */
  v: 1;
  tryId: string;
  /** The try token: the worker's credential for this try on the execution API. */
  token: string;
}

/** The scheduler's side: publishes tries to the queues their tasks name. */
export interface BrokerPublisher {
  /** Resolves once the broker has stored the messages (a publish the broker confirmed). */
  publish(queue: string, messages: readonly TryMessage[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs one try: resolves when the try has ended (or was dropped: another worker has it, it moved
 * on), after which the broker forgets the message. Rejecting leaves the message to the broker's
 * redelivery rules; the try's start is a compare-and-set, so a second delivery runs nothing twice.
 */
export type TryHandler = (message: TryMessage) => Promise<void>;

/** The worker's side: takes messages from its queues, at most `slots` at a time in all. */
export interface BrokerConsumer {
  /** Stops taking messages; resolves once the handlers running now have returned. */
  close(): Promise<void>;
}

export interface Broker {
  readonly kind: "redis" | "rabbitmq";
  publisher(): BrokerPublisher;
  consume(queues: readonly string[], slots: number, handler: TryHandler): Promise<BrokerConsumer>;
}

/** A message from the broker, checked: null when it is not one this version understands. */
export function parseTryMessage(data: unknown): TryMessage | null {
  if (typeof data !== "object" || data === null) return null;
  const m = data as Record<string, unknown>;
  if (m.v !== 1 || typeof m.tryId !== "string" || typeof m.token !== "string" || m.tryId.length > 80 || m.token.length > 4096) return null;
  return { v: 1, tryId: m.tryId, token: m.token };
}
