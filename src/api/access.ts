/** Authorization of DAG-scoped requests: what a principal may see and do with each DAG. */
import type { FastifyRequest } from "fastify";
import type { Kysely } from "kysely";
import { UpdraftError } from "../errors/index.js";
import { canDag, readsAllDags, type DagAccess, type Principal } from "../security/rbac.js";
import { dagNotFoundError, importErrorsForDag } from "../store/dags.js";
import type { Database, ImportErrorRow } from "../store/schema.js";
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
 * A path parameter of any route, as the router parsed it: for the hooks and the audit log, which
 * run for every route (and before validation), so they know no route's params type.
 */
export function pathParam(request: FastifyRequest, name: string): string | undefined {
  const params: unknown = request.params;
  if (typeof params !== "object" || params === null) return undefined;
  const value: unknown = Reflect.get(params, name);
  return typeof value === "string" ? value : undefined;
}

/**
 * Checks one DAG for a request. A DAG the principal may not read answers exactly like a DAG that
 * does not exist (404), so names of other teams' DAGs do not leak.
 */
export async function authorizeDag(db: Kysely<Database>, principal: Principal, dagId: string, need: DagNeed): Promise<void> {
  const row = await db.selectFrom("dag").select(["access"]).where("dag_id", "=", dagId).executeTakeFirst();
  const access = row ? parseAccess(row.access) : null;
  if (!row || !canDag(principal, access, "read")) {
    // The reason a DAG is missing is often a file that failed to import: named to a caller who
    // may read that import error. Worked out from the id alone (never from the DAG's row), so a
    // DAG the caller may not read still answers exactly as one that does not exist.
    const errors = await visibleImportErrors(db, principal, await importErrorsForDag(db, dagId, { byRow: false }));
    throw dagNotFoundError(dagId, errors);
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

/**
 * The import errors among `rows` the principal may read, by the rule of GET /importErrors: all
 * with dags:read, otherwise those of files that define a DAG the principal may read.
 */
export async function visibleImportErrors(db: Kysely<Database>, principal: Principal, rows: ImportErrorRow[]): Promise<ImportErrorRow[]> {
  if (rows.length === 0 || readsAllDags(principal)) return rows;
  const dags = await db
    .selectFrom("dag")
    .select(["dag_id", "dags_folder", "fileloc", "access"])
    .where("fileloc", "in", [...new Set(rows.map((r) => r.fileloc))])
    .execute();
  return rows.filter((r) => dags.some((d) => d.dags_folder === r.dags_folder && d.fileloc === r.fileloc && canDag(principal, parseAccess(d.access), "read")));
}
