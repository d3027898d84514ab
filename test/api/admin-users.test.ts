/** /users and /roles: CRUD, token revocation on password or role changes, escalation guards. */
import { afterEach, describe, expect, it } from "vitest";
import { PERMISSIONS } from "../../src/security/rbac.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createApiEnv, TEST_PASSWORD, type ApiEnv } from "./helpers.js";

let api: ApiEnv | undefined;
afterEach(async () => {
  await api?.cleanup();
  api = undefined;
});

const USERS = [
  { username: "admin", roles: ["Admin"] },
  { username: "viewer", roles: ["Viewer"] },
];

async function loginAs(api: ApiEnv, username: string, password: string): Promise<{ status: number; token?: string }> {
  const res = await api.inject(null, "POST", "/auth/login", { username, password });
  return { status: res.status, token: res.json?.access_token };
}

async function apiToken(api: ApiEnv, sessionToken: string): Promise<string> {
  const res = await api.inject(sessionToken, "POST", "/tokens", { name: "automation" });
  expect(res.status, res.body).toBe(201);
  return res.json.token as string;
}

describe.each(DIALECTS)("users API (%s)", (dialect) => {
  it("creates, lists, reads, changes and deletes users; never shows a password hash", async () => {
    api = await createApiEnv({ dialect, users: USERS });
    const admin = await api.login("admin");
    const created = await api.inject(admin, "POST", "/users", {
      username: "ada",
      password: "correct horse battery",
      roles: ["User", "Op"],
      email: "ada@example.com",
      first_name: "Ada",
      last_name: "Lovelace",
    });
    expect(created.status, created.body).toBe(201);
    expect(created.json).toMatchObject({ username: "ada", roles: ["Op", "User"], email: "ada@example.com", first_name: "Ada", last_name: "Lovelace", active: true, last_login_at: null });
    expect((await loginAs(api, "ada", "correct horse battery")).status).toBe(200);

    const list = await api.inject(admin, "GET", "/users");
    expect(list.json.total_entries).toBe(3);
    expect(list.json.users.map((u: { username: string }) => u.username)).toEqual(["ada", "admin", "viewer"]);
    expect(list.json.users[0].last_login_at).not.toBeNull();
    const one = await api.inject(admin, "GET", "/users/ada");
    for (const res of [created, list, one]) {
      expect(res.body).not.toContain("scrypt");
      expect(res.body).not.toContain("password");
    }

    const patched = await api.inject(admin, "PATCH", "/users/ada", { email: null, first_name: "Augusta", roles: ["Viewer"] });
    expect(patched.status, patched.body).toBe(200);
    expect(patched.json).toMatchObject({ email: null, first_name: "Augusta", last_name: "Lovelace", roles: ["Viewer"] });

    expect((await api.inject(admin, "DELETE", "/users/ada")).status).toBe(204);
    expect((await api.inject(admin, "GET", "/users/ada")).json.code).toBe("UPDRAFT_E_USER_NOT_FOUND");
    expect((await loginAs(api, "ada", "correct horse battery")).status).toBe(401);
  });

  it("revokes access tokens and API tokens when the password changes", async () => {
    api = await createApiEnv({ dialect, users: [...USERS, { username: "bob", roles: ["User"] }] });
    const admin = await api.login("admin");
    const session = await api.login("bob");
    const token = await apiToken(api, session);
    expect((await api.inject(session, "GET", "/auth/me")).status).toBe(200);
    expect((await api.inject(token, "GET", "/auth/me")).status).toBe(200);

    const changed = await api.inject(admin, "PATCH", "/users/bob", { password: "a brand new password" });
    expect(changed.status, changed.body).toBe(200);
    for (const old of [session, token]) {
      const res = await api.inject(old, "GET", "/auth/me");
      expect(res.status).toBe(401);
      expect(res.json.code).toBe("UPDRAFT_E_TOKEN_INVALID");
    }
    expect((await loginAs(api, "bob", TEST_PASSWORD)).status).toBe(401);
    const again = await loginAs(api, "bob", "a brand new password");
    expect(again.status).toBe(200);
    expect((await api.inject(again.token!, "GET", "/auth/me")).json.username).toBe("bob");
    const audit = await api.env.store.db.selectFrom("audit_log").select(["details"]).where("action", "=", "user.update").executeTakeFirstOrThrow();
    expect(JSON.parse(audit.details!)).toEqual({ fields: ["password"], tokens_revoked: true });
    expect(audit.details).not.toContain("a brand new password");
  });

});

describe("users API: revocation, errors and guards", () => {
  it("revokes tokens when a role is taken away, not when one is added or a name changes", async () => {
    api = await createApiEnv({ users: [...USERS, { username: "carol", roles: ["User", "Op"] }] });
    const admin = await api.login("admin");
    const session = await api.login("carol");
    const token = await apiToken(api, session);

    await api.inject(admin, "PATCH", "/users/carol", { roles: ["User", "Op", "Viewer"], first_name: "Carol" });
    expect((await api.inject(session, "GET", "/auth/me")).status).toBe(200);
    expect((await api.inject(token, "GET", "/auth/me")).status).toBe(200);

    await api.inject(admin, "PATCH", "/users/carol", { roles: ["User", "Viewer"] });
    expect((await api.inject(session, "GET", "/auth/me")).status).toBe(401);
    expect((await api.inject(token, "GET", "/auth/me")).status).toBe(401);
    const fresh = await api.login("carol", { fresh: true });
    expect((await api.inject(fresh, "GET", "/auth/me")).json.roles).toEqual(["User", "Viewer"]);
    expect((await api.inject(fresh, "GET", "/pools")).status).toBe(403);
  });

  it("deactivation ends the user's sessions and logins", async () => {
    api = await createApiEnv({ users: [...USERS, { username: "dan", roles: ["Viewer"] }] });
    const admin = await api.login("admin");
    const session = await api.login("dan");
    expect((await api.inject(admin, "PATCH", "/users/dan", { active: false })).json.active).toBe(false);
    expect((await api.inject(session, "GET", "/auth/me")).status).toBe(401);
    expect((await loginAs(api, "dan", TEST_PASSWORD)).status).toBe(401);
    expect((await api.inject(admin, "PATCH", "/users/dan", { active: true })).json.active).toBe(true);
    expect((await loginAs(api, "dan", TEST_PASSWORD)).status).toBe(200);
  });
  it("rejects bad bodies, unknown roles, duplicates, and deleting yourself or the last Admin", async () => {
    api = await createApiEnv({ users: USERS });
    const admin = await api.login("admin");
    for (const body of [
      { username: "x", password: "short", roles: [] },
      { username: "x y", password: TEST_PASSWORD, roles: [] },
      { username: "x", password: TEST_PASSWORD, roles: ["Nope"] },
      { username: "x", password: TEST_PASSWORD, roles: [], password_hash: "scrypt$1" },
      { username: "x", password: TEST_PASSWORD, roles: [], email: "not an email" },
      { username: "x", password: TEST_PASSWORD },
    ]) {
      const res = await api.inject(admin, "POST", "/users", body);
      expect(res.status, `${JSON.stringify(body)}: ${res.body}`).toBe(400);
    }
    expect((await api.inject(admin, "GET", "/users")).json.total_entries).toBe(2);
    const dup = await api.inject(admin, "POST", "/users", { username: "viewer", password: TEST_PASSWORD, roles: [] });
    expect(dup.status).toBe(409);
    expect(dup.json.code).toBe("UPDRAFT_E_USER_EXISTS");

    for (const body of [{ username: "renamed" }, { token_version: 0 }, { roles: ["Nope"] }, { password: "short" }, { active: "sometimes" }]) {
      expect((await api.inject(admin, "PATCH", "/users/viewer", body)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await api.inject(admin, "PATCH", "/users/ghost", { active: false })).status).toBe(404);
    expect((await api.inject(admin, "DELETE", "/users/ghost")).status).toBe(404);

    const self = await api.inject(admin, "DELETE", "/users/admin");
    expect(self.status).toBe(400);
    expect(self.json.message).toContain("your own user");
    expect((await api.inject(admin, "PATCH", "/users/admin", { active: false })).status).toBe(400);
    // The last active Admin keeps the role.
    const demote = await api.inject(admin, "PATCH", "/users/admin", { roles: ["Viewer"] });
    expect(demote.status).toBe(409);
    expect((await api.inject(admin, "GET", "/users/admin")).json.roles).toEqual(["Admin"]);
  });

  it("lets a Viewer do nothing with users or roles; users:write cannot grant more than it holds", async () => {
    api = await createApiEnv({
      users: [...USERS, { username: "manager", roles: ["UserManager"] }],
      roles: [{ name: "UserManager", permissions: ["users:read", "users:write", "dags:read"] }],
    });
    const viewer = await api.login("viewer");
    for (const [method, url, body] of [
      ["GET", "/users", undefined],
      ["GET", "/users/admin", undefined],
      ["POST", "/users", { username: "v2", password: TEST_PASSWORD, roles: [] }],
      ["PATCH", "/users/viewer", { roles: ["Admin"] }],
      ["DELETE", "/users/admin", undefined],
      ["GET", "/roles", undefined],
      ["POST", "/roles", { name: "Mine", permissions: [] }],
      ["PATCH", "/roles/Viewer", { description: "x" }],
      ["DELETE", "/roles/Op", undefined],
    ] as const) {
      expect((await api.inject(viewer, method, url, body)).status, `${method} ${url}`).toBe(403);
    }
    expect((await api.inject(await api.login("admin"), "GET", "/users/viewer")).json.roles).toEqual(["Viewer"]);

    const manager = await api.login("manager");
    const escalate = await api.inject(manager, "PATCH", "/users/manager", { roles: ["UserManager", "Admin"] });
    expect(escalate.status).toBe(403);
    expect(escalate.json.message).toContain("config:read");
    expect((await api.inject(manager, "POST", "/users", { username: "puppet", password: TEST_PASSWORD, roles: ["Admin"] })).status).toBe(403);
    // Nor take over a more powerful user.
    expect((await api.inject(manager, "PATCH", "/users/admin", { password: "taken over, ha ha" })).status).toBe(403);
    expect((await api.inject(manager, "DELETE", "/users/admin")).status).toBe(403);
    expect((await loginAs(api, "admin", TEST_PASSWORD)).status).toBe(200);
    // Within its own permissions it works.
    expect((await api.inject(manager, "POST", "/users", { username: "reader", password: TEST_PASSWORD, roles: ["Viewer"] })).status).toBe(201);
  });
});

describe.each(DIALECTS)("roles API (%s)", (dialect) => {
  it("lists built-in roles, creates, changes and deletes custom ones", async () => {
    api = await createApiEnv({ dialect, users: USERS });
    const admin = await api.login("admin");
    const list = await api.inject(admin, "GET", "/roles");
    expect(list.status).toBe(200);
    expect(list.json.roles.map((r: { name: string }) => r.name)).toEqual(["Admin", "Op", "User", "Viewer"]);
    expect(list.json.roles[0]).toMatchObject({ name: "Admin", builtin: true, user_count: 1 });
    expect([...list.json.roles[0].permissions].sort()).toEqual([...PERMISSIONS].sort());

    const created = await api.inject(admin, "POST", "/roles", { name: "Pool Keeper", description: "pools only", permissions: ["pools:write", "pools:read", "pools:read"] });
    expect(created.status, created.body).toBe(201);
    expect(created.json).toMatchObject({ name: "Pool Keeper", description: "pools only", permissions: ["pools:read", "pools:write"], builtin: false, user_count: 0 });
    expect((await api.inject(admin, "GET", "/roles/Pool%20Keeper")).json.name).toBe("Pool Keeper");

    await api.addUser({ username: "keeper", roles: ["Pool Keeper"] });
    const keeper = await api.login("keeper");
    expect((await api.inject(keeper, "GET", "/pools")).status).toBe(200);

    // Adding a permission works at once and revokes nothing.
    const widened = await api.inject(admin, "PATCH", "/roles/Pool%20Keeper", { permissions: ["pools:read", "pools:write", "variables:read"] });
    expect(widened.status, widened.body).toBe(200);
    expect(widened.json.user_count).toBe(1);
    expect((await api.inject(keeper, "GET", "/variables")).status).toBe(200);

    // Taking one away revokes the tokens of the role's users.
    const narrowed = await api.inject(admin, "PATCH", "/roles/Pool%20Keeper", { permissions: ["pools:read"] });
    expect(narrowed.json.permissions).toEqual(["pools:read"]);
    expect((await api.inject(keeper, "GET", "/pools")).status).toBe(401);
    const keeper2 = await api.login("keeper", { fresh: true });
    expect((await api.inject(keeper2, "POST", "/pools", { name: "p", slots: 1 })).status).toBe(403);
    expect((await api.inject(admin, "PATCH", "/roles/Pool%20Keeper", { description: null })).json).toMatchObject({ description: null, permissions: ["pools:read"] });
    expect((await api.inject(keeper2, "GET", "/pools")).status).toBe(200);

    // Deleting it takes it from its users and revokes their tokens.
    expect((await api.inject(admin, "DELETE", "/roles/Pool%20Keeper")).status).toBe(204);
    expect((await api.inject(keeper2, "GET", "/pools")).status).toBe(401);
    expect((await api.inject(admin, "GET", "/users/keeper")).json.roles).toEqual([]);
    expect((await api.inject(admin, "GET", "/roles/Pool%20Keeper")).status).toBe(404);
  });
});

describe("roles API errors", () => {
  it("refuses unknown permissions, duplicates, and changes to built-in roles", async () => {
    api = await createApiEnv({
      users: [...USERS, { username: "rolemaker", roles: ["RoleMaker"] }],
      roles: [{ name: "RoleMaker", permissions: ["roles:read", "roles:write", "pools:read"] }],
    });
    const admin = await api.login("admin");
    const unknown = await api.inject(admin, "POST", "/roles", { name: "Bad", permissions: ["pools:read", "everything"] });
    expect(unknown.status).toBe(400);
    expect(unknown.json.message).toContain('"everything"');
    for (const body of [{ name: "Bad/Name", permissions: [] }, { name: "X", permissions: { all: true } }, { name: "X", permissions: [], builtin: true }, { name: "X" }]) {
      expect((await api.inject(admin, "POST", "/roles", body)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await api.inject(admin, "POST", "/roles", { name: "Viewer", permissions: [] })).status).toBe(409);
    for (const [method, body] of [["PATCH", { permissions: ["dags:read", "pools:write"] }], ["DELETE", undefined]] as const) {
      const res = await api.inject(admin, method, "/roles/Viewer", body);
      expect(res.status).toBe(409);
      expect(res.json.message).toContain("built-in");
    }
    expect((await api.inject(admin, "GET", "/roles/Viewer")).json.permissions).toEqual(["dags:read"]);
    expect((await api.inject(admin, "PATCH", "/roles/Ghost", { description: "x" })).status).toBe(404);
    expect((await api.inject(admin, "GET", "/roles")).json.total_entries).toBe(5);

    // roles:write cannot make a role with permissions it does not hold.
    const maker = await api.login("rolemaker");
    expect((await api.inject(maker, "POST", "/roles", { name: "Sneaky", permissions: ["users:write"] })).status).toBe(403);
    expect((await api.inject(maker, "POST", "/roles", { name: "Readers", permissions: ["pools:read"] })).status).toBe(201);
    expect((await api.inject(maker, "PATCH", "/roles/Readers", { permissions: ["pools:read", "audit:read"] })).status).toBe(403);
  });
});
