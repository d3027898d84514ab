/** Shapes of the REST API's answers the UI reads (see docs/API.md and /api/v1/openapi.json). */

export interface Me {
  username: string;
  roles: string[];
  permissions: string[];
  via: string;
}

export interface RecentRun {
  dag_run_id: string;
  state: string;
  run_type: string;
  logical_date: string;
}

export interface Dag {
  dag_id: string;
  description: string | null;
  owner: string;
  tags: string[];
  is_paused: boolean;
  is_active: boolean;
  fileloc: string;
  schedule: unknown;
  schedule_description: string;
  timezone: string;
  max_active_runs: number;
  max_active_tasks: number;
  latest_version: number | null;
  next_dagrun_create_after: string | null;
  next_dagrun_data_interval_start: string | null;
  next_dagrun_data_interval_end: string | null;
  has_import_errors: boolean;
  /** What the signed-in user may do with this DAG (their roles and the DAG's access list). */
  my_access: { edit: boolean; trigger: boolean; delete: boolean };
  recent_runs?: RecentRun[];
}

export interface ParamSpec {
  type?: string | string[];
  default?: unknown;
  enum?: unknown[];
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

export interface DagDetail extends Dag {
  doc_md: string | null;
  params: Record<string, ParamSpec>;
  start_date: string | null;
  end_date: string | null;
  catchup: boolean;
}

export interface DagRun {
  dag_id: string;
  dag_run_id: string;
  run_type: string;
  state: string;
  logical_date: string;
  data_interval_start: string;
  data_interval_end: string;
  run_after: string;
  queued_at: string | null;
  start_date: string | null;
  end_date: string | null;
  last_changed: string;
  conf: Record<string, unknown>;
  note: string | null;
  dag_version: number | null;
}

export interface TaskInstance {
  dag_id: string;
  dag_run_id: string;
  task_id: string;
  logical_date: string;
  state: string;
  try_number: number;
  max_tries: number;
  operator: string;
  pool: string;
  pool_slots: number;
  queue: string;
  priority_weight: number;
  scheduled_when: string | null;
  queued_when: string | null;
  start_date: string | null;
  end_date: string | null;
  duration_ms: number | null;
  next_retry_at: string | null;
  hostname: string | null;
  pid: number | null;
  note: string | null;
}

export interface Try {
  try_number: number;
  state: string;
  queued_when: string | null;
  start_date: string | null;
  end_date: string | null;
  duration_ms: number | null;
  hostname: string | null;
  pid: number | null;
  error_message: string | null;
  error_code: string | null;
  /** The error's stack with the task's own frames only. */
  stack: string | null;
  /** The whole stack, Updraft's runner and Node.js included. */
  full_stack: string | null;
}

export interface LogLine {
  ts: string;
  stream: string;
  level: string;
  message: string;
}

export interface LogPage {
  lines: LogLine[];
  continuation_token: string | null;
  finished: boolean;
}

export interface XcomEntry {
  dag_id: string;
  dag_run_id: string;
  task_id: string;
  key: string;
  value: unknown;
  timestamp: string;
}

export interface TaskChange {
  dag_id: string;
  dag_run_id: string;
  task_id: string;
  previous_state: string;
  new_state: string;
}

export interface StructureTask {
  task_id: string;
  kind: string;
  group: string | null;
  upstream: string[];
  data_upstream: string[];
  trigger_rule: string;
  retries: number;
  retry_delay_ms: number;
  retry_backoff: string;
  retry_backoff_multiplier: number | null;
  execution_timeout_ms: number | null;
  pool: string;
  pool_slots: number;
  priority_weight: number;
  queue: string;
  owner: string | null;
  doc: string | null;
  display: Record<string, string>;
}

export interface Structure {
  dag_id: string;
  version_number: number;
  tasks: StructureTask[];
  edges: Array<{ source: string; target: string; data: boolean }>;
  groups: Array<{ group_id: string; parent: string | null }>;
}

export interface GridRun {
  dag_run_id: string;
  state: string;
  run_type: string;
  logical_date: string;
  data_interval_start: string;
  data_interval_end: string;
  start_date: string | null;
  end_date: string | null;
  version_number: number | null;
  states: Array<string | null>;
  tries: number[];
}

export interface Grid {
  dag_id: string;
  version_number: number | null;
  tasks: Array<{ task_id: string; group: string | null; kind: string }>;
  groups: Array<{ group_id: string; parent: string | null }>;
  runs: GridRun[];
}

export interface DagVersion {
  version_number: number;
  dag_id: string;
  created_at: string;
  hash: string;
  bundle_hash: string;
}

export interface ImportError {
  import_error_id: number;
  filename: string;
  timestamp: string;
  code: string;
  message: string;
  line: number | null;
  column: number | null;
}


/* ---- Admin pages: connections, variables, pools, users, roles, API tokens, audit log ---- */

/** A connection as the API shows it: never the password or the extra, only whether they are set. */
export interface Connection {
  connection_id: string;
  conn_type: string;
  description: string | null;
  host: string | null;
  schema: string | null;
  login: string | null;
  port: number | null;
  password_set: boolean;
  extra_set: boolean;
  created_at: string;
  updated_at: string;
}

export interface Variable {
  key: string;
  /** "***" for a secret variable. */
  value: string;
  is_secret: boolean;
  description: string | null;
  created_at: string;
  updated_at: string;
}

export interface Pool {
  name: string;
  slots: number;
  occupied_slots: number;
  running_slots: number;
  queued_slots: number;
  open_slots: number;
  description: string | null;
}

export interface User {
  username: string;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  roles: string[];
  active: boolean;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
}

export interface Role {
  name: string;
  description: string | null;
  permissions: string[];
  builtin: boolean;
  user_count: number;
  created_at: string;
}

export interface ApiToken {
  token_id: number;
  name: string;
  prefix: string;
  username: string;
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  state: "active" | "revoked" | "expired";
}

/** The answer to POST /tokens: the only time the secret is shown. */
export interface NewApiToken extends ApiToken {
  token: string;
}

export interface EventLog {
  event_log_id: number;
  when: string;
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
  details: unknown;
}
