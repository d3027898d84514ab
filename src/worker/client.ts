/**
 * A worker's client of the task-execution API (src/api/execution.ts): one method per route, each
 * with the try's token. Answers the API refuses come back as UpdraftErrors with the API's code, so
 * the worker can tell a try that moved on (drop it) from a server it cannot reach (retry).
 */
import { UpdraftError, type ErrorCode, ERROR_CODES } from "../errors/index.js";
import type { ConnectionParts, DispatchItem, LogLine, StoredVariable, TryResult } from "../runner/protocol.js";

export interface StartAnswer {
  payload: DispatchItem;
  /** The try token for every other call of the try (the message's token only starts it). */
  token: string;
  /** The try must be stopped when its beats have failed this long (self-fencing). */
  fenceAfterMs: number;
}

export class ExecutionClient {
  readonly #base: string;

  constructor(apiUrl: string) {
    this.#base = `${new URL(apiUrl).origin}/execution/v1`;
  }

  async #call<T>(token: string, method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.#base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (!response.ok) {
      let code: ErrorCode = "UPDRAFT_E_INTERNAL";
      let message = `the execution API answered ${response.status}`;
      try {
        const error = JSON.parse(text) as { code?: string; message?: string };
        if (error.code && error.code in ERROR_CODES) code = error.code as ErrorCode;
        if (error.message) message = error.message;
      } catch {
        // not the API's error format: a proxy in between, say
      }
      throw new UpdraftError(code, message, { details: { status: response.status } });
    }
    return (response.status === 204 || text === "" ? undefined : path.startsWith("/bundles/") ? text : JSON.parse(text)) as T;
  }

  start(tryId: string, token: string, host: { hostname: string; pid: number; claim: string }): Promise<StartAnswer> {
    return this.#call(token, "POST", `/tries/${encodeURIComponent(tryId)}/start`, host);
  }

  heartbeat(tryId: string, token: string): Promise<{ stop: boolean; state: string | null; token?: string }> {
    return this.#call(token, "POST", `/tries/${encodeURIComponent(tryId)}/heartbeat`);
  }

  async logs(tryId: string, token: string, lines: readonly LogLine[]): Promise<void> {
    if (lines.length > 0) await this.#call(token, "POST", `/tries/${encodeURIComponent(tryId)}/logs`, { lines });
  }

  async pushXcom(tryId: string, token: string, key: string, value: string): Promise<void> {
    await this.#call(token, "PUT", `/tries/${encodeURIComponent(tryId)}/xcoms/${encodeURIComponent(key)}`, { value });
  }

  async pullXcom(tryId: string, token: string, taskId: string, key: string): Promise<string | null> {
    return (await this.#call<{ value: string | null }>(token, "GET", `/tries/${encodeURIComponent(tryId)}/xcoms/${encodeURIComponent(taskId)}/${encodeURIComponent(key)}`)).value;
  }

  async variable(tryId: string, token: string, key: string): Promise<StoredVariable | null> {
    return this.#orNull(() => this.#call<StoredVariable>(token, "GET", `/tries/${encodeURIComponent(tryId)}/variables/${encodeURIComponent(key)}`), "UPDRAFT_E_VARIABLE_NOT_FOUND");
  }

  async connection(tryId: string, token: string, connId: string): Promise<ConnectionParts | null> {
    return this.#orNull(() => this.#call<ConnectionParts>(token, "GET", `/tries/${encodeURIComponent(tryId)}/connections/${encodeURIComponent(connId)}`), "UPDRAFT_E_CONNECTION_NOT_FOUND");
  }

  /** The try's end, with the log lines not sent yet; the state its task instance took. */
  async finish(tryId: string, token: string, result: TryResult, lines: readonly LogLine[]): Promise<string> {
    const body = { outcome: result.outcome, ...(result.output !== undefined ? { output: result.output } : {}), ...(result.error ? { error: result.error } : {}), ...(lines.length > 0 ? { lines } : {}) };
    return (await this.#call<{ state: string }>(token, "POST", `/tries/${encodeURIComponent(tryId)}/finish`, body)).state;
  }

  /** Hands the running try back (this worker is stopping): it runs again without using up a retry. */
  async handBack(tryId: string, token: string): Promise<void> {
    await this.#call(token, "POST", `/tries/${encodeURIComponent(tryId)}/handback`);
  }

  bundle(token: string, hash: string): Promise<string> {
    return this.#call(token, "GET", `/bundles/${hash}`);
  }

  async #orNull<T>(call: () => Promise<T>, missing: ErrorCode): Promise<T | null> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof UpdraftError && error.code === missing) return null;
      throw error;
    }
  }
}
