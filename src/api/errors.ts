/** Every error the API returns is JSON: a stable code, a message, the HTTP status, maybe a hint. */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isUpdraftError } from "../errors/index.js";
import type { StorageState } from "../store/storage.js";
import type { Logger } from "../util/logger.js";
import type { ApiErrorBody } from "./schemas.js";

export function installErrorHandling(app: FastifyInstance, log: Logger, storage: StorageState): void {
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    void reply.code(404).send({ code: "UPDRAFT_E_NOT_FOUND", message: `no route ${request.method} ${request.url.split("?")[0]!.slice(0, 200)}`, status: 404 } satisfies ApiErrorBody);
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    // A full disk under the database is a passing outside condition: 503 with the reason.
    const full = storage.note(error) ? storage.error() : null;
    if (full) return reply.code(503).send({ code: full.code, message: full.message, status: 503, hint: full.hint! } satisfies ApiErrorBody);
    if (isUpdraftError(error)) {
      const body: ApiErrorBody = { code: error.code, message: error.message, status: error.status, ...(error.hint ? { hint: error.hint } : {}) };
      if (error.details !== undefined && error.status < 500) body.details = error.details;
      return reply.code(error.status).send(body);
    }
    if (error.validation) {
      return reply.code(400).send({
        code: "UPDRAFT_E_VALIDATION",
        message: `the request is not valid: ${error.validation.map((v) => `${(v.instancePath || error.validationContext) ?? ""} ${v.message ?? ""}`.trim()).join("; ")}`,
        status: 400,
        details: error.validation.map((v) => ({ path: v.instancePath, keyword: v.keyword, message: v.message, params: v.params })),
      } satisfies ApiErrorBody);
    }
    const status = error.statusCode ?? 500;
    if (status === 429) {
      return reply.code(429).send({ code: "UPDRAFT_E_RATE_LIMITED", message: "too many requests", status: 429, hint: `try again in ${reply.getHeader("retry-after") ?? "a few"} seconds` });
    }
    if (status === 413) return reply.code(413).send({ code: "UPDRAFT_E_BODY_TOO_LARGE", message: "the request body is too large", status: 413 });
    if (status >= 400 && status < 500) {
      return reply.code(status).send({ code: status === 404 ? "UPDRAFT_E_NOT_FOUND" : "UPDRAFT_E_VALIDATION", message: error.message, status });
    }
    log.error({ err: error, method: request.method, url: request.url.slice(0, 300) }, "API request failed");
    return reply.code(500).send({ code: "UPDRAFT_E_INTERNAL", message: "internal error", status: 500 } satisfies ApiErrorBody);
  });
}
