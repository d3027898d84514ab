/**
 * The resources the API answers with, as TypeBox schemas: the routes declare them as their
 * responses (so handlers are type-checked against them and the OpenAPI document shows them), and
 * each one's static type, of the same name, is what the web UI reads (ui/src/api/types.ts).
 *
 * The UI's compiler follows this file's imports: keep them to TypeBox and plain constants.
 */
import { Type, type Static } from "typebox";
import { DAG_RUN_STATES, RUN_TYPES, TI_STATES } from "../dag/model.js";
import { SENSITIVE_KEY_PARTS } from "../util/sensitive.js";
import { Nullable, Timestamp } from "./schemas.js";

/* ---- Who is calling ---- */

export const Me = Type.Object({ username: Type.String(), roles: Type.Array(Type.String()), permissions: Type.Array(Type.String()), via: Type.String() }, { additionalProperties: false });
export type Me = Static<typeof Me>;

/** The answer to a login or a refresh. */
export const TokenPair = Type.Object(
  { access_token: Type.String(), refresh_token: Type.String(), token_type: Type.Literal("Bearer"), expires_in: Type.Integer({ description: "seconds the access token lives" }) },
  { additionalProperties: false },
);
export type TokenPair = Static<typeof TokenPair>;

/* ---- DAGs ---- */

export const Dag = Type.Object(
  {
    dag_id: Type.String(),
    description: Nullable(Type.String()),
    owner: Type.String(),
    tags: Type.Array(Type.String()),
    is_paused: Type.Boolean(),
    is_active: Type.Boolean(),
    fileloc: Type.String(),
    schedule: Type.Unknown({ description: 'cron string, "@once", { every: ms } or null' }),
    schedule_description: Type.String(),
    timezone: Type.String(),
    max_active_runs: Type.Integer(),
    max_active_tasks: Type.Integer(),
    latest_version: Nullable(Type.Integer()),
    next_dagrun_create_after: Timestamp,
    next_dagrun_data_interval_start: Timestamp,
    next_dagrun_data_interval_end: Timestamp,
    has_import_errors: Type.Boolean(),
    my_access: Type.Object(
      { edit: Type.Boolean(), trigger: Type.Boolean(), delete: Type.Boolean() },
      { additionalProperties: false, description: "what the caller may do with this DAG (pause; trigger, clear and mark; delete), by role and the DAG's access list" },
    ),
  },
  { additionalProperties: false },
);
export type Dag = Static<typeof Dag>;

export const RecentRun = Type.Object(
  { dag_run_id: Type.String(), state: Type.String(), run_type: Type.String(), logical_date: Type.String() },
  { additionalProperties: false },
);
export type RecentRun = Static<typeof RecentRun>;

/** A DAG as the list shows it: with its latest runs when they were asked for (`recent_runs`). */
export const DagListItem = Type.Object({ ...Dag.properties, recent_runs: Type.Optional(Type.Array(RecentRun)) }, { additionalProperties: false });
export type DagListItem = Static<typeof DagListItem>;

const ParamFields = {
  type: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description: "a JSON type, or several" })),
  default: Type.Optional(Type.Unknown()),
  enum: Type.Optional(Type.Immutable(Type.Array(Type.Unknown()))),
  description: Type.Optional(Type.String()),
  title: Type.Optional(Type.String()),
  minimum: Type.Optional(Type.Number()),
  maximum: Type.Optional(Type.Number()),
  minLength: Type.Optional(Type.Integer()),
  maxLength: Type.Optional(Type.Integer()),
  pattern: Type.Optional(Type.String()),
  format: Type.Optional(Type.String()),
};

/** A param as the DAG declares it (JSON Schema keywords); the trigger form is built from these. */
export const ParamSpec = Type.Object(
  {
    ...ParamFields,
    // The DAG processor checks a param's own keys, not those of its items: any JSON Schema passes.
    items: Type.Optional(Type.Object({ ...ParamFields, items: Type.Optional(Type.Unknown()) }, { additionalProperties: true, description: "the schema of each element of an array param" })),
  },
  { additionalProperties: false },
);
export type ParamSpec = Static<typeof ParamSpec>;

export const DagDetail = Type.Object(
  {
    ...Dag.properties,
    doc_md: Nullable(Type.String()),
    params: Type.Record(Type.String(), ParamSpec),
    start_date: Timestamp,
    end_date: Timestamp,
    catchup: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type DagDetail = Static<typeof DagDetail>;

export const DagVersion = Type.Object(
  { version_number: Type.Integer(), dag_id: Type.String(), created_at: Type.String(), hash: Type.String(), bundle_hash: Type.String() },
  { additionalProperties: false },
);
export type DagVersion = Static<typeof DagVersion>;

export const Task = Type.Object(
  {
    task_id: Type.String(),
    kind: Type.String(),
    group: Nullable(Type.String()),
    upstream: Type.Array(Type.String()),
    data_upstream: Type.Array(Type.String()),
    trigger_rule: Type.String(),
    retries: Type.Integer(),
    retry_delay_ms: Type.Integer(),
    retry_backoff: Type.String({ description: "fixed or exponential" }),
    retry_backoff_multiplier: Nullable(Type.Number({ description: "the factor of exponential backoff (null for fixed)" })),
    execution_timeout_ms: Nullable(Type.Integer()),
    pool: Type.String(),
    pool_slots: Type.Integer(),
    priority_weight: Type.Integer(),
    queue: Type.String(),
    owner: Nullable(Type.String()),
    doc: Nullable(Type.String()),
    display: Type.Record(Type.String(), Type.String()),
  },
  { additionalProperties: false },
);
export type Task = Static<typeof Task>;

const TaskGroup = Type.Object({ group_id: Type.String(), parent: Nullable(Type.String()) }, { additionalProperties: false });

/** Tasks, edges and groups of a DAG version, for the graph view. */
export const Structure = Type.Object(
  {
    dag_id: Type.String(),
    version_number: Type.Integer(),
    tasks: Type.Array(Task),
    edges: Type.Array(Type.Object({ source: Type.String(), target: Type.String(), data: Type.Boolean() }, { additionalProperties: false })),
    groups: Type.Array(TaskGroup),
  },
  { additionalProperties: false },
);
export type Structure = Static<typeof Structure>;

export const GridRun = Type.Object(
  {
    dag_run_id: Type.String(),
    state: Type.String(),
    run_type: Type.String(),
    logical_date: Type.String(),
    data_interval_start: Type.String({ format: "date-time" }),
    data_interval_end: Type.String({ format: "date-time" }),
    start_date: Timestamp,
    end_date: Timestamp,
    version_number: Nullable(Type.Integer()),
    states: Type.Array(Nullable(Type.String()), { description: "one per task, in the order of `tasks`; null: no instance" }),
    tries: Type.Array(Type.Integer(), { description: "try number per task (0: not tried)" }),
  },
  { additionalProperties: false },
);
export type GridRun = Static<typeof GridRun>;

export const GridTask = Type.Object({ task_id: Type.String(), group: Nullable(Type.String()), kind: Type.String() }, { additionalProperties: false });
export type GridTask = Static<typeof GridTask>;

/** Runs × tasks for the grid view. */
export const Grid = Type.Object(
  {
    dag_id: Type.String(),
    version_number: Nullable(Type.Integer()),
    tasks: Type.Array(GridTask, { description: "in the latest version's order; tasks found only in older runs come last" }),
    groups: Type.Array(TaskGroup),
    runs: Type.Array(GridRun, { description: "newest first" }),
  },
  { additionalProperties: false },
);
export type Grid = Static<typeof Grid>;

/* ---- Runs and task instances ---- */

export const DagRun = Type.Object(
  {
    dag_id: Type.String(),
    dag_run_id: Type.String(),
    run_type: Type.String({ description: RUN_TYPES.join(", ") }),
    state: Type.String({ description: DAG_RUN_STATES.join(", ") }),
    logical_date: Type.String({ format: "date-time" }),
    data_interval_start: Type.String({ format: "date-time" }),
    data_interval_end: Type.String({ format: "date-time" }),
    run_after: Type.String({ format: "date-time" }),
    queued_at: Timestamp,
    start_date: Timestamp,
    end_date: Timestamp,
    last_changed: Type.String({ format: "date-time" }),
    conf: Type.Record(Type.String(), Type.Unknown()),
    note: Nullable(Type.String()),
    dag_version: Nullable(Type.Integer({ description: "the number of the DAG version the run uses" })),
  },
  { additionalProperties: false },
);
export type DagRun = Static<typeof DagRun>;

export const TaskInstance = Type.Object(
  {
    dag_id: Type.String(),
    dag_run_id: Type.String(),
    task_id: Type.String(),
    logical_date: Type.String({ format: "date-time" }),
    state: Type.String({ description: `one of ${TI_STATES.join(", ")}` }),
    try_number: Type.Integer(),
    max_tries: Type.Integer(),
    operator: Type.String(),
    pool: Type.String(),
    pool_slots: Type.Integer(),
    queue: Type.String(),
    priority_weight: Type.Integer(),
    scheduled_when: Timestamp,
    queued_when: Timestamp,
    start_date: Timestamp,
    end_date: Timestamp,
    duration_ms: Nullable(Type.Integer()),
    next_retry_at: Timestamp,
    hostname: Nullable(Type.String()),
    pid: Nullable(Type.Integer()),
    note: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type TaskInstance = Static<typeof TaskInstance>;

/** A task instance a state change touched (or, in a dry run, would touch). */
export const TaskInstanceChange = Type.Object(
  { dag_id: Type.String(), dag_run_id: Type.String(), task_id: Type.String(), previous_state: Type.String(), new_state: Type.String() },
  { additionalProperties: false },
);
export type TaskInstanceChange = Static<typeof TaskInstanceChange>;

export const ChangeList = Type.Object({ task_instances: Type.Array(TaskInstanceChange), total_entries: Type.Integer(), dry_run: Type.Boolean() }, { additionalProperties: false });
export type ChangeList = Static<typeof ChangeList>;

export const Try = Type.Object(
  {
    try_number: Type.Integer(),
    state: Type.String(),
    queued_when: Timestamp,
    start_date: Timestamp,
    end_date: Timestamp,
    duration_ms: Nullable(Type.Integer()),
    hostname: Nullable(Type.String()),
    pid: Nullable(Type.Integer()),
    error_message: Nullable(Type.String()),
    error_code: Nullable(Type.String()),
    stack: Nullable(Type.String({ description: "the error's stack trace with the frames of the task's own code only (Updraft's and Node.js's left out)" })),
    full_stack: Nullable(Type.String({ description: "the whole stack trace, as the runner recorded it" })),
  },
  { additionalProperties: false },
);
export type Try = Static<typeof Try>;

export const LogLine = Type.Object({ ts: Type.String({ format: "date-time" }), stream: Type.String(), level: Type.String(), message: Type.String() }, { additionalProperties: false });
export type LogLine = Static<typeof LogLine>;

export const LogPage = Type.Object(
  {
    lines: Type.Array(LogLine),
    continuation_token: Nullable(Type.String({ description: "pass it back for the lines after these; null when there were none yet" })),
    finished: Type.Boolean({ description: "the try is over and every line of it was returned" }),
  },
  { additionalProperties: false },
);
export type LogPage = Static<typeof LogPage>;

export const XcomEntry = Type.Object(
  { dag_id: Type.String(), dag_run_id: Type.String(), task_id: Type.String(), key: Type.String(), value: Type.Unknown({ description: "the value, as JSON" }), timestamp: Type.String({ format: "date-time" }) },
  { additionalProperties: false },
);
export type XcomEntry = Static<typeof XcomEntry>;

/* ---- Import errors ---- */

export const Severity = Type.Union([Type.Literal("error"), Type.Literal("warning")], {
  description: "error: the file failed to import (its DAGs keep their last version); warning: its DAGs registered, but it has type errors",
});
export type Severity = Static<typeof Severity>;

export const ImportError = Type.Object(
  {
    import_error_id: Type.Integer({ description: "unique among the entries of its severity" }),
    severity: Severity,
    filename: Type.String({ description: "the file, relative to the DAGs folder" }),
    timestamp: Type.String({ format: "date-time" }),
    code: Type.String(),
    message: Type.String(),
    line: Nullable(Type.Integer()),
    column: Nullable(Type.Integer()),
    location: Nullable(Type.String()),
    stack_trace: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type ImportError = Static<typeof ImportError>;

/* ---- Admin: connections, variables, pools, users, roles, API tokens, audit log ---- */

/** What is shown of a connection: never the password or the extra, only whether they are set. */
export const Connection = Type.Object(
  {
    connection_id: Type.String(),
    conn_type: Type.String(),
    description: Nullable(Type.String()),
    host: Nullable(Type.String()),
    schema: Nullable(Type.String()),
    login: Nullable(Type.String()),
    port: Nullable(Type.Integer()),
    password_set: Type.Boolean(),
    extra_set: Type.Boolean(),
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  { additionalProperties: false },
);
export type Connection = Static<typeof Connection>;

export const Variable = Type.Object(
  {
    key: Type.String(),
    value: Type.String({ description: 'the value; "***" for a secret variable (secret values are write-only)' }),
    is_secret: Type.Boolean({ description: `set, or implied by a key containing ${SENSITIVE_KEY_PARTS.join(", ")}` }),
    description: Nullable(Type.String()),
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  { additionalProperties: false },
);
export type Variable = Static<typeof Variable>;

export const Pool = Type.Object(
  {
    name: Type.String(),
    slots: Type.Integer({ description: "task-instance slots; 0 holds every task of the pool" }),
    occupied_slots: Type.Integer({ description: "slots of queued and running task instances" }),
    running_slots: Type.Integer(),
    queued_slots: Type.Integer(),
    open_slots: Type.Integer({ description: "slots left (never below 0)" }),
    description: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type Pool = Static<typeof Pool>;

export const User = Type.Object(
  {
    username: Type.String(),
    email: Nullable(Type.String()),
    first_name: Nullable(Type.String()),
    last_name: Nullable(Type.String()),
    roles: Type.Array(Type.String()),
    active: Type.Boolean(),
    created_at: Type.String(),
    updated_at: Type.String(),
    last_login_at: Timestamp,
  },
  { additionalProperties: false },
);
export type User = Static<typeof User>;

export const Role = Type.Object(
  {
    name: Type.String(),
    description: Nullable(Type.String()),
    permissions: Type.Array(Type.String()),
    builtin: Type.Boolean({ description: "Viewer, User, Op and Admin cannot be changed or deleted" }),
    user_count: Type.Integer(),
    created_at: Type.String(),
  },
  { additionalProperties: false },
);
export type Role = Static<typeof Role>;

const TokenInfo = {
  token_id: Type.Integer(),
  name: Type.String(),
  prefix: Type.String({ description: "the first characters of the token, to recognise it" }),
  username: Type.String(),
  created_at: Type.String(),
  expires_at: Type.String(),
  last_used_at: Timestamp,
  revoked_at: Timestamp,
  state: Type.Union([Type.Literal("active"), Type.Literal("revoked"), Type.Literal("expired")]),
};
export const ApiToken = Type.Object(TokenInfo, { additionalProperties: false });
export type ApiToken = Static<typeof ApiToken>;

/** The answer to POST /tokens: the only time the secret is shown. */
export const NewApiToken = Type.Object({ ...TokenInfo, token: Type.String({ description: "the secret: shown this once, stored only as a hash" }) }, { additionalProperties: false });
export type NewApiToken = Static<typeof NewApiToken>;

export const EventLog = Type.Object(
  {
    event_log_id: Type.Integer(),
    when: Type.String(),
    username: Nullable(Type.String()),
    action: Type.String({ description: 'e.g. "auth.login", "dag.update", "connection.create"' }),
    method: Nullable(Type.String()),
    path: Nullable(Type.String()),
    object_type: Nullable(Type.String()),
    object_id: Nullable(Type.String()),
    dag_id: Nullable(Type.String()),
    source_ip: Nullable(Type.String()),
    outcome: Type.String({ description: "success, denied (401/403) or failure" }),
    status: Nullable(Type.Integer()),
    details: Type.Unknown(),
  },
  { additionalProperties: false },
);
export type EventLog = Static<typeof EventLog>;
