import { Type } from "typebox";
import { UpdraftError } from "../../errors/index.js";
import { login, logout, refresh } from "../auth.js";
import type { ApiDeps } from "../deps.js";
import { MinuteLimiter } from "../limiter.js";
import { Me, TokenPair } from "../models.js";
import { ErrorBody, ERRORS, NoContent } from "../schemas.js";
import type { ApiApp } from "../types.js";

export function registerAuthRoutes(app: ApiApp, { store, config, auth }: ApiDeps): void {
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
      const { username, password } = request.body;
      request.auditNote = { objectType: "user", objectId: username.slice(0, 100), details: { username } };
      // Failed attempts count: after too many, even the right password waits (brute force).
      const key = username.toLowerCase();
      const wait = perUser.peek(key);
      if (wait > 0) {
        void reply.header("retry-after", String(wait));
        throw new UpdraftError("UPDRAFT_E_RATE_LIMITED", "too many failed login attempts for this user", { hint: `try again in ${wait} seconds` });
      }
      try {
        return (await login(store.db, auth, username, password, request.ip)).tokens;
      } catch (error) {
        perUser.take(key);
        throw error;
      }
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
    async (request) => (await refresh(store, auth, request.body.refresh_token)).tokens,
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
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (request, reply) => {
      await logout(store, auth, request.headers.authorization, request.body?.refresh_token);
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
        response: { 200: Me, ...ERRORS },
      },
    },
    async (request) => {
      const p = request.principal!;
      return { username: p.username, roles: p.roles, permissions: [...p.permissions].sort(), via: p.via };
    },
  );
}
