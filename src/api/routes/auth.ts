import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { UpdraftError } from "../../errors/index.js";
import { login, logout, refresh } from "../auth.js";
import type { ApiDeps } from "../deps.js";
import { ERRORS, ErrorBody } from "../schemas.js";

const TokenPair = Type.Object(
  { access_token: Type.String(), refresh_token: Type.String(), token_type: Type.Literal("Bearer"), expires_in: Type.Integer({ description: "seconds the access token lives" }) },
  { additionalProperties: false },
);

/** Attempts per key in a sliding minute, in this process (each API server counts its own). */
class MinuteLimiter {
  readonly #hits = new Map<string, number[]>();
  constructor(readonly max: number) {}
  /** Seconds to wait when the key is over its limit, else 0 (and the attempt counts). */
  take(key: string): number {
    const now = Date.now();
    const recent = (this.#hits.get(key) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= this.max) {
      this.#hits.set(key, recent);
      return Math.max(1, Math.ceil((recent[0]! + 60_000 - now) / 1000));
    }
    recent.push(now);
    this.#hits.set(key, recent);
    if (this.#hits.size > 10_000) for (const [k, v] of this.#hits) if (v.every((t) => now - t >= 60_000)) this.#hits.delete(k);
    return 0;
  }
}

export function registerAuthRoutes(app: FastifyInstance, { store, config, auth }: ApiDeps): void {
  const perUser = new MinuteLimiter(config.loginLimitPerUser);

  app.post(
    "/auth/login",
    {
      config: { access: "public", audit: "auth.login", rateLimit: { max: config.loginLimitPerIp, timeWindow: 60_000, keyGenerator: (r) => `login:${r.ip}` } },
      schema: {
        tags: ["auth"],
        summary: "Log in with a username and password: an access token and a refresh token",
        body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 100 }), password: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false }),
        response: { 200: TokenPair, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body as { username: string; password: string };
      request.auditNote = { objectType: "user", objectId: username.slice(0, 100), details: { username } };
      const wait = perUser.take(username.toLowerCase());
      if (wait > 0) {
        void reply.header("retry-after", String(wait));
        throw new UpdraftError("UPDRAFT_E_RATE_LIMITED", "too many login attempts for this user", { hint: `try again in ${wait} seconds` });
      }
      const { tokens } = await login(store.db, auth, username, password, request.ip);
      return tokens;
    },
  );

  app.post(
    "/auth/refresh",
    {
      config: { access: "public", audit: "auth.refresh", rateLimit: { max: config.loginLimitPerIp * 3, timeWindow: 60_000, keyGenerator: (r) => `refresh:${r.ip}` } },
      schema: {
        tags: ["auth"],
        summary: "A new access token (and a new refresh token) for a refresh token",
        body: Type.Object({ refresh_token: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
        response: { 200: TokenPair, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (request) => (await refresh(store.db, auth, (request.body as { refresh_token: string }).refresh_token)).tokens,
  );

  app.post(
    "/auth/logout",
    {
      config: { access: "authenticated", audit: "auth.logout" },
      // The body is optional: a bare POST logs out the access token's session.
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags: ["auth"],
        summary: "End the session of this access token (and of the refresh token, if given)",
        body: Type.Optional(Type.Object({ refresh_token: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false })),
        response: { 204: Type.Null(), ...ERRORS },
      },
    },
    async (request, reply) => {
      await logout(store.db, auth, request.headers.authorization, (request.body as { refresh_token?: string } | undefined)?.refresh_token);
      return reply.code(204).send();
    },
  );

  app.get(
    "/auth/me",
    {
      config: { access: "authenticated" },
      schema: {
        tags: ["auth"],
        summary: "Who the token belongs to: username, roles and permissions",
        response: {
          200: Type.Object({ username: Type.String(), roles: Type.Array(Type.String()), permissions: Type.Array(Type.String()), via: Type.String() }, { additionalProperties: false }),
          ...ERRORS,
        },
      },
    },
    async (request) => {
      const p = request.principal!;
      return { username: p.username, roles: p.roles, permissions: [...p.permissions].sort(), via: p.via };
    },
  );
}
