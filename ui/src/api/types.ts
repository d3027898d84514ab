/**
 * Shapes of the REST API's answers the UI reads: the static types of the server's own response
 * schemas (src/api/models.ts), so the UI cannot drift from what the API sends. Type-only: no server
 * code reaches the bundle.
 */
export type {
  ApiToken,
  Connection,
  DagDetail,
  DagRun,
  DagVersion,
  EventLog,
  Grid,
  GridRun,
  ImportError,
  LogLine,
  LogPage,
  Me,
  NewApiToken,
  ParamSpec,
  Pool,
  RecentRun,
  Role,
  Structure,
  TaskInstance,
  TokenPair,
  Try,
  User,
  Variable,
  XcomEntry,
  /** A DAG as the list shows it (with its latest runs when they were asked for). */
  DagListItem as Dag,
  TaskInstanceChange as TaskChange,
  Task as StructureTask,
} from "../../../src/api/models.js";
export type { ApiErrorBody } from "../../../src/api/schemas.js";
