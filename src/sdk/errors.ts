const KIND = Symbol.for("updraft.error.kind");

/**
 * Throw from a task to fail the try at once, without the retries that remain.
 * @example
 *   if (!response.ok && response.status === 404) throw new NonRetryableError("report not found");
 */
export class NonRetryableError extends Error {
  /** "NonRetryableError". */
  override readonly name = "NonRetryableError";
  /** @internal How Updraft recognises the error, also from another copy of the SDK. */
  readonly [KIND] = "non-retryable";
}

/**
 * Throw from a task to mark it skipped; the skip flows downstream through the trigger rules.
 * @example
 *   if (rows.length === 0) throw new SkipError("nothing to load today");
 */
export class SkipError extends Error {
  /** "SkipError". */
  override readonly name = "SkipError";
  /** @internal How Updraft recognises the error, also from another copy of the SDK. */
  readonly [KIND] = "skip";
}

/** The author-control kind of a thrown value, also for errors from another copy of the SDK. */
export function controlKind(error: unknown): "non-retryable" | "skip" | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const kind = (error as Record<symbol, unknown>)[KIND];
  return kind === "non-retryable" || kind === "skip" ? kind : undefined;
}
