/**
 * Import errors: files of the DAGs folder that failed to import. A user sees one when they may
 * read every DAG (dags:read), or a DAG that the failing file defined (its DAGs stay registered
 * with their last good version); a file that never registered a DAG is seen only with dags:read.
 *
 * Import warnings (type errors of a file whose DAGs registered, typeCheck "warn") come through the
 * same routes with `severity=warning` or `all`; the default stays `error`, so a client written
 * before warnings existed still reads only failed files. Ids are unique within a severity.
 */
import { sql, type Expression, type Kysely, type SqlBool } from "kysely";
import { Type } from "typebox";
import { UpdraftError } from "../../errors/index.js";
import type { Database, ImportErrorRow } from "../../store/schema.js";
import { principalOf, readableDagIds } from "../access.js";
import type { ApiDeps } from "../deps.js";
import { ImportError, type Severity } from "../models.js";
import { ERRORS, iso, Page, pageOf } from "../schemas.js";
import type { ApiApp } from "../types.js";

const SeverityQuery = Type.Optional(Type.Union([Type.Literal("error"), Type.Literal("warning"), Type.Literal("all")], { description: "which to list (default error)" }));

type Row = Omit<ImportErrorRow, "dags_folder"> & { severity: Severity };

function importErrorJson(row: Row) {
  return {
    import_error_id: row.id,
    severity: row.severity,
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

const COLUMNS = ["e.id", "e.fileloc", "e.code", "e.message", "e.line", "e.column", "e.location", "e.created_at"] as const;

/** The entries of one severity (or both) that `visible` lets through, as one query. */
function entries(db: Kysely<Database>, severity: Severity | "all", visible: Expression<SqlBool>) {
  const errors = db.selectFrom("import_error as e").select([...COLUMNS, "e.stack", sql<Severity>`cast('error' as text)`.as("severity")]).where(visible);
  const warnings = db.selectFrom("import_warning as e").select([...COLUMNS, sql<string | null>`cast(null as text)`.as("stack"), sql<Severity>`cast('warning' as text)`.as("severity")]).where(visible);
  const union = severity === "error" ? errors : severity === "warning" ? warnings : errors.unionAll(warnings);
  return db.selectFrom(union.as("x")).selectAll("x");
}

export function registerImportErrorRoutes(app: ApiApp, { store }: ApiDeps): void {
  const db = store.db;

  app.get(
    "/importErrors",
    {
      config: { access: { dag: "read" } },
      schema: {
        tags: ["import errors"],
        summary: "Files that failed to import (those of DAGs you may read); with severity=warning or all, type warnings too",
        querystring: Type.Object({ ...Page, severity: SeverityQuery }, { additionalProperties: false }),
        response: { 200: Type.Object({ import_errors: Type.Array(ImportError), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const query = request.query;
      const { limit, offset } = pageOf(query);
      const visible = visibleTo(await readableDagIds(db, principalOf(request)));
      const list = entries(db, query.severity ?? "error", visible);
      const rows = await list.orderBy("x.fileloc").orderBy("x.severity").orderBy("x.id").limit(limit).offset(offset).execute();
      const total = await db.selectFrom(list.as("y")).select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
      return { import_errors: rows.map((r) => importErrorJson(r as Row)), total_entries: Number(total.n) };
    },
  );

  app.get(
    "/importErrors/:import_error_id",
    {
      config: { access: { dag: "read" } },
      schema: {
        tags: ["import errors"],
        summary: "One import error (or with severity=warning, one import warning)",
        params: Type.Object({ import_error_id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }, { additionalProperties: false }),
        querystring: Type.Object({ severity: Type.Optional(Type.Union([Type.Literal("error"), Type.Literal("warning")], { description: "default error" })) }, { additionalProperties: false }),
        response: { 200: ImportError, ...ERRORS },
      },
    },
    async (request) => {
      const { import_error_id } = request.params;
      const severity = request.query.severity ?? "error";
      const visible = visibleTo(await readableDagIds(db, principalOf(request)));
      const row = await entries(db, severity, visible).where("x.id", "=", import_error_id).executeTakeFirst();
      if (!row) {
        throw new UpdraftError("UPDRAFT_E_IMPORT_ERROR_NOT_FOUND", `import ${severity} ${import_error_id} not found`, { hint: `GET /api/v1/importErrors${severity === "warning" ? "?severity=warning" : ""} lists the ones you may see` });
      }
      return importErrorJson(row as Row);
    },
  );
}
