/** /connections: CRUD, write-only secrets stored encrypted, partial PATCH, errors, who may write. */
import { afterEach, describe, expect, it } from "vitest";
import { readConnection } from "../../src/store/connections.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createApiEnv, type ApiEnv } from "./helpers.js";

let api: ApiEnv | undefined;
afterEach(async () => {
  await api?.cleanup();
  api = undefined;
});

const USERS = [
  { username: "admin", roles: ["Admin"] },
  { username: "op", roles: ["Op"] },
  { username: "viewer", roles: ["Viewer"] },
];

const WAREHOUSE = {
  connection_id: "warehouse",
  conn_type: "postgres",
  description: "the warehouse",
  host: "db.internal",
  schema: "analytics",
  login: "etl",
  port: 5432,
  password: "hunter2-secret",
  extra: { sslmode: "require", api_key: "extra-secret-1" },
};

describe.each(DIALECTS)("connections API (%s)", (dialect) => {
  it("creates, lists, reads, changes and deletes; never returns the password or extra", async () => {
    api = await createApiEnv({ dialect, users: USERS });
    const op = await api.login("op");

    const created = await api.inject(op, "POST", "/connections", WAREHOUSE);
    expect(created.status, created.body).toBe(201);
    expect(created.json).toMatchObject({
      connection_id: "warehouse",
      conn_type: "postgres",
      description: "the warehouse",
      host: "db.internal",
      schema: "analytics",
      login: "etl",
      port: 5432,
      password_set: true,
      extra_set: true,
    });
    expect(Object.keys(created.json)).not.toContain("password");
    expect(Object.keys(created.json)).not.toContain("extra");

    const got = await api.inject(op, "GET", "/connections/warehouse");
    const list = await api.inject(op, "GET", "/connections");
    for (const res of [created, got, list]) {
      expect(res.body).not.toContain("hunter2-secret");
      expect(res.body).not.toContain("extra-secret-1");
      expect(res.body).not.toContain("sslmode");
    }
    expect(list.json).toMatchObject({ total_entries: 1, connections: [{ connection_id: "warehouse", password_set: true }] });

    // The stored secrets decrypt to what was given.
    const stored = await readConnection(api.env.store.db, api.keyring, "warehouse");
    expect(stored.password).toBe("hunter2-secret");
    expect(stored.extra).toEqual({ sslmode: "require", api_key: "extra-secret-1" });

    // A PATCH without the password keeps it; fields left out are kept.
    const patched = await api.inject(op, "PATCH", "/connections/warehouse", { host: "db2.internal", port: null });
    expect(patched.status, patched.body).toBe(200);
    expect(patched.json).toMatchObject({ host: "db2.internal", port: null, login: "etl", description: "the warehouse", password_set: true, extra_set: true });
    expect((await readConnection(api.env.store.db, api.keyring, "warehouse")).password).toBe("hunter2-secret");

    // A new password replaces it; null clears it; the extra may be a JSON string.
    await api.inject(op, "PATCH", "/connections/warehouse", { password: "another-one", extra: '{"region": "eu"}' });
    let after = await readConnection(api.env.store.db, api.keyring, "warehouse");
    expect(after.password).toBe("another-one");
    expect(after.extra).toEqual({ region: "eu" });
    const cleared = await api.inject(op, "PATCH", "/connections/warehouse", { password: null, extra: null });
    expect(cleared.json).toMatchObject({ password_set: false, extra_set: false, host: "db2.internal" });
    after = await readConnection(api.env.store.db, api.keyring, "warehouse");
    expect([after.password, after.extra]).toEqual([null, null]);

    expect((await api.inject(op, "DELETE", "/connections/warehouse")).status).toBe(204);
    expect((await api.inject(op, "GET", "/connections/warehouse")).json.code).toBe("UPDRAFT_E_CONNECTION_NOT_FOUND");
    expect((await api.inject(op, "GET", "/connections")).json.total_entries).toBe(0);
  });

  it("pages the list in id order", async () => {
    api = await createApiEnv({ dialect, users: USERS });
    const admin = await api.login("admin");
    for (const id of ["c", "a", "b"]) expect((await api.inject(admin, "POST", "/connections", { connection_id: id, conn_type: "http" })).status).toBe(201);
    const page = await api.inject(admin, "GET", "/connections?limit=2&offset=1");
    expect(page.json.total_entries).toBe(3);
    expect(page.json.connections.map((c: { connection_id: string }) => c.connection_id)).toEqual(["b", "c"]);
    expect(page.json.connections[0]).toMatchObject({ password_set: false, extra_set: false, host: null });
  });
});

describe("connections API errors and access", () => {
  it("rejects bad ids, duplicates, unknown fields and extras that are not JSON objects", async () => {
    api = await createApiEnv({ users: USERS });
    const op = await api.login("op");
    expect((await api.inject(op, "POST", "/connections", { connection_id: "ok", conn_type: "http" })).status).toBe(201);
    const dup = await api.inject(op, "POST", "/connections", { connection_id: "ok", conn_type: "postgres", password: "x" });
    expect(dup.status).toBe(409);
    expect(dup.json.code).toBe("UPDRAFT_E_CONFLICT");
    expect((await readConnection(api.env.store.db, api.keyring, "ok")).connType).toBe("http");

    const bad: Array<[string, string, unknown]> = [
      ["POST", "/connections", { connection_id: "has space", conn_type: "http" }],
      ["POST", "/connections", { connection_id: "a/b", conn_type: "http" }],
      ["POST", "/connections", { connection_id: "x".repeat(251), conn_type: "http" }],
      ["POST", "/connections", { connection_id: "x", conn_type: "http", password_enc: "v1:zz" }],
      ["POST", "/connections", { connection_id: "x" }],
      ["POST", "/connections", { connection_id: "x", conn_type: "http", port: 70000 }],
      ["POST", "/connections", { connection_id: "x", conn_type: "http", extra: "not json" }],
      ["POST", "/connections", { connection_id: "x", conn_type: "http", extra: "[1, 2]" }],
      ["PATCH", "/connections/ok", { connection_id: "renamed" }],
      ["PATCH", "/connections/ok", { password_set: false }],
      ["PATCH", "/connections/ok", { conn_type: "has space" }],
    ];
    for (const [method, url, body] of bad) {
      const res = await api.inject(op, method, url, body);
      expect(res.status, `${method} ${url} ${JSON.stringify(body)}: ${res.body}`).toBe(400);
    }
    // An extra that is not JSON is refused without echoing it (it may be a secret).
    const notJson = await api.inject(op, "POST", "/connections", { connection_id: "y", conn_type: "http", extra: "s3cr3t{" });
    expect(notJson.status).toBe(400);
    expect(notJson.body).not.toContain("s3cr3t");
    expect((await api.inject(op, "GET", "/connections")).json.total_entries).toBe(1);
    expect((await api.inject(op, "PATCH", "/connections/missing", { host: "h" })).status).toBe(404);
    expect((await api.inject(op, "DELETE", "/connections/missing")).status).toBe(404);
  });

  it("lets a Viewer neither read nor write connections; the audit log names fields, not values", async () => {
    api = await createApiEnv({ users: USERS });
    const viewer = await api.login("viewer");
    const op = await api.login("op");
    expect((await api.inject(op, "POST", "/connections", WAREHOUSE)).status).toBe(201);
    for (const [method, url, body] of [
      ["GET", "/connections", undefined],
      ["GET", "/connections/warehouse", undefined],
      ["POST", "/connections", { connection_id: "v", conn_type: "http" }],
      ["PATCH", "/connections/warehouse", { password: "pwned-by-viewer" }],
      ["DELETE", "/connections/warehouse", undefined],
    ] as const) {
      const res = await api.inject(viewer, method, url, body);
      expect(res.status, `${method} ${url}`).toBe(403);
    }
    expect((await readConnection(api.env.store.db, api.keyring, "warehouse")).password).toBe("hunter2-secret");
    const audit = await api.env.store.db.selectFrom("audit_log").select(["action", "details", "outcome"]).where("action", "=", "connection.create").where("outcome", "=", "success").executeTakeFirstOrThrow();
    expect(JSON.parse(audit.details!)).toEqual({ fields: ["conn_type", "description", "extra", "host", "login", "password", "port", "schema"] });
  });
});
