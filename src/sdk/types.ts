import type { Duration } from "../util/duration.js";

declare const output: unique symbol;

/**
 * A handle on a task added to a DAG; `T` is the type of the task's output. Passing a ref (or an
 * object or array holding refs) as another task's input adds the edge and hands over the value.
 */
export interface TaskRef<T> {
  readonly taskId: string;
  /** Adds control-only edges: this task runs after `upstream`. Returns this ref. */
  after(...upstream: Array<AnyTaskRef | readonly AnyTaskRef[]>): this;
  /** Type-level only: the output type. */
  readonly [output]: T;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTaskRef = TaskRef<any>;

/** What a task accepts as input for a value of type T: the value, a ref to it, or a structure of those. */
export type Input<T> =
  | T
  | TaskRef<T>
  | (T extends readonly unknown[]
      ? { [K in keyof T]: Input<T[K]> }
      : T extends Date | ((...args: never[]) => unknown)
        ? never
        : T extends object
          ? { [K in keyof T]: Input<T[K]> }
          : never);

export type TriggerRule =
  | "all_success"
  | "all_failed"
  | "all_done"
  | "all_done_min_one_success"
  | "all_skipped"
  | "one_success"
  | "one_failed"
  | "one_done"
  | "none_failed"
  | "none_failed_min_one_success"
  | "none_skipped"
  | "always";

export type WeightRule = "downstream" | "upstream" | "absolute";

/** Options every task takes; a DAG's `defaults` may set any of them. */
export interface TaskOptions {
  /** How many times to retry after a failed try (tries = retries + 1). Default 0. */
  retries?: number;
  /** Delay before a retry. Default "5m". */
  retryDelay?: Duration;
  /**
   * "fixed" (default): every retry waits `retryDelay`. "exponential": the wait doubles after every
   * failed try, never less than 1 s; a number is the factor instead of 2 (Airflow's
   * `retry_exponential_backoff`), 1 meaning fixed.
   * @example retryBackoff: "exponential" // 30s, 1m, 2m, … for retryDelay "30s"
   * @example retryBackoff: 1.5           // 30s, 45s, 67.5s, …
   */
  retryBackoff?: "fixed" | "exponential" | number;
  /** Upper bound of an exponential backoff's delay (a fixed retryDelay is not capped). Default "1d". */
  maxRetryDelay?: Duration;
  /** A try running longer fails and its process is killed. Default: no limit. */
  executionTimeout?: Duration | null;
  /** When the task may run, given its direct upstream tasks. Default "all_success". */
  triggerRule?: TriggerRule;
  /** Pool the task takes slots of. Default "default_pool". */
  pool?: string;
  /** Slots taken in the pool. Default 1. */
  poolSlots?: number;
  /** Among ready tasks, higher weights go first. Default 1. */
  priorityWeight?: number;
  /** How the effective weight is computed (Airflow's weight_rule). Default "downstream". */
  weightRule?: WeightRule;
  /** Queue of workers that run the task. Default "default". */
  queue?: string;
  /** Owner shown in listings; defaults to the DAG's owner. */
  owner?: string;
  /** Documentation (Markdown) shown with the task. */
  doc?: string;
}

/** Options given at the call site: any task option, and the id. */
export interface TaskCallOptions extends TaskOptions {
  id?: string;
}

export interface TaskLogger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/**
 * A connection as a task reads it with `ctx.connection(id)`: Airflow's fields, in camelCase, with
 * the extra parsed. Its password, the values of sensitive names in its extra (token, api_key, …)
 * and `uri` are masked as `***` in the try's log.
 */
export interface Connection {
  readonly connId: string;
  /** Airflow's conn_type, e.g. "postgres", "http", "aws". */
  readonly connType: string;
  readonly description: string | null;
  readonly host: string | null;
  /** The database, for most database types (Airflow's `schema`). */
  readonly schema: string | null;
  readonly login: string | null;
  readonly password: string | null;
  readonly port: number | null;
  /** Extra settings, parsed from JSON (Airflow's `extra_dejson`); `{}` when there are none. */
  readonly extra: Readonly<Record<string, unknown>>;
  /** The connection in Airflow's URI format: `postgres://etl:pa%24%24@db.internal:5432/warehouse?sslmode=require`. */
  readonly uri: string;
}

/** What a running try knows about itself; the second argument of every `run`. */
export interface TaskContext {
  readonly dagId: string;
  readonly runId: string;
  readonly taskId: string;
  /** 1 for the first try. */
  readonly tryNumber: number;
  readonly maxTries: number;
  readonly logicalDate: Date;
  readonly dataInterval: { readonly start: Date; readonly end: Date };
  /** The logical date as YYYY-MM-DD in the DAG's timezone. */
  readonly ds: string;
  /** The DAG's param defaults merged with the run's conf, validated. */
  readonly params: Readonly<Record<string, unknown>>;
  /** The run's conf as given at trigger time. */
  readonly conf: Readonly<Record<string, unknown>>;
  /** Lines go to this try's log. */
  readonly log: TaskLogger;
  /** Fired when the try times out or is killed. */
  readonly signal: AbortSignal;
  readonly xcom: {
    /** The value `taskId` returned (or pushed under `key`) in this run; undefined when there is none. */
    pull<T = unknown>(taskId: string, key?: string): Promise<T | undefined>;
    /** Stores a JSON value under `key` for other tasks of this run. */
    push(key: string, value: unknown): Promise<void>;
  };
  /**
   * The value of a variable: the `UPDRAFT_VAR_<KEY>` environment variable (key upper-cased) if the
   * task's process has it, else the variable stored in Updraft (`updraft variables set`, the UI).
   * A missing variable without a default throws `UPDRAFT_E_VARIABLE_NOT_FOUND`. The value of a
   * secret variable (marked secret, or a key naming a password, token, …) is masked in the log.
   * Asynchronous because the value comes from the scheduler, not with the try.
   * @example
   *   const recipients = await ctx.variable("report_recipients", { default: "data@example.com" });
   *   const limits = await ctx.variable<{ maxRows: number }>("etl_limits", { json: true });
   */
  variable(key: string, options?: { json?: false }): Promise<string>;
  /** With a default, returned (as given) when the variable does not exist. */
  variable<D>(key: string, options: { default: D; json?: false }): Promise<string | D>;
  /** With `json: true`, the value parsed as JSON (Airflow's `deserialize_json`). */
  variable<T = unknown>(key: string, options: { json: true }): Promise<T>;
  variable<T = unknown, D = T>(key: string, options: { json: true; default: D }): Promise<T | D>;
  /**
   * A connection: the `UPDRAFT_CONN_<ID>` environment variable (id upper-cased; Airflow's URI or
   * JSON) if the task's process has it, else the connection stored in Updraft (`updraft
   * connections add`, the UI), its password and extra decrypted for this try. A missing one throws
   * `UPDRAFT_E_CONNECTION_NOT_FOUND`.
   * @example
   *   const db = await ctx.connection("warehouse");
   *   const client = new pg.Client({ host: db.host!, port: db.port ?? 5432, user: db.login!, password: db.password!, database: db.schema! });
   */
  connection(connId: string): Promise<Connection>;
}

export type TaskRun<I, O> = (input: I, ctx: TaskContext) => O | Promise<O>;

export interface TaskSpec<I, O> extends TaskOptions {
  /** Unique in its DAG (or group): letters, digits, "_" and "-". */
  id: string;
  run: TaskRun<I, O>;
}

/** A task function: call it inside a DAG body to add a task. */
export interface TaskFunction<I, O> {
  (
    ...args: [I] extends [void]
      ? [input?: undefined, options?: TaskCallOptions]
      : [input: Input<I>, options?: TaskCallOptions]
  ): TaskRef<O>;
  readonly id: string;
}

export type ParamType = "string" | "number" | "integer" | "boolean" | "array" | "object" | "null";

/** A DAG param, a subset of JSON Schema. A param without a default must be given in the run's conf. */
export interface ParamSpec {
  type?: ParamType | ParamType[];
  default?: unknown;
  enum?: readonly unknown[];
  description?: string;
  title?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  items?: ParamSpec;
}

export type ScheduleSpec = string | { every: Duration } | null;

export interface DagOptions {
  /** Unique among all DAGs: letters, digits, "_", "-" and ".". */
  id: string;
  /** Cron expression, preset ("@daily", "@once", …), `{ every: "15m" }`, or null for manual runs only. Default null. */
  schedule?: ScheduleSpec;
  /** IANA timezone the schedule and `ds` are read in. Default "UTC". */
  timezone?: string;
  /** First logical date; a date without a time or offset is read in `timezone`. */
  startDate?: string | Date | number;
  /** No scheduled run has a logical date after this. */
  endDate?: string | Date | number;
  /** Create a run for every missed interval since startDate (true) or only the latest (false, default). */
  catchup?: boolean;
  /** Runs of this DAG that may be active at once. Default 16. */
  maxActiveRuns?: number;
  /** Tasks of this DAG that may run at once, over all its runs. Default 16. */
  maxActiveTasks?: number;
  /** Options applied to every task of the DAG unless the task sets its own. */
  defaults?: TaskOptions;
  params?: Record<string, ParamSpec>;
  tags?: string[];
  description?: string;
  /** Markdown documentation shown with the DAG. */
  docMd?: string;
  owner?: string;
  /**
   * Roles that may read or edit this DAG in addition to what their permissions allow
   * everywhere, e.g. { "team-a": ["read", "edit"] }: a role can be limited to some DAGs.
   */
  access?: Record<string, Array<"read" | "edit">>;
}

/** What `dag()` returns: the DAG as it was defined. */
export interface Dag {
  readonly id: string;
  readonly taskIds: readonly string[];
}
