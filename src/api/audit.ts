/** The audit log: who did what to which object, when, from where, and how it ended. */
import { userInfo } from "node:os";
import type { FastifyRequest } from "fastify";
import type { Kysely } from "kysely";
import { isUpdraftError } from "../errors/index.js";
import type { Database } from "../store/schema.js";
import { pathParam } from "./access.js";

export async function recordAudit(db: Kysely<Database>, request: FastifyRequest, status: number, action: string): Promise<void> {
  const note = request.auditNote ?? {};
  const principal = request.principal;
  const param = (name: string) => pathParam(request, name);
  await db
    .insertInto("audit_log")
    .values({
      ts: Date.now(),
      user_id: principal?.userId ?? null,
      username: principal?.username ?? (typeof (note.details as { username?: unknown } | undefined)?.username === "string" ? ((note.details as { username: string }).username.slice(0, 100)) : null),
      action,
      method: request.method,
      path: (request.routeOptions.url ?? request.url.split("?")[0]!).slice(0, 500),
      object_type: note.objectType ?? null,
      object_id: (note.objectId ?? param("dag_run_id") ?? param("task_id") ?? param("pool_name") ?? param("connection_id") ?? param("variable_key") ?? param("username") ?? null)?.slice(0, 500) ?? null,
      dag_id: (note.dagId ?? param("dag_id") ?? null)?.slice(0, 250) ?? null,
      source_ip: request.ip,
      outcome: status < 400 ? "success" : status === 401 || status === 403 ? "denied" : "failure",
      status,
      details: note.details === undefined ? null : JSON.stringify(note.details).slice(0, 4000),
    })
    .execute();
}

/** Who runs a CLI command, as the audit log names them: the operating-system account. */
function localActor(): string {
  try {
    return `os:${userInfo().username}`.slice(0, 100);
  } catch {
    return "os:unknown";
  }
}

/** What a CLI command changes, for its audit record. */
export interface CliAudit {
  /** The API's action name for the same change ("dag_run.trigger", "dag.update", …), so one filter finds both. */
  action: string;
  /** The command as typed, without its values ("updraft dags trigger"). */
  command: string;
  objectType: string;
  /** May be set by `fn` once known (a triggered run's id): the record is written after it ran. */
  objectId: string | null;
  dagId?: string;
  details?: Record<string, unknown>;
}

/**
 * Runs a change made from the command line and audits it like an API call: the actor is the
 * operating-system account, the source "local", the outcome success or failure. Every CLI
 * command that changes state goes through here; a dry run changes nothing and is not audited,
 * as in the API.
 */
export async function auditedCli<T>(db: Kysely<Database>, what: CliAudit, fn: () => Promise<T>): Promise<T> {
  const row = (status: number, details: Record<string, unknown> | undefined) => ({
    ts: Date.now(),
    user_id: null,
    username: localActor(),
    action: what.action,
    method: "CLI",
    path: what.command.slice(0, 500),
    object_type: what.objectType,
    object_id: what.objectId?.slice(0, 500) ?? null,
    dag_id: what.dagId?.slice(0, 250) ?? null,
    source_ip: "local",
    outcome: status < 400 ? "success" : "failure",
    status,
    details: details === undefined ? null : JSON.stringify(details).slice(0, 4000),
  });
  try {
    const result = await fn();
    await db.insertInto("audit_log").values(row(200, what.details)).execute();
    return result;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const status = isUpdraftError(error) ? error.status : 500;
    await db.insertInto("audit_log").values(row(status, { ...what.details, error: typeof code === "string" ? code : "error" })).execute().catch(() => undefined);
    throw error;
  }
}
