/** Authorization of DAG-scoped requests: what a principal may see and do with each DAG. */
import type { FastifyRequest } from "fastify";
import type { Kysely } from "kysely";
import { UpdraftError } from "../errors/index.js";
import { canDag, readsAllDags, type DagAccess, type Principal } from "../security/rbac.js";
import type { Database } from "../store/schema.js";
import type { DagNeed } from "./types.js";

export function parseAccess(text: string | null): DagAccess | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as DagAccess;
  } catch {
    return null;
  }
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new UpdraftError("UPDRAFT_E_UNAUTHENTICATED", "authentication is required");
  return request.principal;
}

/**
 * Checks one DAG for a request. A DAG the principal may not read answers exactly like a DAG that
 * does not exist (404), so names of other teams' DAGs do not leak.
 */
export async function authorizeDag(db: Kysely<Database>, principal: Principal, dagId: string, need: DagNeed): Promise<void> {
  const row = await db.selectFrom("dag").select(["access"]).where("dag_id", "=", dagId).executeTakeFirst();
  const access = row ? parseAccess(row.access) : null;
  if (!row || !canDag(principal, access, "read")) {
    throw new UpdraftError("UPDRAFT_E_DAG_NOT_FOUND", `DAG '${dagId}' not found`);
  }
  if (need !== "read" && !canDag(principal, access, need)) {
    throw new UpdraftError("UPDRAFT_E_FORBIDDEN", `you may not ${need === "trigger" ? "trigger, clear or change the state of runs of" : need} DAG '${dagId}'`, {
      hint: `ask an Admin for a role that allows it`,
    });
  }
}

/**
 * The DAG ids a principal may read, or null when it may read every DAG. Lists filter by this,
 * in SQL, before paging.
 */
export async function readableDagIds(db: Kysely<Database>, principal: Principal): Promise<string[] | null> {
  if (readsAllDags(principal)) return null;
  const rows = await db.selectFrom("dag").select(["dag_id", "access"]).where("access", "is not", null).execute();
  return rows.filter((r) => canDag(principal, parseAccess(r.access), "read")).map((r) => r.dag_id);
}
