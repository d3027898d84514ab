/**
 * The metadata database's tables as Kysely sees them. Times are epoch milliseconds (bigint),
 * booleans are 0/1 integers and structured values are JSON text, so that one schema and one set
 * of queries serve SQLite and PostgreSQL alike.
 */
import type { Generated, Insertable, Selectable, Updateable } from "kysely";

export interface DagTable {
  dag_id: string;
  /** The DAGs folder (absolute path) the DAG's file is in; `fileloc` is relative to it. */
  dags_folder: string;
  fileloc: string;
  is_active: number;
  is_paused: number;
  owner: string;
  description: string | null;
  tags: string;
  schedule: string;
  schedule_description: string;
  timezone: string;
  max_active_runs: number;
  max_active_tasks: number;
  latest_version_id: number | null;
  /** When the scheduler should create the next scheduled run; null when none is due. */
  next_dagrun_create_after: number | null;
  next_dagrun_interval_start: number | null;
  next_dagrun_interval_end: number | null;
  created_at: number;
  updated_at: number;
  last_parsed_at: number | null;
  /** Per-DAG access: JSON { roleName: ["read"] | ["read", "edit"] }, or null for none. */
  access: string | null;
}

export interface DagBundleTable {
  hash: string;
  code: string;
  created_at: number;
}

export interface DagVersionTable {
  id: Generated<number>;
  dag_id: string;
  version_number: number;
  hash: string;
  bundle_hash: string;
  structure: string;
  source: string;
  created_at: number;
}

export interface ImportErrorTable {
  id: Generated<number>;
  dags_folder: string;
  fileloc: string;
  /** UPDRAFT_E_* code of the (first) failure. */
  code: string;
  message: string;
  line: number | null;
  column: number | null;
  location: string | null;
  stack: string | null;
  created_at: number;
}

/** What a file's type check found while its DAGs registered anyway (typeCheck "warn"). */
export interface ImportWarningTable {
  id: Generated<number>;
  dags_folder: string;
  fileloc: string;
  /** UPDRAFT_E_TYPE_ERRORS, or UPDRAFT_E_TYPE_CHECK_FAILED when the check could not finish. */
  code: string;
  message: string;
  line: number | null;
  column: number | null;
  location: string | null;
  created_at: number;
}

export interface DagRunTable {
  id: Generated<number>;
  dag_id: string;
  run_id: string;
  dag_version_id: number;
  run_type: string;
  state: string;
  logical_date: number;
  data_interval_start: number;
  data_interval_end: number;
  run_after: number;
  conf: string;
  params: string;
  note: string | null;
  queued_at: number | null;
  start_date: number | null;
  end_date: number | null;
  created_at: number;
  updated_at: number;
}

export interface TaskInstanceTable {
  id: Generated<number>;
  dag_run_id: number;
  dag_id: string;
  task_id: string;
  state: string;
  try_number: number;
  max_tries: number;
  /** Identifies the current try; every report about a try must name it (fencing). */
  try_id: string | null;
  priority_weight: number;
  pool: string;
  pool_slots: number;
  queue: string;
  operator: string;
  scheduled_at: number | null;
  queued_at: number | null;
  start_date: number | null;
  end_date: number | null;
  duration_ms: number | null;
  next_retry_at: number | null;
  hostname: string | null;
  pid: number | null;
  job_id: number | null;
  note: string | null;
  updated_at: number;
  /** The last heartbeat of a try that runs on a remote worker (null for local tries). */
  heartbeat_at: number | null;
  /** SHA-256 of the claim the remote worker started the try with (null for local tries). */
  claim_hash: string | null;
}

export interface TaskTryTable {
  id: Generated<number>;
  ti_id: number;
  dag_run_id: number;
  dag_id: string;
  task_id: string;
  try_number: number;
  try_id: string;
  state: string;
  queued_at: number | null;
  start_date: number | null;
  end_date: number;
  duration_ms: number | null;
  hostname: string | null;
  pid: number | null;
  error: string | null;
}

export interface XcomTable {
  dag_run_id: number;
  task_id: string;
  key: string;
  value: string;
  created_at: number;
}

export interface TaskLogTable {
  id: Generated<number>;
  ti_id: number;
  try_number: number;
  ts: number;
  stream: string;
  level: string;
  message: string;
}

export interface PoolTable {
  name: string;
  slots: number;
  description: string | null;
  include_deferred: number;
}

export interface JobTable {
  id: Generated<number>;
  kind: string;
  hostname: string;
  pid: number;
  state: string;
  started_at: number;
  heartbeat_at: number;
  stopped_at: number | null;
}

export interface UserTable {
  id: Generated<number>;
  username: string;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  password_hash: string;
  active: number;
  token_version: number;
  created_at: number;
  updated_at: number;
  last_login_at: number | null;
}

export interface RoleTable {
  id: Generated<number>;
  name: string;
  description: string | null;
  /** JSON array of permission names. */
  permissions: string;
  builtin: number;
  created_at: number;
}

export interface UserRoleTable {
  user_id: number;
  role_id: number;
}

export interface AuthSessionTable {
  id: Generated<number>;
  user_id: number;
  refresh_hash: string;
  /** The refresh token this session's current one replaced (reuse detection). */
  prev_refresh_hash: string | null;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  source_ip: string | null;
}

export interface ApiTokenTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  token_hash: string;
  prefix: string;
  created_at: number;
  expires_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  ts: number;
  user_id: number | null;
  username: string | null;
  action: string;
  method: string | null;
  path: string | null;
  object_type: string | null;
  object_id: string | null;
  dag_id: string | null;
  source_ip: string | null;
  outcome: string;
  status: number | null;
  details: string | null;
}

export interface ConnectionTable {
  conn_id: string;
  conn_type: string;
  description: string | null;
  host: string | null;
  schema_name: string | null;
  login: string | null;
  port: number | null;
  password_enc: string | null;
  extra_enc: string | null;
  created_at: number;
  updated_at: number;
}

export interface VariableTable {
  key: string;
  value: string | null;
  value_enc: string | null;
  is_secret: number;
  description: string | null;
  created_at: number;
  updated_at: number;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface EventTable {
  id: Generated<number>;
  ts: number;
  kind: string;
  dag_id: string | null;
  payload: string;
}

export interface Database {
  dag: DagTable;
  dag_bundle: DagBundleTable;
  dag_version: DagVersionTable;
  import_error: ImportErrorTable;
  import_warning: ImportWarningTable;
  dag_run: DagRunTable;
  task_instance: TaskInstanceTable;
  task_try: TaskTryTable;
  xcom: XcomTable;
  task_log: TaskLogTable;
  pool: PoolTable;
  job: JobTable;
  app_user: UserTable;
  app_role: RoleTable;
  user_role: UserRoleTable;
  auth_session: AuthSessionTable;
  api_token: ApiTokenTable;
  audit_log: AuditLogTable;
  connection: ConnectionTable;
  variable: VariableTable;
  updraft_meta: MetaTable;
  event: EventTable;
}

export type DagRow = Selectable<DagTable>;
export type DagVersionRow = Selectable<DagVersionTable>;
export type DagRunRow = Selectable<DagRunTable>;
export type NewDagRun = Insertable<DagRunTable>;
export type TaskInstanceRow = Selectable<TaskInstanceTable>;
export type NewTaskInstance = Insertable<TaskInstanceTable>;
export type TaskInstanceUpdate = Updateable<TaskInstanceTable>;
export type TaskTryRow = Selectable<TaskTryTable>;
export type ImportErrorRow = Selectable<ImportErrorTable>;
export type ImportWarningRow = Selectable<ImportWarningTable>;
export type PoolRow = Selectable<PoolTable>;
export type JobRow = Selectable<JobTable>;
export type TaskLogRow = Selectable<TaskLogTable>;
export type UserRow = Selectable<UserTable>;
export type RoleRow = Selectable<RoleTable>;
export type ApiTokenRow = Selectable<ApiTokenTable>;
export type AuditLogRow = Selectable<AuditLogTable>;
export type ConnectionRow = Selectable<ConnectionTable>;
export type VariableRow = Selectable<VariableTable>;
export type EventRow = Selectable<EventTable>;
