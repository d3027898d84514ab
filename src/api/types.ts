/** What routes declare about who may call them, and what a request carries once authenticated. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from "fastify";
import type { Permission, Principal } from "../security/rbac.js";

/** The server the routes are registered on: request and reply types come from each route's TypeBox schemas. */
export type ApiApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export type DagNeed = "read" | "edit" | "trigger" | "delete";

/**
 * - "public": no authentication (health, version, login, the OpenAPI document).
 * - "authenticated": any logged-in user (their own profile and tokens).
 * - a permission: the user's roles must grant it.
 * - "try": a route of the task-execution API, called with a try token for the try its
 *   `try_id` path parameter names (or, without one, the try the route checks itself).
 * - { dag }: a DAG-scoped route: any logged-in user may call it, and every DAG it names (the
 *   `dag_id` path parameter, checked before the handler) or lists is checked against the DAG's
 *   access list as well as the user's permissions.
 */
export type RouteAccess = "public" | "authenticated" | "try" | Permission | { dag: DagNeed };

declare module "fastify" {
  interface FastifyContextConfig {
    access?: RouteAccess;
    /** Action name recorded in the audit log, e.g. "dag.pause"; mutating routes must set it. */
    audit?: string;
    /** A list route that takes "~" as the DAG id, for every DAG the caller may read. */
    anyDag?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | null;
    /** On the task-execution API: the try the request's try token is for. */
    tryId: string | null;
    /** …and what the token allows (see TryScope). */
    tryScope: "start" | "run" | null;
    /** …and when it expires (ms). */
    tryTokenExpiresAt: number | null;
    /**
     * Facts a handler adds for the audit log: the object acted on, and details. `dryRun`: the
     * handler ran the request as a dry run (it changed nothing), so no record is written.
     */
    auditNote: { objectType?: string; objectId?: string; dagId?: string; details?: unknown; dryRun?: boolean };
  }
}
