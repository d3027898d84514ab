/**
 * Batched SQL shared by both dialects: IN lists in chunks, and many rows updated with different
 * values in one statement (`WITH v(...) AS (VALUES ...) UPDATE ... FROM v`, which SQLite ≥ 3.33
 * and PostgreSQL both accept). Values are CAST to the column type so PostgreSQL can infer them.
 */
import { sql, type Kysely, type RawBuilder } from "kysely";
import type { Database } from "./schema.js";

/** SQLite allows 32,766 bound values per statement and PostgreSQL 65,535; stay well below. */
export const MAX_PARAMS = 10_000;

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export type SqlType = "bigint" | "integer" | "text";

export interface ColumnSpec {
  name: string;
  type: SqlType;
}

/**
 * Sets columns of many rows of `table`, keyed by `key` (first column of `columns` is the key).
 * `where` adds a guard on the target row (compare-and-set), e.g. sql`task_instance.state = 'none'`.
 */
export async function updateFromValues(
  db: Kysely<Database>,
  table: keyof Database,
  columns: readonly ColumnSpec[],
  rows: ReadonlyArray<readonly unknown[]>,
  options: { set?: RawBuilder<unknown>[]; where?: RawBuilder<unknown> } = {},
): Promise<void> {
  if (rows.length === 0) return;
  const [key, ...rest] = columns;
  const per = Math.max(1, Math.floor(MAX_PARAMS / columns.length));
  for (const part of chunk(rows, per)) {
    const values = sql.join(
      part.map((row) => sql`(${sql.join(row.map((v, i) => sql`cast(${v} as ${sql.raw(columns[i]!.type)})`))})`),
    );
    const assignments = [
      ...rest.map((c) => sql`${sql.ref(c.name)} = v.${sql.ref(c.name)}`),
      ...(options.set ?? []),
    ];
    const guard = options.where ? sql` and ${options.where}` : sql``;
    await sql`with v(${sql.join(columns.map((c) => sql.ref(c.name)))}) as (values ${values})
      update ${sql.table(table)} set ${sql.join(assignments)}
      from v where ${sql.table(table)}.${sql.ref(key!.name)} = v.${sql.ref(key!.name)}${guard}`.execute(db);
  }
}
