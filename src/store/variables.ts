/**
 * Variables: key-value settings for DAGs. A variable is secret when it says so or when its key
 * names something sensitive (Airflow's rule: "password", "secret", "token", … anywhere in the key);
 * a secret value is stored only as a ciphertext of the keyring and shown masked.
 */
import type { Kysely, Selectable } from "kysely";
import { UpdraftError } from "../errors/index.js";
import type { Keyring } from "../security/secrets.js";
import { isSensitiveKey, MASK } from "../util/sensitive.js";
import { chunk } from "./batch.js";
import type { Database, VariableTable } from "./schema.js";
import { requireKeyring } from "./secrets.js";

export { isSensitiveKey, MASK, SENSITIVE_KEY_PARTS } from "../util/sensitive.js";

const KEY_RE = /^(?!\.+$)[A-Za-z0-9_.-]{1,250}$/;

export function checkVariableKey(key: string): string {
  if (!KEY_RE.test(key)) {
    throw new UpdraftError("UPDRAFT_E_INVALID_ID", `variable key ${JSON.stringify(key.slice(0, 250))} is not valid`, { hint: 'use 1–250 letters, digits, "_", "." and "-" (not dots alone)' });
  }
  return key;
}

export interface VariableInfo {
  key: string;
  /** The value, or "***" for a secret one. */
  value: string;
  isSecret: boolean;
  description: string | null;
  createdAt: number;
  updatedAt: number;
}

type Row = Selectable<VariableTable>;

function info(row: Row): VariableInfo {
  const secret = row.is_secret === 1 || row.value_enc !== null;
  return {
    key: row.key,
    value: secret ? MASK : (row.value ?? ""),
    isSecret: secret,
    description: row.description,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export async function listVariables(db: Kysely<Database>, page: { limit: number; offset: number }): Promise<{ variables: VariableInfo[]; total: number }> {
  const rows = await db.selectFrom("variable").selectAll().orderBy("key").limit(page.limit).offset(page.offset).execute();
  const total = await db.selectFrom("variable").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
  return { variables: rows.map(info), total: Number(total.n) };
}

async function rowOf(db: Kysely<Database>, key: string): Promise<Row> {
  const row = await db.selectFrom("variable").selectAll().where("key", "=", key).executeTakeFirst();
  if (!row) throw new UpdraftError("UPDRAFT_E_VARIABLE_NOT_FOUND", `variable '${key.slice(0, 250)}' not found`);
  return row;
}

/** A variable as shown: a secret value masked. */
export async function requireVariable(db: Kysely<Database>, key: string): Promise<VariableInfo> {
  return info(await rowOf(db, key));
}

/** The plain value of a variable, decrypting a secret one (for the code that uses it, never for display). */
export async function readVariableValue(db: Kysely<Database>, keyring: Keyring, key: string): Promise<string> {
  const row = await rowOf(db, key);
  return row.value_enc !== null ? keyring.decrypt(row.value_enc) : (row.value ?? "");
}

/**
 * A variable for the try that asked for it (`ctx.variable`): its value, decrypted, and whether it
 * is secret (so the runner masks it); null when there is none. This is the one read the scheduler
 * answers runners with, and the execution API will answer remote workers with.
 */
export async function variableForTask(db: Kysely<Database>, keyring: Keyring | null, key: string): Promise<{ value: string; secret: boolean } | null> {
  const row = await db.selectFrom("variable").select(["value", "value_enc", "is_secret"]).where("key", "=", key).executeTakeFirst();
  if (!row) return null;
  if (row.value_enc === null) return { value: row.value ?? "", secret: row.is_secret === 1 || isSensitiveKey(key) };
  return { value: requireKeyring(keyring, `variable '${key}'`).decrypt(row.value_enc), secret: true };
}

function stored(keyring: Keyring, key: string, value: string, isSecret: boolean) {
  const secret = isSecret || isSensitiveKey(key);
  return secret ? { value: null, value_enc: keyring.encrypt(value), is_secret: 1 } : { value, value_enc: null, is_secret: 0 };
}

export interface NewVariable {
  key: string;
  value: string;
  isSecret?: boolean;
  description?: string | null;
}

export async function createVariable(db: Kysely<Database>, keyring: Keyring, variable: NewVariable): Promise<VariableInfo> {
  checkVariableKey(variable.key);
  const now = Date.now();
  const inserted = await db
    .insertInto("variable")
    .values({ key: variable.key, ...stored(keyring, variable.key, variable.value, variable.isSecret ?? false), description: variable.description ?? null, created_at: now, updated_at: now })
    .onConflict((oc) => oc.column("key").doNothing())
    .returning("key")
    .executeTakeFirst();
  if (inserted === undefined) {
    throw new UpdraftError("UPDRAFT_E_CONFLICT", `variable '${variable.key}' already exists`, { hint: `change it with PATCH /api/v1/variables/${variable.key}` });
  }
  return requireVariable(db, variable.key);
}

export interface VariableChange {
  value?: string;
  isSecret?: boolean;
  description?: string | null;
}

/**
 * Changes a variable. Making a secret variable plain needs a new value: the old one stays secret
 * (whoever may write variables may not read secret values). A key with a sensitive name stays
 * secret whatever is_secret says.
 */
export async function updateVariable(db: Kysely<Database>, keyring: Keyring, key: string, change: VariableChange): Promise<VariableInfo> {
  const row = await rowOf(db, key);
  const wasSecret = row.is_secret === 1 || row.value_enc !== null;
  const set: Partial<Row> = {};
  if (change.description !== undefined) set.description = change.description;
  if (change.value !== undefined) {
    Object.assign(set, stored(keyring, key, change.value, change.isSecret ?? wasSecret));
  } else if (change.isSecret === true && !wasSecret) {
    Object.assign(set, stored(keyring, key, row.value ?? "", true));
  } else if (change.isSecret === false && wasSecret && !isSensitiveKey(key)) {
    throw new UpdraftError("UPDRAFT_E_VALIDATION", `making secret variable '${key}' plain needs a new value`, { hint: 'send {"is_secret": false, "value": "…"}' });
  }
  await db.updateTable("variable").set({ ...set, updated_at: Date.now() }).where("key", "=", key).execute();
  return requireVariable(db, key);
}

export async function deleteVariable(db: Kysely<Database>, key: string): Promise<void> {
  const result = await db.deleteFrom("variable").where("key", "=", key).executeTakeFirst();
  if (Number(result.numDeletedRows) === 0) throw new UpdraftError("UPDRAFT_E_VARIABLE_NOT_FOUND", `variable '${key.slice(0, 250)}' not found`);
}

export interface VariableImport {
  key: string;
  value: string;
  /** Marks the variable secret; one that is secret already stays secret. */
  isSecret?: boolean;
  /** Left undefined, an existing description is kept. */
  description?: string | null;
}

export interface ImportSummary {
  created: string[];
  updated: string[];
  skipped: string[];
}

/**
 * Creates variables, and replaces the values of existing ones when `overwrite` (else skips them),
 * in a few statements whatever their number (`updraft variables set|import`; run it in a
 * transaction). A secret variable stays secret when its value is replaced.
 */
export async function importVariables(db: Kysely<Database>, keyring: Keyring, variables: VariableImport[], options: { overwrite: boolean }): Promise<ImportSummary> {
  for (const v of variables) checkVariableKey(v.key);
  const existing = new Map<string, { secret: boolean; description: string | null }>();
  for (const part of chunk(variables.map((v) => v.key), 1_000)) {
    const rows = await db.selectFrom("variable").select(["key", "is_secret", "value_enc", "description"]).where("key", "in", part).execute();
    for (const r of rows) existing.set(r.key, { secret: r.is_secret === 1 || r.value_enc !== null, description: r.description });
  }
  const summary: ImportSummary = { created: [], updated: [], skipped: [] };
  const now = Date.now();
  const rows = variables.flatMap((v) => {
    const old = existing.get(v.key);
    if (old && !options.overwrite) {
      summary.skipped.push(v.key);
      return [];
    }
    (old ? summary.updated : summary.created).push(v.key);
    const description = v.description !== undefined ? v.description : (old?.description ?? null);
    return [{ key: v.key, ...stored(keyring, v.key, v.value, (v.isSecret ?? false) || (old?.secret ?? false)), description, created_at: now, updated_at: now }];
  });
  for (const part of chunk(rows, 1_000)) {
    await db
      .insertInto("variable")
      .values(part)
      .onConflict((oc) =>
        oc.column("key").doUpdateSet((eb) => ({
          value: eb.ref("excluded.value"),
          value_enc: eb.ref("excluded.value_enc"),
          is_secret: eb.ref("excluded.is_secret"),
          description: eb.ref("excluded.description"),
          updated_at: eb.ref("excluded.updated_at"),
        })),
      )
      .execute();
  }
  return summary;
}

/** Every variable with its plain value, secret ones decrypted (`updraft variables export --include-secrets`). */
export async function exportVariables(db: Kysely<Database>, keyring: Keyring | null): Promise<Array<{ key: string; value: string | null; secret: boolean; description: string | null }>> {
  const rows = await db.selectFrom("variable").select(["key", "value", "value_enc", "is_secret", "description"]).orderBy("key").execute();
  return rows.map((r) => {
    const secret = r.is_secret === 1 || r.value_enc !== null;
    const value = r.value_enc !== null ? (keyring ? keyring.decrypt(r.value_enc) : null) : (r.value ?? "");
    return { key: r.key, value, secret, description: r.description };
  });
}
