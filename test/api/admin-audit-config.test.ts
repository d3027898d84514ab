/** /eventLogs (the audit log, Admin only) and /config (secrets redacted). */
import { afterEach, describe, expect, it } from "vitest";
import { generateKey } from "../../src/security/secrets.js";
import { generateSigningKey } from "../../src/security/tokens.js";
import { createApiEnv, TEST_PASSWORD, type ApiEnv } from "./helpers.js";

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

interface Event {
  event_log_id: number;
  when: string;
  username: string | null;
  action: string;
  outcome: string;
  status: number | null;
  object_id: string | null;
  details: unknown;
}

async function auditRows(api: ApiEnv, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const row = await api.env.store.db.selectFrom("audit_log").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
    if (Number(row.n) >= count) return;
    if (Date.now() > deadline) throw new Error(`the audit log holds ${row.n} rows, not ${count}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("audit log API", () => {
  it("lists logins and changes newest first, with filters and pages", async () => {
    api = await createApiEnv({ users: USERS });
    const op = await api.login("op");
    const viewer = await api.login("viewer");
    expect((await api.inject(null, "POST", "/auth/login", { username: "op", password: "wrong password!" })).status).toBe(401);
    expect((await api.inject(op, "POST", "/pools", { name: "etl", slots: 2 })).status).toBe(201);
    expect((await api.inject(viewer, "DELETE", "/pools/etl")).status).toBe(403);
    // Audit records are written as responses finish: wait for them before taking the time.
    await auditRows(api, 5);
    await new Promise((r) => setTimeout(r, 20));
    const middle = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    expect((await api.inject(op, "PATCH", "/pools/etl", { slots: 3 })).status).toBe(200);
    const admin = await api.login("admin");
    await auditRows(api, 7);

    const all = await api.inject(admin, "GET", "/eventLogs");
    expect(all.status, all.body).toBe(200);
    const events = all.json.event_logs as Event[];
    expect(all.json.total_entries).toBe(events.length);
    expect(events.map((e) => [e.action, e.username, e.outcome])).toEqual([
      ["auth.login", "admin", "success"],
      ["pool.update", "op", "success"],
      ["pool.delete", "viewer", "denied"],
      ["pool.create", "op", "success"],
      ["auth.login", "op", "denied"],
      ["auth.login", "viewer", "success"],
      ["auth.login", "op", "success"],
    ]);
    const ids = events.map((e) => e.event_log_id);
    expect([...ids].sort((a, b) => b - a)).toEqual(ids);
    expect(events[1]).toMatchObject({ object_id: "etl", status: 200, details: { slots: 3 } });
    expect(JSON.stringify(events)).not.toContain(TEST_PASSWORD);
    expect(JSON.stringify(events)).not.toContain("wrong password!");

    const byUser = await api.inject(admin, "GET", "/eventLogs?username=op");
    expect(byUser.json.event_logs.map((e: Event) => e.action)).toEqual(["pool.update", "pool.create", "auth.login", "auth.login"]);
    const denied = await api.inject(admin, "GET", "/eventLogs?outcome=denied");
    expect(denied.json).toMatchObject({
      total_entries: 2,
      event_logs: [
        { action: "pool.delete", username: "viewer", status: 403 },
        { action: "auth.login", username: "op", status: 401 },
      ],
    });
    const creates = await api.inject(admin, "GET", "/eventLogs?action=pool.create&username=op");
    expect(creates.json.total_entries).toBe(1);
    const after = await api.inject(admin, "GET", `/eventLogs?after=${encodeURIComponent(middle)}`);
    expect(after.json.event_logs.map((e: Event) => e.action)).toEqual(["auth.login", "pool.update"]);
    const before = await api.inject(admin, "GET", `/eventLogs?before=${encodeURIComponent(middle)}&action=auth.login`);
    expect(before.json.total_entries).toBe(3);
    const page = await api.inject(admin, "GET", "/eventLogs?limit=2&offset=1");
    expect(page.json.total_entries).toBe(7);
    expect(page.json.event_logs.map((e: Event) => e.action)).toEqual(["pool.update", "pool.delete"]);

    for (const query of ["outcome=maybe", "after=yesterday", "limit=5000", "user=op"]) {
      expect((await api.inject(admin, "GET", `/eventLogs?${query}`)).status, query).toBe(400);
    }
  });

  it("is for audit:read only", async () => {
    api = await createApiEnv({ users: USERS });
    for (const user of ["viewer", "op"]) {
      const res = await api.inject(await api.login(user), "GET", "/eventLogs");
      expect(res.status, user).toBe(403);
    }
    expect((await api.inject(null, "GET", "/eventLogs")).status).toBe(401);
  });
});

describe("config API", () => {
  it("shows every setting with secrets redacted, to config:read only", async () => {
    const secretKey = `k1:${generateKey()}`;
    const jwtSecret = generateSigningKey();
    api = await createApiEnv({ users: USERS, config: { secretKey, jwtSecret, parallelism: 7 } });
    const res = await api.inject(await api.login("admin"), "GET", "/config");
    expect(res.status, res.body).toBe(200);
    const options = res.json.options as Array<{ key: string; value: string; env: string; source: string | null }>;
    expect(res.json.total_entries).toBe(options.length);
    const byKey = new Map(options.map((o) => [o.key, o]));
    expect(byKey.get("parallelism")).toMatchObject({ value: "7", env: "UPDRAFT_PARALLELISM", source: null });
    expect(byKey.get("secretKey")).toMatchObject({ value: "***", env: "UPDRAFT_SECRET_KEY" });
    expect(byKey.get("jwtSecret")?.value).toBe("***");
    expect(byKey.get("apiTokenTtlMs")).toBeDefined();
    expect(res.body).not.toContain(secretKey.slice(3));
    expect(res.body).not.toContain(jwtSecret);

    for (const user of ["viewer", "op"]) expect((await api.inject(await api.login(user), "GET", "/config")).status, user).toBe(403);
    expect((await api.inject(null, "GET", "/config")).status).toBe(401);
  });
});
