import type { Duration } from "../util/duration.js";

declare const output: unique symbol;

/**
 * A handle on a task added to a DAG; `T` is the type of the task's output. Passing a ref (or an
 * object or array holding refs) as another task's input adds the edge and hands over the value.
 * @example
 *   const rows = extract();            // TaskRef<Row[]>
 *   load(rows).after(createTable());   // data edge extract → load, control edge createTable → load
 */
export interface TaskRef<T> {
  /** The task's id in its DAG, with its group prefix (`regions.collect_eu`). */
  readonly taskId: string;
  /** Adds control-only edges: this task runs after `upstream`. Returns this ref. */
  after(...upstream: Array<AnyTaskRef | readonly AnyTaskRef[]>): this;
  /** Type-level only: the output type. */
  readonly [output]: T;
}

/**
 * A ref to a task of any output type, for control edges (`after`, `chain`).
 * @example
 *   const upstream: AnyTaskRef[] = [extract(), bash({ id: "warm", command: "./warm.sh" })];
 *   report().after(upstream);
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTaskRef = TaskRef<any>;

/**
 * What a task accepts as input for a value of type T: the value, a ref to it, or a structure of those.
 * @example
 *   // label takes { name: string; count: number }: any field may be a ref of the right type
 *   label({ name: "eu", count: countRows(extract()) });
 */
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

/**
 * When a task may run, given the states of its direct upstream tasks (Airflow's trigger rules;
 * docs/SCHEDULING.md has the table).
 * @example
 *   const cleanup = task({ id: "cleanup", triggerRule: "all_done", run: () => removeTempFiles() });
 *   const notify = task({ id: "notify", triggerRule: "one_failed", run: () => page() });
 */
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

/**
 * How a task's effective priority weight is computed: its own `priorityWeight` plus those of all
 * its downstream tasks ("downstream", the default: long chains start early), of all its upstream
 * tasks ("upstream"), or its own alone ("absolute").
 * @example
 *   const urgent = task({ id: "urgent", priorityWeight: 100, weightRule: "absolute", run: () => 1 });
 */
export type WeightRule = "downstream" | "upstream" | "absolute";

/**
 * Options every task takes; a DAG's `defaults` may set any of them, and a task's own win.
 * @example
 *   const load = task({ id: "load", retries: 3, retryDelay: "30s", retryBackoff: "exponential", executionTimeout: "10m", run: save });
 *   dag({ id: "etl", defaults: { retries: 1, pool: "warehouse" } }, () => { load(extract()); });
 */
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

/**
 * Options given at the call site: any task option, and the id.
 * @example
 *   for (const region of ["eu", "us"]) collect(region, { id: `collect_${region}`, retries: 2 });
 */
export interface TaskCallOptions extends TaskOptions {
  /** The id of this task in the DAG instead of the task function's (needed to call one twice). */
  id?: string;
}

/**
 * `ctx.log`: lines written to the try's log (shown by `updraft tasks logs` and the UI) at a level.
 * Arguments are joined as `console.log` would; `console.log` and stdout/stderr are captured too.
 * @example
 *   ctx.log.info("loaded", rows.length, "rows");
 *   if (late) ctx.log.warn(`the data of ${ctx.ds} came late`);
 */
export interface TaskLogger {
  /** A line at level info. */
  info(...args: unknown[]): void;
  /** A line at level warn. */
  warn(...args: unknown[]): void;
  /** A line at level error. */
  error(...args: unknown[]): void;
}

/**
 * A connection as a task reads it with `ctx.connection(id)`: Airflow's fields, in camelCase, with
 * the extra parsed. Its password, the values of sensitive names in its extra (token, api_key, …)
 * and `uri` are masked as `***` in the try's log.
 * @example
 *   const db = await ctx.connection("warehouse");
 *   const client = new pg.Client({ host: db.host!, port: db.port ?? 5432, user: db.login!, password: db.password! });
 */
export interface Connection {
  /** The id it was asked for (`ctx.connection("warehouse")`). */
  readonly connId: string;
  /** Airflow's conn_type, e.g. "postgres", "http", "aws". */
  readonly connType: string;
  /** What it is for, as written when it was defined. */
  readonly description: string | null;
  /** Host name or address of the service. */
  readonly host: string | null;
  /** The database, for most database types (Airflow's `schema`). */
  readonly schema: string | null;
  /** The user name to log in with. */
  readonly login: string | null;
  /** The password, decrypted for this try; masked as `***` in its log. */
  readonly password: string | null;
  /** The port of the service, when one was given. */
  readonly port: number | null;
  /** Extra settings, parsed from JSON (Airflow's `extra_dejson`); `{}` when there are none. */
  readonly extra: Readonly<Record<string, unknown>>;
  /** The connection in Airflow's URI format: `postgres://etl:pa%24%24@db.internal:5432/warehouse?sslmode=require`. */
  readonly uri: string;
}

/**
 * What a running try knows about itself; the second argument of every `run` (and of a bash
 * command function).
 * @example
 *   const load = task({ id: "load", run: async (rows: Row[], ctx) => {
 *     ctx.log.info(`try ${ctx.tryNumber} of ${ctx.maxTries} for ${ctx.ds}`);
 *     await write(`sales/${ctx.ds}`, rows, { signal: ctx.signal });
 *   } });
 */
export interface TaskContext {
  /** The DAG's id. */
  readonly dagId: string;
  /** The run's id: `scheduled__<logical date>`, `manual__<logical date>` or the one given at trigger time. */
  readonly runId: string;
  /** The task's id, with its group prefix. */
  readonly taskId: string;
  /** 1 for the first try. */
  readonly tryNumber: number;
  /** retries + 1: the last try has `tryNumber === maxTries`. */
  readonly maxTries: number;
  /** The run's logical date: the start of its data interval (for a manual run, when it was triggered unless given). */
  readonly logicalDate: Date;
  /** The span of time the run covers, [start, end): for a daily schedule, the day before the run. */
  readonly dataInterval: {
    /** Inclusive. */
    readonly start: Date;
    /** Exclusive: the moment after which the scheduled run was created. */
    readonly end: Date;
  };
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
  /** XComs of this run: the outputs of other tasks, and values pushed under a key. */
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
  /** With `json: true` and a default: the parsed value, or the default when the variable does not exist. */
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

/**
 * A task's work: its input (the upstream outputs its refs stand for, resolved) and the context;
 * it returns (or resolves to) the task's output, which must be JSON.
 * @example
 *   const summarize: TaskRun<Sale[], { total: number }> = (sales, ctx) => ({ total: sum(sales) });
 *   const summary = task({ id: "summarize", run: summarize });
 */
export type TaskRun<I, O> = (input: I, ctx: TaskContext) => O | Promise<O>;

/**
 * What `task()` and `branch()` take: an id, a `run` function and any task option.
 * @example
 *   const spec: TaskSpec<Sale[], number> = { id: "count", retries: 1, run: (sales) => sales.length };
 *   const count = task(spec);
 */
export interface TaskSpec<I, O> extends TaskOptions {
  /** Unique in its DAG (or group): letters, digits, "_" and "-". */
  id: string;
  /** The task's work; its first parameter's type is the task's input type (`_: void` for none). */
  run: TaskRun<I, O>;
}

/**
 * A task function: call it inside a DAG body to add a task.
 * @example
 *   const load = task({ id: "load", run: (rows: Row[]) => rows.length }); // TaskFunction<Row[], number>
 *   dag({ id: "etl" }, () => { load(extract()); load(extract(), { id: "load_again" }); });
 */
export interface TaskFunction<I, O> {
  (
    ...args: [I] extends [void]
      ? [input?: undefined, options?: TaskCallOptions]
      : [input: Input<I>, options?: TaskCallOptions]
  ): TaskRef<O>;
  /** The id the task gets unless a call gives another. */
  readonly id: string;
}

/**
 * The JSON-Schema types a param may have.
 * @example
 *   params: { limit: { type: "integer", default: 100 }, region: { type: ["string", "null"], default: null } }
 */
export type ParamType = "string" | "number" | "integer" | "boolean" | "array" | "object" | "null";

/**
 * A DAG param, a subset of JSON Schema. A param without a default must be given in the run's conf.
 * @example
 *   params: { region: { type: "string", default: "eu", enum: ["eu", "us"], description: "Shop region" },
 *             day: { type: "string", format: "date", description: "Override the day" } }
 */
export interface ParamSpec {
  /** The JSON type, or several. */
  type?: ParamType | ParamType[];
  /** Used when the run's conf does not give the param. */
  default?: unknown;
  /** The only values allowed (the trigger form shows a choice). */
  enum?: readonly unknown[];
  /** Shown in the trigger form. */
  description?: string;
  /** A label for the trigger form instead of the param's name. */
  title?: string;
  /** Smallest number allowed. */
  minimum?: number;
  /** Largest number allowed. */
  maximum?: number;
  /** Shortest string allowed. */
  minLength?: number;
  /** Longest string allowed. */
  maxLength?: number;
  /** A regular expression a string must match. */
  pattern?: string;
  /** A JSON-Schema format such as "date", "date-time", "email" or "uri". */
  format?: string;
  /** The schema of each element of an array param. */
  items?: ParamSpec;
}

/**
 * When a DAG runs: a cron expression (read in the DAG's timezone), a preset ("@hourly", "@daily",
 * "@weekly", "@monthly", "@yearly", "@once"), a fixed interval, or null for manual runs only.
 * @example
 *   schedule: "0 3 * * *"          // every day at 03:00
 *   schedule: { every: "15m" }     // every 15 minutes from startDate
 */
export type ScheduleSpec =
  | string
  | {
      /** The interval between runs. */
      every: Duration;
    }
  | null;

/**
 * The first argument of `dag()`.
 * @example
 *   dag({ id: "daily_sales", schedule: "0 3 * * *", timezone: "Europe/Berlin", startDate: "2026-01-01",
 *         catchup: false, tags: ["sales"], defaults: { retries: 2 } }, () => { store(extract()); });
 */
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
  /** Typed inputs of a run: `ctx.params` holds their defaults merged with the run's conf. */
  params?: Record<string, ParamSpec>;
  /** Labels to filter DAGs by in the UI and the API. */
  tags?: string[];
  /** One line shown in listings. */
  description?: string;
  /** Markdown documentation shown with the DAG. */
  docMd?: string;
  /** Shown in listings; the default owner of the DAG's tasks. Default "updraft". */
  owner?: string;
  /**
   * Roles that may read or edit this DAG in addition to what their permissions allow
   * everywhere, e.g. { "team-a": ["read", "edit"] }: a role can be limited to some DAGs.
   */
  access?: Record<string, Array<"read" | "edit">>;
}

/**
 * What `dag()` returns: the DAG as it was defined. A DAG file exports it (as default or by name).
 * @example
 *   export default dag({ id: "hello" }, () => { hello(); });
 *   // { id: "hello", taskIds: ["hello"] }
 */
export interface Dag {
  /** The DAG's id. */
  readonly id: string;
  /** Its tasks' ids, in the order they were added. */
  readonly taskIds: readonly string[];
}
