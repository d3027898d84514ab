/** /variables: CRUD, secret variables (explicit or by a sensitive key) encrypted and masked. */
import { afterEach, describe, expect, it } from "vitest";
import { isSensitiveKey, readVariableValue } from "../../src/store/variables.js";
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

const stored = (api: ApiEnv, key: string) => api.env.store.db.selectFrom("variable").selectAll().where("key", "=", key).executeTakeFirstOrThrow();

describe.each(DIALECTS)("variables API (%s)", (dialect) => {
  it("creates, reads, changes and deletes plain variables", async () => {
    api = await createApiEnv({ dialect, users: USERS });
    const op = await api.login("op");
    const created = await api.inject(op, "POST", "/variables", { key: "region", value: "eu-west-1", description: "where" });
    expect(created.status, created.body).toBe(201);
    expect(created.json).toMatchObject({ key: "region", value: "eu-west-1", is_secret: false, description: "where" });
    expect((await api.inject(op, "GET", "/variables/region")).json.value).toBe("eu-west-1");
    expect(await stored(api, "region")).toMatchObject({ value: "eu-west-1", value_enc: null, is_secret: 0 });

    const patched = await api.inject(op, "PATCH", "/variables/region", { value: "us-east-1" });
    expect(patched.json).toMatchObject({ value: "us-east-1", description: "where" });
    expect((await api.inject(op, "PATCH", "/variables/region", { description: null })).json).toMatchObject({ value: "us-east-1", description: null });
    // An empty value is a value.
    expect((await api.inject(op, "PATCH", "/variables/region", { value: "" })).json.value).toBe("");

    expect((await api.inject(op, "DELETE", "/variables/region")).status).toBe(204);
    const gone = await api.inject(op, "GET", "/variables/region");
    expect(gone.status).toBe(404);
    expect(gone.json.code).toBe("UPDRAFT_E_VARIABLE_NOT_FOUND");
  });

  it("stores secret variables encrypted and shows them masked, to everyone", async () => {
    api = await createApiEnv({ dialect, users: USERS });
    const admin = await api.login("admin");
    const explicit = await api.inject(admin, "POST", "/variables", { key: "plain_name", value: "s3cr3t-value", is_secret: true });
    expect(explicit.status, explicit.body).toBe(201);
    expect(explicit.json).toMatchObject({ key: "plain_name", value: "***", is_secret: true });
    // A sensitive key makes the variable secret even when is_secret is false.
    const byName = await api.inject(admin, "POST", "/variables", { key: "DB_Password", value: "by-name-secret", is_secret: false });
    expect(byName.json).toMatchObject({ value: "***", is_secret: true });
    for (const key of ["github_token", "aws_secret_access_key", "stripe_api_key", "ssh_private_key", "gpg_passphrase", "gcp_credentials"]) expect(isSensitiveKey(key), key).toBe(true);
    expect(isSensitiveKey("region")).toBe(false);

    for (const key of ["plain_name", "DB_Password"]) {
      const row = await stored(api, key);
      expect(row.value).toBeNull();
      expect(row.is_secret).toBe(1);
      expect(row.value_enc).toMatch(/^v1:k1:/);
    }
    expect(await readVariableValue(api.env.store.db, api.keyring, "plain_name")).toBe("s3cr3t-value");
    expect(await readVariableValue(api.env.store.db, api.keyring, "DB_Password")).toBe("by-name-secret");

    const one = await api.inject(admin, "GET", "/variables/plain_name");
    const list = await api.inject(admin, "GET", "/variables");
    for (const res of [one, list]) {
      expect(res.status).toBe(200);
      expect(res.body).not.toContain("s3cr3t-value");
      expect(res.body).not.toContain("by-name-secret");
    }
    expect(list.json.variables).toEqual([
      expect.objectContaining({ key: "DB_Password", value: "***", is_secret: true }),
      expect.objectContaining({ key: "plain_name", value: "***", is_secret: true }),
    ]);

    // A new value of a secret variable stays secret; the description can change without the value.
    await api.inject(admin, "PATCH", "/variables/plain_name", { value: "second-secret" });
    expect(await readVariableValue(api.env.store.db, api.keyring, "plain_name")).toBe("second-secret");
    expect((await stored(api, "plain_name")).value).toBeNull();
    await api.inject(admin, "PATCH", "/variables/plain_name", { description: "rotated" });
    expect(await readVariableValue(api.env.store.db, api.keyring, "plain_name")).toBe("second-secret");
  });

  it("turns a plain variable secret, and a secret one plain only with a new value", async () => {
    api = await createApiEnv({ dialect, users: USERS });
    const op = await api.login("op");
    await api.inject(op, "POST", "/variables", { key: "endpoint", value: "https://x.example" });
    const hidden = await api.inject(op, "PATCH", "/variables/endpoint", { is_secret: true });
    expect(hidden.json).toMatchObject({ value: "***", is_secret: true });
    expect(await stored(api, "endpoint")).toMatchObject({ value: null, is_secret: 1 });
    expect(await readVariableValue(api.env.store.db, api.keyring, "endpoint")).toBe("https://x.example");

    // Unmasking the old value would show a secret to whoever may write variables: refused.
    const reveal = await api.inject(op, "PATCH", "/variables/endpoint", { is_secret: false });
    expect(reveal.status).toBe(400);
    expect(reveal.body).not.toContain("https://x.example");
    expect((await api.inject(op, "GET", "/variables/endpoint")).json.value).toBe("***");
    const replaced = await api.inject(op, "PATCH", "/variables/endpoint", { is_secret: false, value: "https://y.example" });
    expect(replaced.json).toMatchObject({ value: "https://y.example", is_secret: false });
    expect(await stored(api, "endpoint")).toMatchObject({ value: "https://y.example", value_enc: null, is_secret: 0 });

    // A sensitive key stays secret whatever is_secret says.
    await api.inject(op, "POST", "/variables", { key: "api_token", value: "tok-123" });
    const still = await api.inject(op, "PATCH", "/variables/api_token", { is_secret: false, value: "tok-456" });
    expect(still.json).toMatchObject({ value: "***", is_secret: true });
    expect((await stored(api, "api_token")).value).toBeNull();
  });
});

describe("variables API errors and access", () => {
  it("rejects bad keys, duplicates, unknown fields and non-string values", async () => {
    api = await createApiEnv({ users: USERS });
    const op = await api.login("op");
    expect((await api.inject(op, "POST", "/variables", { key: "k", value: "1" })).status).toBe(201);
    const dup = await api.inject(op, "POST", "/variables", { key: "k", value: "2" });
    expect(dup.status).toBe(409);
    expect((await api.inject(op, "GET", "/variables/k")).json.value).toBe("1");
    for (const [method, url, body] of [
      ["POST", "/variables", { key: "a b", value: "1" }],
      ["POST", "/variables", { key: "", value: "1" }],
      ["POST", "/variables", { key: "x", value: { nested: true } }],
      ["POST", "/variables", { key: "x" }],
      ["POST", "/variables", { key: "x", value: "1", value_enc: "v1:k1:a:b:c" }],
      ["PATCH", "/variables/k", { key: "renamed" }],
      ["PATCH", "/variables/k", { is_secret: "maybe" }],
    ] as const) {
      const res = await api.inject(op, method, url, body);
      expect(res.status, `${method} ${url} ${JSON.stringify(body)}: ${res.body}`).toBe(400);
    }
    expect((await api.inject(op, "GET", "/variables")).json.total_entries).toBe(1);
    expect((await api.inject(op, "PATCH", "/variables/missing", { value: "1" })).status).toBe(404);
    expect((await api.inject(op, "DELETE", "/variables/missing")).status).toBe(404);
  });

  it("lets a Viewer neither read nor write variables", async () => {
    api = await createApiEnv({ users: USERS });
    const viewer = await api.login("viewer");
    const op = await api.login("op");
    await api.inject(op, "POST", "/variables", { key: "k", value: "1" });
    for (const [method, url, body] of [
      ["GET", "/variables", undefined],
      ["GET", "/variables/k", undefined],
      ["POST", "/variables", { key: "v", value: "1" }],
      ["PATCH", "/variables/k", { value: "2" }],
      ["DELETE", "/variables/k", undefined],
    ] as const) {
      expect((await api.inject(viewer, method, url, body)).status, `${method} ${url}`).toBe(403);
    }
    expect((await api.inject(op, "GET", "/variables/k")).json.value).toBe("1");
  });
});
