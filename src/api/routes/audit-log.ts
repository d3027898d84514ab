import { Type } from "typebox";
import type { ApiDeps } from "../deps.js";
import { EventLog } from "../models.js";
import { ERRORS, iso, Page, pageOf } from "../schemas.js";
import type { ApiApp } from "../types.js";

const Outcome = Type.Union([Type.Literal("success"), Type.Literal("denied"), Type.Literal("failure")]);

function parseDetails(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Details are cut at 4000 characters, which can leave JSON unfinished.
    return text;
  }
}

export function registerAuditLogRoutes(app: ApiApp, { store }: ApiDeps): void {
  const db = store.db;
  app.get(
    "/eventLogs",
    {
      config: { access: "audit:read" },
      schema: {
        tags: ["audit"],
        summary: "The audit log, newest first: logins and every change, who, what, when, from where, how it ended",
        querystring: Type.Object(
          {
            ...Page,
            username: Type.Optional(Type.String({ maxLength: 100 })),
            action: Type.Optional(Type.String({ maxLength: 100 })),
            dag_id: Type.Optional(Type.String({ maxLength: 250 })),
            object_type: Type.Optional(Type.String({ maxLength: 100 })),
            outcome: Type.Optional(Outcome),
            after: Type.Optional(Type.String({ format: "date-time", description: "events at or after this time" })),
            before: Type.Optional(Type.String({ format: "date-time", description: "events before this time" })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ event_logs: Type.Array(EventLog), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const q = request.query;
      const { limit, offset } = pageOf(q);
      let base = db.selectFrom("audit_log");
      if (q.username !== undefined) base = base.where("username", "=", q.username);
      if (q.action !== undefined) base = base.where("action", "=", q.action);
      if (q.dag_id !== undefined) base = base.where("dag_id", "=", q.dag_id);
      if (q.object_type !== undefined) base = base.where("object_type", "=", q.object_type);
      if (q.outcome !== undefined) base = base.where("outcome", "=", q.outcome);
      if (q.after !== undefined) base = base.where("ts", ">=", Date.parse(q.after));
      if (q.before !== undefined) base = base.where("ts", "<", Date.parse(q.before));
      const rows = await base.selectAll().orderBy("ts", "desc").orderBy("id", "desc").limit(limit).offset(offset).execute();
      const total = await base.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
      return {
        event_logs: rows.map((r) => ({
          event_log_id: Number(r.id),
          when: iso(Number(r.ts))!,
          username: r.username,
          action: r.action,
          method: r.method,
          path: r.path,
          object_type: r.object_type,
          object_id: r.object_id,
          dag_id: r.dag_id,
          source_ip: r.source_ip,
          outcome: r.outcome,
          status: r.status,
          details: parseDetails(r.details),
        })),
        total_entries: Number(total.n),
      };
    },
  );
}
