/**
 * The API server: Fastify with TypeBox schemas, authentication on every route that is not
 * public, authorization per route and per DAG, an audit record of every change, rate limits,
 * the OpenAPI document, and live events over WebSocket. Stateless: several can serve one
 * database behind a load balancer.
 */
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import websocket from "@fastify/websocket";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from "fastify";
import { UpdraftError } from "../errors/index.js";
import { can, type Permission } from "../security/rbac.js";
import { RunCache } from "../scheduler/run-cache.js";
import { verifyTryToken } from "../security/tokens.js";
import { checkJsonDepth } from "../util/json-depth.js";
import { authenticate } from "./auth.js";
import { EXECUTION_PREFIX, registerExecutionRoutes } from "./execution.js";
import { authorizeDag, pathParam } from "./access.js";
import { recordAudit } from "./audit.js";
import type { ApiDeps } from "./deps.js";
import { installErrorHandling } from "./errors.js";
import { MinuteLimiter } from "./limiter.js";
import { registerUi, uiRoot } from "./ui.js";
import { EventHub, registerEventsRoute } from "./events.js";
import type { ApiApp, RouteAccess } from "./types.js";
import { registerRoutes } from "./routes/index.js";

import { API_VERSION } from "./version.js";

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export interface BuildOptions extends ApiDeps {
  https?: { key: Buffer; cert: Buffer };
  /** How long a WebSocket may stay open without authenticating (default 10 s). */
  eventsAuthTimeoutMs?: number;
  /** The built web UI served at `/` (default: dist/ui when it is built; null: none). */
  uiRoot?: string | null;
}

export type Api = ApiApp;

export async function buildApi(options: BuildOptions): Promise<Api> {
  const { store, config, log } = options;
  const app = Fastify({
    logger: false,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: typeof config.trustProxy === "number" ? trustHops(config.trustProxy) : config.trustProxy,
    routerOptions: { maxParamLength: 500 },
    ...(options.https ? { https: options.https } : {}),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", useDefaults: true, allErrors: false } },
    // Bad URLs (too long a path parameter, bad %-encoding) answer in the API's error format too,
    // without echoing the URL back.
    frameworkErrors: ((error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      const status = error.statusCode ?? 400;
      void reply.code(status).send({ code: "UPDRAFT_E_VALIDATION", message: status === 414 ? "the URL is too long" : "the URL is not valid", status });
    }) as never,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorateRequest("principal", null);
  app.decorateRequest("tryId", null);
  app.decorateRequest("tryScope", null);
  app.decorateRequest("tryTokenExpiresAt", null);
  app.decorateRequest("auditNote", null as never);
  installErrorHandling(app, log, store.storage);

  // 1. Who is calling (before the body is even parsed, so strangers learn nothing from errors).
  // Requests that fail authentication are limited per address (they are not counted by the
  // per-token limit below, which needs to know who is calling).
  const failedAuth = new MinuteLimiter(config.requestLimitPerMinute);
  app.addHook("onRequest", async (request, reply) => {
    request.auditNote = {};
    const access = accessOf(request);
    if (access === "public") return;
    const blocked = failedAuth.peek(request.ip);
    if (blocked > 0) {
      void reply.header("retry-after", String(blocked));
      throw new UpdraftError("UPDRAFT_E_RATE_LIMITED", "too many requests that failed authentication from this address", { hint: `try again in ${blocked} seconds` });
    }
    try {
      if (access === "try") ({ tryId: request.tryId, scope: request.tryScope, expiresAt: request.tryTokenExpiresAt } = await authenticateTry(request, options.auth.signingKey));
      else request.principal = await authenticate(store.db, options.auth, request.headers.authorization);
    } catch (error) {
      failedAuth.take(request.ip);
      throw error;
    }
  });

  await app.register(rateLimit, {
    max: config.requestLimitPerMinute,
    timeWindow: 60_000,
    hook: "onRequest",
    keyGenerator: (request) =>
      request.principal ? `user:${request.principal.userId}:${request.principal.via}` : request.tryId ? `try:${request.tryId}` : `ip:${request.ip}`,
  });

  // NUL characters never mean anything in Updraft's names and texts, and PostgreSQL cannot store
  // them: refused up front, before any lookup can trip over them.
  // Likewise JSON nested deeper than anything Updraft stores: refused before any recursive
  // validation or cloning of it could overflow the stack.
  app.addHook("preValidation", async (request) => {
    checkJsonDepth(request.body, "the request body");
    if (hasNul(request.params) || hasNul(request.query) || hasNul(request.body)) {
      throw new UpdraftError("UPDRAFT_E_VALIDATION", "the request contains a NUL character (U+0000)", { hint: "remove it" });
    }
  });

  // 2. May they? Permissions per route; DAG-scoped routes also check the DAG they name. Before
  // the body is validated, so a caller without the right learns nothing from validation errors.
  app.addHook("preValidation", async (request) => {
    const access = accessOf(request);
    if (access === "public" || access === "authenticated" || access === "try") return;
    const principal = request.principal!;
    if (typeof access === "string") {
      if (!can(principal, access as Permission)) {
        throw new UpdraftError("UPDRAFT_E_FORBIDDEN", `this needs the permission '${access}', which your roles (${principal.roles.join(", ") || "none"}) do not grant`, {
          hint: "ask an Admin for a role that grants it",
        });
      }
      return;
    }
    const dagId = pathParam(request, "dag_id");
    // "~" means every DAG only where a list route says so; anywhere else it is checked as a DAG id.
    if (dagId !== undefined && !(dagId === "~" && request.routeOptions.config.anyDag === true)) {
      request.auditNote.dagId = dagId;
      await authorizeDag(store.db, principal, dagId, access.dag);
    }
  });

  // Ajv reads "1e400" as Infinity and then passes it through minimum/maximum: refused here.
  app.addHook("preHandler", async (request) => {
    if (hasNonFinite(request.params) || hasNonFinite(request.query)) {
      throw new UpdraftError("UPDRAFT_E_VALIDATION", "a number in the request is out of range", { hint: "use a finite number" });
    }
    // While the database's disk is full a change cannot be stored: refused before any of it is tried.
    if (store.storage.full && MUTATING.has(request.method)) throw store.storage.error();
  });

  // 3. Every change (and every refusal of one) goes to the audit log. A dry run is a read (it
  // changes nothing and shows only what the caller may read anyway), so, as in Airflow 3, it is
  // not recorded: only the handler, which ran it with that flag, can say so; a request refused
  // before its handler ran is recorded whatever it asked for.
  app.addHook("onResponse", async (request, reply) => {
    const action = request.routeOptions.config.audit;
    if (!action && !MUTATING.has(request.method)) return;
    // A try's calls are its history (task_try, task_log), not a person's actions.
    if (accessOf(request) === "try") return;
    if (request.auditNote?.dryRun === true) return;
    await recordAudit(store.db, request, reply.statusCode, action ?? `${request.method} ${request.routeOptions.url ?? "unknown"}`).catch((error: unknown) => {
      if (!store.storage.note(error)) log.error({ err: error }, "could not write the audit log");
    });
  });

  app.addHook("onSend", async (request, reply) => {
    void reply.header("x-content-type-options", "nosniff");
    // The UI's files say how long they keep; every API answer is fresh.
    if (request.url.startsWith("/api/") || !reply.hasHeader("cache-control")) void reply.header("cache-control", "no-store");
    if (options.https) void reply.header("strict-transport-security", "max-age=31536000; includeSubDomains");
    return undefined;
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Updraft API", version: API_VERSION, description: "Updraft's REST API. Every route but the public ones needs `Authorization: Bearer <token>`." },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "an access token from /auth/login, or an API token" },
          tryToken: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "the try token of the try the path names, from its broker message" },
        },
      },
    },
    transform: ({ schema, url, route }) => {
      const access = (route.config as { access?: RouteAccess } | undefined)?.access ?? "authenticated";
      const transformed = { ...(schema as Record<string, unknown>) } as Record<string, unknown>;
      transformed["x-access"] = typeof access === "string" ? access : `dag:${access.dag}`;
      if (access === "try") transformed.security = [{ tryToken: [] }];
      else if (access !== "public") transformed.security = [{ bearer: [] }];
      return { schema: transformed as never, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: "/api/v1/docs", uiConfig: { docExpansion: "list" } });

  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  const hub = new EventHub(store, log, options.eventsAuthTimeoutMs === undefined ? {} : { authTimeoutMs: options.eventsAuthTimeoutMs });
  await hub.start();
  app.addHook("onClose", async () => hub.stop());
  await app.register(
    async (api) => {
      await registerRoutes(api, options);
      registerEventsRoute(api, hub, options.auth);
    },
    { prefix: "/api/v1" },
  );
  const cache = new RunCache();
  await app.register(async (execution) => registerExecutionRoutes(execution, { ...options, cache }), { prefix: EXECUTION_PREFIX });
  app.get("/api/v1/openapi.json", { config: { access: "public" }, schema: { hide: true } }, async () => app.swagger());
  await registerUi(app, options.uiRoot === undefined ? uiRoot() : options.uiRoot);
  return app;
}

function hasNul(value: unknown, depth = 0): boolean {
  if (typeof value === "string") return value.includes("\u0000");
  if (depth > 20 || value === null || typeof value !== "object") return false;
  for (const [key, item] of Object.entries(value)) if (key.includes("\u0000") || hasNul(item, depth + 1)) return true;
  return false;
}

function hasNonFinite(value: unknown): boolean {
  if (typeof value === "number") return !Number.isFinite(value);
  if (value === null || typeof value !== "object") return false;
  return Object.values(value).some((v) => typeof v === "number" && !Number.isFinite(v));
}

function accessOf(request: FastifyRequest): RouteAccess {
  // Routes that do not exist (404) and the docs UI are answered without authentication.
  const url = request.routeOptions.url;
  if (url === undefined) return "public";
  if (url.startsWith("/api/v1/docs")) return "public";
  // The task-execution API takes try tokens only, whatever a route says.
  if (url.startsWith(`${EXECUTION_PREFIX}/`)) return "try";
  // The UI's files and pages are public; everything they show comes from the API, which is not.
  if (!url.startsWith("/api/")) return "public";
  return request.routeOptions.config.access ?? "authenticated";
}

/**
 * The try a task-execution request's try token is for; the try its path names must be that one
 * (403 otherwise: the token is valid, for another try).
 */
async function authenticateTry(request: FastifyRequest, signingKey: Uint8Array): Promise<{ tryId: string; scope: "start" | "run"; expiresAt: number }> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? "");
  if (!match || match[1]!.length > 4096) {
    throw new UpdraftError("UPDRAFT_E_UNAUTHENTICATED", "the task-execution API needs a try token", { hint: "send Authorization: Bearer <the try token of the try's broker message>" });
  }
  const { tryId, scope, expiresAt } = await verifyTryToken(signingKey, match[1]!);
  const named = (request.params as { try_id?: unknown } | undefined)?.try_id;
  if (named !== undefined && named !== tryId) throw new UpdraftError("UPDRAFT_E_FORBIDDEN", "this try token is for another try", { hint: "use the token that came with this try" });
  // The broker message's token only starts the try: the rest takes the token its start answered.
  if (scope === "start" && !(request.routeOptions.url ?? "").endsWith("/start")) {
    throw new UpdraftError("UPDRAFT_E_FORBIDDEN", "this try token only starts the try", { hint: "use the token in the answer of POST /execution/v1/tries/{try_id}/start" });
  }
  return { tryId, scope, expiresAt };
}

/** Trust the nearest `hops` proxies (Fastify takes a hop count, its types do not). */
function trustHops(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops;
}
