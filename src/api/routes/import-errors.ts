/**
 * Import errors: files of the DAGs folder that failed to import. A user sees one when they may
 * read every DAG (dags:read), or a DAG that the failing file defined (its DAGs stay registered
 * with their last good version); a file that never registered a DAG is seen only with dags:read.
 */
import type { FastifyInstance } from "fastify";
import { sql, type Expression, type SqlBool } from "kysely";
import { Type } from "typebox";
import { UpdraftError } from "../../errors/index.js";
import type { ImportErrorRow } from "../../store/schema.js";
import { principalOf, readableDagIds } from "../access.js";
import type { ApiDeps } from "../deps.js";
import { ERRORS, iso, Nullable, Page, pageOf } from "../schemas.js";

const ImportError = Type.Object(
  {
    import_error_id: Type.Integer(),
    filename: Type.String({ description: "the file, relative to the DAGs folder" }),
    timestamp: Type.String({ format: "date-time" }),
    code: Type.String(),
    message: Type.String(),
    line: Nullable(Type.Integer()),
    column: Nullable(Type.Integer()),
    location: Nullable(Type.String()),
    stack_trace: Nullable(Type.String()),
  },
  { additionalProperties: false },
);

function importErrorJson(row: ImportErrorRow) {
  return {
    import_error_id: row.id,
    filename: row.fileloc,
    timestamp: iso(row.created_at)!,
    code: row.code,
    message: row.message,
    line: row.line,
    column: row.column,
    location: row.location,
    stack_trace: row.stack,
  };
}

/** Import errors of files that define one of `readable` (null: every import error). */
function visibleTo(readable: string[] | null): Expression<SqlBool> {
  if (readable === null) return sql<boolean>`1 = 1`;
  if (readable.length === 0) return sql<boolean>`1 = 0`;
  return sql<boolean>`exists (select 1 from dag d where d.dags_folder = e.dags_folder and d.fileloc = e.fileloc and d.dag_id in (${sql.join(readable)}))`;
}

export function registerImportErrorRoutes(app: FastifyInstance, { store }: ApiDeps): void {
  const db = store.db;

  app.get(
    "/importErrors",
    {
      config: { access: { dag: "read" } },
      schema: {
        tags: ["import errors"],
        summary: "Files that failed to import (those of DAGs you may read)",
        querystring: Type.Object({ ...Page }, { additionalProperties: false }),
        response: { 200: Type.Object({ import_errors: Type.Array(ImportError), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const { limit, offset } = pageOf(request.query as { limit?: number; offset?: number });
      const visible = visibleTo(await readableDagIds(db, principalOf(request)));
      const rows = await db.selectFrom("import_error as e").selectAll("e").where(visible).orderBy("e.fileloc").orderBy("e.id").limit(limit).offset(offset).execute();
      const total = await db.selectFrom("import_error as e").select((eb) => eb.fn.countAll<number>().as("n")).where(visible).executeTakeFirstOrThrow();
      return { import_errors: rows.map(importErrorJson), total_entries: Number(total.n) };
    },
  );

  app.get(
    "/importErrors/:import_error_id",
    {
      config: { access: { dag: "read" } },
      schema: {
        tags: ["import errors"],
        summary: "One import error",
        params: Type.Object({ import_error_id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }, { additionalProperties: false }),
        response: { 200: ImportError, ...ERRORS },
      },
    },
    async (request) => {
      const { import_error_id } = request.params as { import_error_id: number };
      const visible = visibleTo(await readableDagIds(db, principalOf(request)));
      const row = await db.selectFrom("import_error as e").selectAll("e").where("e.id", "=", import_error_id).where(visible).executeTakeFirst();
      if (!row) throw new UpdraftError("UPDRAFT_E_IMPORT_ERROR_NOT_FOUND", `import error ${import_error_id} not found`, { hint: "GET /api/v1/importErrors lists the ones you may see" });
      return importErrorJson(row);
    },
  );
}
