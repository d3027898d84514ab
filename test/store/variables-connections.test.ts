/** The store's reads for tasks (decrypted for the asking try) and the batched import/export the CLI uses. */
import { describe, expect, it } from "vitest";
import { createKeyring, generateKey, parseKeyring } from "../../src/security/secrets.js";
import { connectionForTask, createConnection, exportConnections, importConnections, readConnection } from "../../src/store/connections.js";
import type { ConnectionParts } from "../../src/util/connection-uri.js";
import { createVariable, exportVariables, importVariables, listVariables, readVariableValue, requireVariable, variableForTask } from "../../src/store/variables.js";
import { DIALECTS } from "../helpers/dialects.js";
import { envFactory, expectCode } from "./fixtures.js";

const keyring = createKeyring(parseKeyring(`k1:${generateKey()}`));

const parts = (fields: Partial<ConnectionParts> & { connType: string }): ConnectionParts => ({ description: null, host: null, schema: null, login: null, password: null, port: null, extra: null, ...fields });

describe.each(DIALECTS)("variables and connections for tasks (%s)", (dialect) => {
  const makeEnv = envFactory(dialect);

  it("variableForTask: plain and secret values (decrypted), whether they are secret, null when missing; a secret needs the keyring", async () => {
    const env = await makeEnv();
    const db = env.store.db;
    await createVariable(db, keyring, { key: "region", value: "eu" });
    await createVariable(db, keyring, { key: "vault", value: "s3cr3t", isSecret: true });
    await createVariable(db, keyring, { key: "shop_token", value: "tok-1" });
    expect(await variableForTask(db, keyring, "region")).toEqual({ value: "eu", secret: false });
    expect(await variableForTask(db, keyring, "vault")).toEqual({ value: "s3cr3t", secret: true });
    expect(await variableForTask(db, keyring, "shop_token")).toEqual({ value: "tok-1", secret: true });
    expect(await variableForTask(db, keyring, "nope")).toBeNull();
    expect(await variableForTask(db, null, "region")).toEqual({ value: "eu", secret: false });
    const error = await expectCode(variableForTask(db, null, "vault"), "UPDRAFT_E_SECRET_KEY");
    expect(error.hint).toContain("UPDRAFT_SECRET_KEY");
    const wrong = createKeyring(parseKeyring(`k1:${generateKey()}`));
    expect((await expectCode(variableForTask(db, wrong, "vault"), "UPDRAFT_E_SECRET_KEY")).message).not.toContain("s3cr3t");
  });

  it("connectionForTask: every field, the password and extra decrypted; null when missing; secrets need the keyring, a plain connection does not", async () => {
    const env = await makeEnv();
    const db = env.store.db;
    await createConnection(db, keyring, "wh", { connType: "postgres", host: "db", port: 5432, schema: "w", login: "etl", password: "pw-1", extra: { sslmode: "require" }, description: "d" });
    await createConnection(db, keyring, "web", { connType: "http", host: "https://example.com" });
    expect(await connectionForTask(db, keyring, "wh")).toEqual(parts({ connType: "postgres", host: "db", port: 5432, schema: "w", login: "etl", password: "pw-1", extra: { sslmode: "require" }, description: "d" }));
    expect(await connectionForTask(db, null, "web")).toEqual(parts({ connType: "http", host: "https://example.com" }));
    expect(await connectionForTask(db, keyring, "nope")).toBeNull();
    await expectCode(connectionForTask(db, null, "wh"), "UPDRAFT_E_SECRET_KEY");
  });

  it("importVariables creates, skips or replaces in a few statements; a secret stays secret, a description is kept unless given", async () => {
    const env = await makeEnv();
    const db = env.store.db;
    await createVariable(db, keyring, { key: "vault", value: "old", isSecret: true, description: "the vault" });
    await createVariable(db, keyring, { key: "region", value: "eu", description: "where" });
    const many = Array.from({ length: 1_500 }, (_, i) => ({ key: `k${String(i).padStart(4, "0")}`, value: `v${i}` }));
    const first = await env.store.transaction((trx) => importVariables(trx, keyring, [...many, { key: "vault", value: "new" }, { key: "api_password", value: "pw" }], { overwrite: false }));
    expect([first.created.length, first.updated, first.skipped]).toEqual([1_501, [], ["vault"]]);
    expect(await readVariableValue(db, keyring, "vault")).toBe("old");
    expect((await listVariables(db, { limit: 10, offset: 0 })).total).toBe(1_503);

    const second = await env.store.transaction((trx) =>
      importVariables(trx, keyring, [{ key: "vault", value: "new" }, { key: "region", value: "us", description: "moved" }, { key: "k0001", value: "plain", isSecret: true }], { overwrite: true }),
    );
    expect(second).toEqual({ created: [], updated: ["vault", "region", "k0001"], skipped: [] });
    expect(await requireVariable(db, "vault")).toMatchObject({ value: "***", isSecret: true, description: "the vault" });
    expect(await readVariableValue(db, keyring, "vault")).toBe("new");
    expect(await requireVariable(db, "region")).toMatchObject({ value: "us", isSecret: false, description: "moved" });
    expect(await requireVariable(db, "k0001")).toMatchObject({ value: "***", isSecret: true });
    expect(await requireVariable(db, "api_password")).toMatchObject({ value: "***", isSecret: true });

    // One bad key refuses the whole import before anything is written.
    await expectCode(importVariables(db, keyring, [{ key: "fine", value: "1" }, { key: "not fine", value: "2" }], { overwrite: true }), "UPDRAFT_E_INVALID_ID");
    expect(await variableForTask(db, keyring, "fine")).toBeNull();

    const exported = await exportVariables(db, keyring);
    expect(exported.find((v) => v.key === "vault")).toEqual({ key: "vault", value: "new", secret: true, description: "the vault" });
    expect((await exportVariables(db, null)).find((v) => v.key === "vault")).toMatchObject({ value: null, secret: true });
  });

  it("importConnections creates, skips or replaces whole connections; exportConnections decrypts only with a keyring", async () => {
    const env = await makeEnv();
    const db = env.store.db;
    await createConnection(db, keyring, "wh", { connType: "postgres", host: "old-db", password: "old-pw", extra: { a: "1" } });
    const wh = { connId: "wh", ...parts({ connType: "postgres", host: "new-db", login: "etl", password: "new-pw", port: 5433, schema: "w" }) };
    const api = { connId: "api", ...parts({ connType: "http", host: "https://x", extra: { api_key: "k-1" }, description: "the API" }) };
    expect(await env.store.transaction((trx) => importConnections(trx, keyring, [wh, api], { overwrite: false }))).toEqual({ created: ["api"], updated: [], skipped: ["wh"] });
    expect((await readConnection(db, keyring, "wh")).password).toBe("old-pw");
    expect(await env.store.transaction((trx) => importConnections(trx, keyring, [wh], { overwrite: true }))).toEqual({ created: [], updated: ["wh"], skipped: [] });
    expect(await connectionForTask(db, keyring, "wh")).toEqual({ ...wh, connId: undefined, extra: null });
    await expectCode(importConnections(db, keyring, [{ ...api, connId: "bad id" }], { overwrite: true }), "UPDRAFT_E_INVALID_ID");

    expect(await exportConnections(db, keyring)).toEqual([api, wh]);
    expect(await exportConnections(db, null)).toEqual([{ ...api, extra: null }, { ...wh, password: null }]);
  });
});
