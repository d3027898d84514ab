/**
 * The one registry of Updraft's error codes. Every error a user can meet carries a stable
 * `UPDRAFT_E_*` code, a message that names the problem, and where possible a hint that names
 * the fix. Codes are never reused once retired; the HTTP status is what the API answers with.
 *
 * This module is a leaf: it imports nothing, so every part (the SDK included) may use it.
 */

export const ERROR_CODES = {
  // configuration and usage
  UPDRAFT_E_CONFIG_INVALID: 400,
  UPDRAFT_E_USAGE: 400,
  UPDRAFT_E_INVALID_JSON: 400,
  UPDRAFT_E_INVALID_DURATION: 400,
  UPDRAFT_E_INVALID_DATE: 400,
  UPDRAFT_E_INVALID_SIZE: 400,
  UPDRAFT_E_JSON_TOO_DEEP: 400,
  // DAG definition (raised while a DAG file is imported)
  UPDRAFT_E_DAG_DEFINITION: 400,
  UPDRAFT_E_DAG_CYCLE: 400,
  UPDRAFT_E_DUPLICATE_TASK_ID: 400,
  UPDRAFT_E_DUPLICATE_DAG_ID: 400,
  UPDRAFT_E_UNKNOWN_REF: 400,
  UPDRAFT_E_INVALID_ID: 400,
  UPDRAFT_E_INVALID_SCHEDULE: 400,
  UPDRAFT_E_INVALID_TIMEZONE: 400,
  UPDRAFT_E_INVALID_PARAMS: 400,
  UPDRAFT_E_OUTSIDE_DAG: 400,
  // DAG processing
  UPDRAFT_E_IMPORT_FAILED: 422,
  UPDRAFT_E_IMPORT_TIMEOUT: 422,
  UPDRAFT_E_BUNDLE_FAILED: 422,
  UPDRAFT_E_DAG_FILE_TOO_LARGE: 422,
  UPDRAFT_E_TYPE_ERRORS: 422,
  UPDRAFT_E_TYPE_CHECK_FAILED: 422,
  // project scaffolding
  UPDRAFT_E_INIT_EXISTS: 409,
  // lookups
  UPDRAFT_E_DAG_NOT_FOUND: 404,
  UPDRAFT_E_DAG_RUN_NOT_FOUND: 404,
  UPDRAFT_E_TASK_NOT_FOUND: 404,
  UPDRAFT_E_TASK_INSTANCE_NOT_FOUND: 404,
  UPDRAFT_E_POOL_NOT_FOUND: 404,
  UPDRAFT_E_DAG_VERSION_NOT_FOUND: 404,
  UPDRAFT_E_TASK_TRY_NOT_FOUND: 404,
  UPDRAFT_E_XCOM_NOT_FOUND: 404,
  UPDRAFT_E_IMPORT_ERROR_NOT_FOUND: 404,
  // state changes
  UPDRAFT_E_DAG_RUN_EXISTS: 409,
  UPDRAFT_E_CONFLICT: 409,
  UPDRAFT_E_INVALID_STATE: 409,
  UPDRAFT_E_PARAMS_INVALID: 400,
  UPDRAFT_E_DAG_INACTIVE: 409,
  // task execution
  UPDRAFT_E_XCOM_TOO_LARGE: 422,
  UPDRAFT_E_XCOM_NOT_SERIALIZABLE: 422,
  UPDRAFT_E_XCOM_MISSING: 422,
  UPDRAFT_E_TASK_TIMEOUT: 500,
  UPDRAFT_E_RUNNER_CRASHED: 500,
  UPDRAFT_E_RUNNER_MEMORY: 500,
  UPDRAFT_E_BASH_FAILED: 500,
  UPDRAFT_E_BRANCH_INVALID: 422,
  UPDRAFT_E_TRY_INTERRUPTED: 500,
  UPDRAFT_E_ZOMBIE: 500,
  // reports about a try that the store refused (src/execution/tries.ts): nothing was changed
  UPDRAFT_E_TRY_UNKNOWN: 404,
  UPDRAFT_E_TRY_STALE: 409,
  UPDRAFT_E_TRY_DUPLICATE: 409,
  // API and security
  UPDRAFT_E_UNAUTHENTICATED: 401,
  UPDRAFT_E_TOKEN_INVALID: 401,
  UPDRAFT_E_LOGIN_FAILED: 401,
  UPDRAFT_E_FORBIDDEN: 403,
  UPDRAFT_E_NOT_FOUND: 404,
  UPDRAFT_E_VALIDATION: 400,
  UPDRAFT_E_RATE_LIMITED: 429,
  UPDRAFT_E_BODY_TOO_LARGE: 413,
  UPDRAFT_E_SECRET_KEY: 500,
  UPDRAFT_E_SIGNING_KEY: 500,
  UPDRAFT_E_USER_EXISTS: 409,
  UPDRAFT_E_USER_NOT_FOUND: 404,
  UPDRAFT_E_ROLE_NOT_FOUND: 404,
  UPDRAFT_E_CONNECTION_NOT_FOUND: 404,
  UPDRAFT_E_VARIABLE_NOT_FOUND: 404,
  UPDRAFT_E_TOKEN_NOT_FOUND: 404,
  // starting a server (never an API answer; below 500 so that the CLI exits with 2: the user can fix it)
  UPDRAFT_E_PORT_IN_USE: 409,
  // store
  UPDRAFT_E_DATABASE: 503,
  UPDRAFT_E_STORAGE_FULL: 503,
  UPDRAFT_E_DATABASE_URL: 400,
  UPDRAFT_E_MIGRATION: 500,
  UPDRAFT_E_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface UpdraftErrorOptions {
  /** What the user can do about it. */
  hint?: string;
  /** Structured facts for programs (validation failures, the offending values). */
  details?: unknown;
  cause?: unknown;
}

export class UpdraftError extends Error {
  override readonly name = "UpdraftError";
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: unknown;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options: UpdraftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
    this.status = ERROR_CODES[code];
  }

  /** `message (hint)`, the form the CLI prints. */
  describe(): string {
    return this.hint ? `${this.message}\n  hint: ${this.hint}` : this.message;
  }

  toJSON(): { code: ErrorCode; message: string; hint?: string; details?: unknown } {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.details !== undefined ? { details: this.details } : {}),
    };
  }
}

export function isUpdraftError(error: unknown, code?: ErrorCode): error is UpdraftError {
  return error instanceof UpdraftError && (code === undefined || error.code === code);
}

/** The message of anything thrown, for logs and import errors. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/**
 * A full disk: SQLite's SQLITE_FULL, the OS's ENOSPC/EDQUOT, PostgreSQL's disk_full (53100), or
 * Updraft's own UPDRAFT_E_STORAGE_FULL, also as the cause of another error.
 */
export function isStorageFull(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== null && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT" || code === "53100" || code === "UPDRAFT_E_STORAGE_FULL") return true;
  }
  return false;
}
