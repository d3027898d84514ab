/**
 * Secrets at rest: no plaintext anywhere in the database, a wrong key refused, and key rotation
 * (re-encrypt with a new key, then drop the old one).
 */
import { existsSync, readFileSync } from "node:fs";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { isUpdraftError } from "../../src/errors/index.js";
import { createKeyring, generateKey, parseKeyring } from "../../src/security/secrets.js";
import { readConnection } from "../../src/store/connections.js";
import { checkKeyring, rotateSecrets } from "../../src/store/secrets.js";
import { readVariableValue } from "../../src/store/variables.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createApiEnv, type ApiEnv } from "./helpers.js";

const PASSWORD = "hunter2-secret";
const VARIABLE = "s3cr3t-value";
const EXTRA = "extra-s3cr3t";

let api: ApiEnv | undefined;
afterEach(async () => {
  await api?.cleanup();
  api = undefined;
});

/** Every row of every table of the store, as text. */
async function dumpDatabase(api: ApiEnv): Promise<string> {
  const { store } = api.env;
  const tables =
    store.dialect === "sqlite"
      ? (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(store.db)).rows.map((r) => r.name)
      : (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = ${store.schema ?? "public"}`.execute(store.db)).rows.map((r) => r.name);
  expect(tables).toEqual(expect.arrayContaining(["connection", "variable", "audit_log", "updraft_meta"]));
  const parts: string[] = [];
  for (const table of tables) {
    const rows = (await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(store.db)).rows;
    parts.push(`${table}: ${JSON.stringify(rows)}`);
  }
  return parts.join("\n");
}

async function storeSecrets(api: ApiEnv): Promise<void> {
  const op = await api.login("op");
  const conn = await api.inject(op, "POST", "/connections", { connection_id: "warehouse", conn_type: "postgres", login: "etl", password: PASSWORD, extra: { token: EXTRA } });
  expect(conn.status, conn.body).toBe(201);
  const variable = await api.inject(op, "POST", "/variables", { key: "vault", value: VARIABLE, is_secret: true });
  expect(variable.status, variable.body).toBe(201);
  // Requests that fail with the secrets in their bodies leave no trace of them either.
  expect((await api.inject(op, "POST", "/connections", { connection_id: "warehouse", conn_type: "postgres", password: PASSWORD })).status).toBe(409);
  expect((await api.inject(op, "POST", "/variables", { key: "vault", value: VARIABLE })).status).toBe(409);
  expect((await api.inject(op, "PATCH", "/connections/warehouse", { password: PASSWORD, port: "not a port" })).status).toBe(400);
  expect((await api.inject(await api.login("viewer"), "PATCH", "/variables/vault", { value: VARIABLE })).status).toBe(403);
}

const USERS = [
  { username: "op", roles: ["Op"] },
  { username: "viewer", roles: ["Viewer"] },
];

describe.each(DIALECTS)("secrets at rest (%s)", (dialect) => {
  it("leaves no plaintext secret in any row of any table", async () => {
    api = await createApiEnv({ dialect, users: USERS });
    await storeSecrets(api);
    const dump = await dumpDatabase(api);
    expect(dump).toContain("warehouse");
    expect(dump).toContain("vault");
    expect(dump).toContain("connection.create");
    for (const secret of [PASSWORD, VARIABLE, EXTRA]) expect(dump).not.toContain(secret);

    // The text columns of the tables that hold secrets, looked at one by one.
    const db = api.env.store.db;
    const texts = [
      ...(await db.selectFrom("connection").select(["conn_id", "conn_type", "description", "host", "schema_name", "login", "password_enc", "extra_enc"]).execute()).flatMap(Object.values),
      ...(await db.selectFrom("variable").select(["key", "value", "value_enc", "description"]).execute()).flatMap(Object.values),
      ...(await db.selectFrom("audit_log").select(["username", "action", "method", "path", "object_type", "object_id", "dag_id", "source_ip", "outcome", "details"]).execute()).flatMap(Object.values),
    ].filter((v): v is string => typeof v === "string");
    expect(texts.length).toBeGreaterThan(20);
    for (const text of texts) for (const secret of [PASSWORD, VARIABLE, EXTRA]) expect(text).not.toContain(secret);

    if (dialect === "sqlite") {
      // The database files themselves (the write-ahead log included).
      const file = api.env.config.databaseUrl.replace(/^sqlite:\/\//, "");
      for (const path of [file, `${file}-wal`]) {
        if (!existsSync(path)) continue;
        const bytes = readFileSync(path).toString("latin1");
        for (const secret of [PASSWORD, VARIABLE, EXTRA]) expect(bytes.includes(secret), `${secret} in ${path}`).toBe(false);
      }
    }
  });

  it("refuses a wrong secret key, and rotates to a new key", async () => {
    api = await createApiEnv({ dialect, users: USERS });
    await storeSecrets(api);
    const db = api.env.store.db;
    const k1 = api.keyring.current.key.toString("base64");
    const k2 = generateKey();

    // A wrong key, or a right key under another id, fails the start-up check with a clear code.
    for (const text of [`k1:${generateKey()}`, `other:${k1}`, `new:${k2}`]) {
      const error = await checkKeyring(db, createKeyring(parseKeyring(text))).catch((e: unknown) => e);
      expect(isUpdraftError(error, "UPDRAFT_E_SECRET_KEY"), `${text.split(":")[0]}: ${String(error)}`).toBe(true);
    }
    const wrongRead = await readConnection(db, createKeyring(parseKeyring(`k1:${generateKey()}`)), "warehouse").catch((e: unknown) => e);
    expect(isUpdraftError(wrongRead, "UPDRAFT_E_SECRET_KEY")).toBe(true);

    // new first (it encrypts), the old one after (it still decrypts).
    const both = createKeyring(parseKeyring(`new:${k2},k1:${k1}`));
    await checkKeyring(db, both);
    expect(await rotateSecrets(db, both)).toBe(2);
    expect(await rotateSecrets(db, both)).toBe(0);
    const conn = await db.selectFrom("connection").select(["password_enc", "extra_enc"]).executeTakeFirstOrThrow();
    const variable = await db.selectFrom("variable").select("value_enc").where("key", "=", "vault").executeTakeFirstOrThrow();
    for (const text of [conn.password_enc, conn.extra_enc, variable.value_enc]) expect(text).toMatch(/^v1:new:/);

    // The new key alone reads everything; the old one alone no longer does.
    const onlyNew = createKeyring(parseKeyring(`new:${k2}`));
    await checkKeyring(db, onlyNew);
    expect((await readConnection(db, onlyNew, "warehouse")).password).toBe(PASSWORD);
    expect((await readConnection(db, onlyNew, "warehouse")).extra).toEqual({ token: EXTRA });
    expect(await readVariableValue(db, onlyNew, "vault")).toBe(VARIABLE);
    const oldOnly = await checkKeyring(db, api.keyring).catch((e: unknown) => e);
    expect(isUpdraftError(oldOnly, "UPDRAFT_E_SECRET_KEY")).toBe(true);
  });
});
