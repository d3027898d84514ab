/** /tokens: API tokens shown once, stored hashed, working as Bearer tokens until revoked or expired. */
import { afterEach, describe, expect, it } from "vitest";
import { createApiEnv, type ApiEnv } from "./helpers.js";

let api: ApiEnv | undefined;
afterEach(async () => {
  await api?.cleanup();
  api = undefined;
});

const USERS = [
  { username: "admin", roles: ["Admin"] },
  { username: "viewer", roles: ["Viewer"] },
  { username: "other", roles: ["Viewer"] },
];
const DAY = 86_400_000;

describe("API tokens", () => {
  it("shows a new token once, stores only its hash, and accepts it as a Bearer token", async () => {
    api = await createApiEnv({ users: USERS });
    const viewer = await api.login("viewer");
    const before = Date.now();
    const created = await api.inject(viewer, "POST", "/tokens", { name: "ci", expires_in_days: 7 });
    expect(created.status, created.body).toBe(201);
    const token = created.json.token as string;
    expect(token).toMatch(/^upd_[A-Za-z0-9_-]{40,}$/);
    expect(created.json).toMatchObject({ name: "ci", username: "viewer", state: "active", revoked_at: null, last_used_at: null });
    expect(token.startsWith(created.json.prefix)).toBe(true);
    const expires = Date.parse(created.json.expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 7 * DAY);
    expect(expires).toBeLessThanOrEqual(Date.now() + 7 * DAY);

    const me = await api.inject(token, "GET", "/auth/me");
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ username: "viewer", via: "api_token", roles: ["Viewer"] });
    // It carries the user's permissions, no more.
    expect((await api.inject(token, "GET", "/pools")).status).toBe(403);

    const list = await api.inject(viewer, "GET", "/tokens");
    expect(list.json.total_entries).toBe(1);
    expect(list.json.tokens[0]).toMatchObject({ token_id: created.json.token_id, name: "ci", state: "active" });
    expect(list.json.tokens[0].last_used_at).not.toBeNull();
    expect(list.body).not.toContain(token);
    expect(Object.keys(list.json.tokens[0])).not.toContain("token");

    const rows = await api.env.store.db.selectFrom("api_token").selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("stops accepting a token once revoked or expired", async () => {
    api = await createApiEnv({ users: USERS });
    const viewer = await api.login("viewer");
    const a = (await api.inject(viewer, "POST", "/tokens", { name: "a" })).json;
    const b = (await api.inject(viewer, "POST", "/tokens", { name: "b" })).json;
    expect((await api.inject(a.token, "GET", "/auth/me")).status).toBe(200);

    expect((await api.inject(viewer, "DELETE", `/tokens/${a.token_id}`)).status).toBe(204);
    const revoked = await api.inject(a.token, "GET", "/auth/me");
    expect(revoked.status).toBe(401);
    expect(revoked.json.code).toBe("UPDRAFT_E_TOKEN_INVALID");
    expect((await api.inject(b.token, "GET", "/auth/me")).status).toBe(200);

    await api.env.store.db.updateTable("api_token").set({ expires_at: Date.now() - 1000 }).where("id", "=", b.token_id).execute();
    expect((await api.inject(b.token, "GET", "/auth/me")).status).toBe(401);

    const states = (await api.inject(viewer, "GET", "/tokens")).json.tokens.map((t: { name: string; state: string }) => [t.name, t.state]);
    expect(states).toEqual([
      ["b", "expired"],
      ["a", "revoked"],
    ]);
  });

  it("defaults the lifetime from the configuration and caps it at 365 days", async () => {
    api = await createApiEnv({ users: USERS, config: { apiTokenTtlMs: "3d" } });
    const viewer = await api.login("viewer");
    const created = await api.inject(viewer, "POST", "/tokens", { name: "default" });
    const days = (Date.parse(created.json.expires_at) - Date.parse(created.json.created_at)) / DAY;
    expect(days).toBeCloseTo(3, 3);
    expect((await api.inject(viewer, "POST", "/tokens", { name: "year", expires_in_days: 365 })).status).toBe(201);
    for (const body of [{ name: "long", expires_in_days: 366 }, { name: "zero", expires_in_days: 0 }, { name: "" }, { name: "x", user_id: 1 }, { name: "x", token: "upd_mine" }]) {
      const res = await api.inject(viewer, "POST", "/tokens", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect((await api.inject(viewer, "GET", "/tokens")).json.total_entries).toBe(2);
  });

  it("keeps other users' tokens apart, except for tokens:manage", async () => {
    api = await createApiEnv({ users: USERS });
    const viewer = await api.login("viewer");
    const other = await api.login("other");
    const admin = await api.login("admin");
    const mine = (await api.inject(viewer, "POST", "/tokens", { name: "mine" })).json;
    const theirs = (await api.inject(other, "POST", "/tokens", { name: "theirs" })).json;

    expect((await api.inject(viewer, "GET", "/tokens")).json.tokens.map((t: { name: string }) => t.name)).toEqual(["mine"]);
    expect((await api.inject(viewer, "GET", "/tokens?all=true")).status).toBe(403);
    const notYours = await api.inject(viewer, "DELETE", `/tokens/${theirs.token_id}`);
    expect(notYours.status).toBe(404);
    expect(notYours.json.code).toBe("UPDRAFT_E_TOKEN_NOT_FOUND");
    expect((await api.inject(theirs.token, "GET", "/auth/me")).status).toBe(200);
    expect((await api.inject(viewer, "DELETE", "/tokens/999999")).status).toBe(404);
    expect((await api.inject(viewer, "DELETE", "/tokens/abc")).status).toBe(400);

    const all = await api.inject(admin, "GET", "/tokens?all=true");
    expect(all.json.tokens.map((t: { name: string; username: string }) => [t.name, t.username])).toEqual([
      ["theirs", "other"],
      ["mine", "viewer"],
    ]);
    expect((await api.inject(admin, "GET", "/tokens")).json.total_entries).toBe(0);
    expect((await api.inject(admin, "DELETE", `/tokens/${mine.token_id}`)).status).toBe(204);
    expect((await api.inject(mine.token, "GET", "/auth/me")).status).toBe(401);
  });

  it("refuses to make a token with a token, and needs authentication", async () => {
    api = await createApiEnv({ users: USERS });
    const viewer = await api.login("viewer");
    const token = (await api.inject(viewer, "POST", "/tokens", { name: "ci" })).json.token as string;
    const chained = await api.inject(token, "POST", "/tokens", { name: "child" });
    expect(chained.status).toBe(403);
    expect(chained.json.message).toContain("API token cannot create");
    // But a token may list and revoke its user's tokens.
    expect((await api.inject(token, "GET", "/tokens")).json.total_entries).toBe(1);
    for (const [method, url] of [["GET", "/tokens"], ["POST", "/tokens"], ["DELETE", "/tokens/1"]] as const) {
      expect((await api.inject(null, method, url, method === "POST" ? { name: "x" } : undefined)).status).toBe(401);
    }
  });
});
