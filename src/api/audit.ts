/** The audit log: who did what to which object, when, from where, and how it ended. */
import type { FastifyRequest } from "fastify";
import type { Kysely } from "kysely";
import type { Database } from "../store/schema.js";

export async function recordAudit(db: Kysely<Database>, request: FastifyRequest, status: number, action: string): Promise<void> {
  const note = request.auditNote ?? {};
  const principal = request.principal;
  const params = (request.params ?? {}) as Record<string, string>;
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
      object_id: (note.objectId ?? params.dag_run_id ?? params.task_id ?? params.pool_name ?? params.connection_id ?? params.variable_key ?? params.username ?? null)?.slice(0, 500) ?? null,
      dag_id: (note.dagId ?? params.dag_id ?? null)?.slice(0, 250) ?? null,
      source_ip: request.ip,
      outcome: status < 400 ? "success" : status === 401 || status === 403 ? "denied" : "failure",
      status,
      details: note.details === undefined ? null : JSON.stringify(note.details).slice(0, 4000),
    })
    .execute();
}
