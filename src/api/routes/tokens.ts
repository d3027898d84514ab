import { Type } from "typebox";
import { UpdraftError } from "../../errors/index.js";
import { can } from "../../security/rbac.js";
import { createApiToken, findApiToken, listApiTokens, revokeApiToken, type ApiTokenInfo } from "../../store/users.js";
import { principalOf } from "../access.js";
import type { ApiDeps } from "../deps.js";
import { ApiToken, NewApiToken } from "../models.js";
import { ErrorBody, ERRORS, iso, NoContent, Page, pageOf } from "../schemas.js";
import type { ApiApp } from "../types.js";

const DAY_MS = 86_400_000;
export const MAX_TOKEN_DAYS = 365;


function tokenJson(t: ApiTokenInfo, now = Date.now()) {
  return {
    token_id: Number(t.id),
    name: t.name,
    prefix: t.prefix,
    username: t.username,
    created_at: iso(Number(t.created_at))!,
    expires_at: iso(Number(t.expires_at))!,
    last_used_at: iso(t.last_used_at === null ? null : Number(t.last_used_at)),
    revoked_at: iso(t.revoked_at === null ? null : Number(t.revoked_at)),
    state: t.revoked_at !== null ? ("revoked" as const) : Number(t.expires_at) <= now ? ("expired" as const) : ("active" as const),
  };
}

/**
 * API tokens for automation. Every logged-in user manages their own; tokens:manage also lists
 * and revokes everyone's. A token is made only from a login session, not by another API token
 * (so a leaked token cannot outlive its expiry by minting successors).
 */
export function registerTokenRoutes(app: ApiApp, { store, config }: ApiDeps): void {
  const db = store.db;
  const defaultDays = Math.min(MAX_TOKEN_DAYS, Math.max(1, Math.round(config.apiTokenTtlMs / DAY_MS)));

  app.post(
    "/tokens",
    {
      config: { access: "authenticated", audit: "token.create" },
      schema: {
        tags: ["tokens"],
        summary: "Create an API token for yourself; the token is in this answer only",
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100, description: "what the token is for" }),
            expires_in_days: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TOKEN_DAYS, description: `default ${defaultDays}` })),
          },
          { additionalProperties: false },
        ),
        response: { 201: NewApiToken, ...ERRORS, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const body = request.body;
      request.auditNote = { objectType: "api_token", details: { name: body.name, expires_in_days: body.expires_in_days ?? defaultDays } };
      if (principal.via === "api_token") {
        throw new UpdraftError("UPDRAFT_E_FORBIDDEN", "an API token cannot create API tokens", { hint: "log in with your password (POST /api/v1/auth/login) and create it with that access token" });
      }
      const ttlMs = body.expires_in_days === undefined ? Math.min(config.apiTokenTtlMs, MAX_TOKEN_DAYS * DAY_MS) : body.expires_in_days * DAY_MS;
      const { token, info } = await createApiToken(db, principal.userId, body.name, ttlMs);
      request.auditNote.objectId = String(info.id);
      return reply.code(201).send({ ...tokenJson(info), token });
    },
  );

  app.get(
    "/tokens",
    {
      config: { access: "authenticated" },
      schema: {
        tags: ["tokens"],
        summary: "Your API tokens, newest first (all=true: everyone's, with tokens:manage)",
        querystring: Type.Object({ ...Page, all: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false }),
        response: { 200: Type.Object({ tokens: Type.Array(ApiToken), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const q = request.query;
      if (q.all && !can(principal, "tokens:manage")) {
        throw new UpdraftError("UPDRAFT_E_FORBIDDEN", "listing everyone's API tokens needs the permission 'tokens:manage'", { hint: "leave out all=true to list your own" });
      }
      const { tokens, total } = await listApiTokens(db, { ...pageOf(q), ...(q.all ? {} : { userId: principal.userId }) });
      const now = Date.now();
      return { tokens: tokens.map((t) => tokenJson(t, now)), total_entries: total };
    },
  );

  app.delete(
    "/tokens/:token_id",
    {
      config: { access: "authenticated", audit: "token.revoke" },
      schema: {
        tags: ["tokens"],
        summary: "Revoke an API token (yours, or anyone's with tokens:manage)",
        params: Type.Object({ token_id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }, { additionalProperties: false }),
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { token_id } = request.params;
      request.auditNote = { objectType: "api_token", objectId: String(token_id) };
      const token = await findApiToken(db, token_id);
      // Someone else's token answers like a missing one, unless you may manage them.
      if (!token || (Number(token.user_id) !== principal.userId && !can(principal, "tokens:manage"))) {
        throw new UpdraftError("UPDRAFT_E_TOKEN_NOT_FOUND", `API token ${token_id} not found`);
      }
      request.auditNote.details = { owner: token.username };
      await revokeApiToken(store, token_id);
      return reply.code(204).send();
    },
  );
}
