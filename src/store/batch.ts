/** Splitting large lists: statements bind a bounded number of values. */

/** SQLite allows 32,766 bound values per statement and PostgreSQL 65,535; stay well below. */
export const MAX_PARAMS = 10_000;

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
