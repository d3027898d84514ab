/**
 * Attacks that must fail, each a test: requests without a token, tokens that are forged,
 * expired, unsigned, for another audience or issuer, of another type, revoked; path traversal in
 * the log and source endpoints; mass assignment; hostile run ids; login brute force; the audit
 * log of logins; oversized bodies. Hostile input runs on both databases (PostgreSQL refuses some
 * bytes SQLite stores); the rest on SQLite.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { decodeJwt, SignJWT, type JWTPayload } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { buildApi, type Api } from "../../src/api/server.js";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { generateSigningKey, parseSigningKey } from "../../src/security/tokens.js";
import { silentLogger } from "../../src/util/logger.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createApiEnv, eventually, TEST_PASSWORD, type ApiEnv, type ApiEnvOptions, type InjectResult, type Json } from "./helpers.js";

const DAGS = {
  "a.ts": `
    import { dag, task } from "updraft";
    const work = task({ id: "work", run: () => 42 });
    export default dag({ id: "a", owner: "team-a-owner", access: { "team-a": ["read", "edit"] } }, () => { work(); });
  `,
};

const USERS = [
  { username: "admin", roles: ["Admin"] },
  { username: "op", roles: ["Op"] },
  { username: "user", roles: ["User"] },
  { username: "viewer", roles: ["Viewer"] },
  { username: "teama", roles: ["team-a"] },
];

const LOG_LINE = "the one log line of run-a";
const UNAUTHORIZED_CODES = ["UPDRAFT_E_TOKEN_INVALID", "UPDRAFT_E_UNAUTHENTICATED"];

let api: ApiEnv | undefined;
let extraApps: Api[] = [];
afterEach(async () => {
  for (const app of extraApps) await app.close().catch(() => {});
  extraApps = [];
  await api?.cleanup();
  api = undefined;
});

async function setup(options: ApiEnvOptions = {}): Promise<ApiEnv> {
  api = await createApiEnv({ dags: DAGS, users: USERS, ...options });
  return api;
}

/** Run "run-a" of DAG a, finished: its task ran once, logged a line and returned 42. */
async function finishedRun(a: ApiEnv): Promise<void> {
  const db = a.env.store.db;
  const now = Date.now();
  const run = await triggerDagRun(a.env.store, "a", { runId: "run-a" });
  await db.updateTable("dag_run").set({ state: "success", start_date: now - 1000, end_date: now, updated_at: now }).where("id", "=", run.id).execute();
  const ti = await db.selectFrom("task_instance").select("id").where("dag_run_id", "=", run.id).where("task_id", "=", "work").executeTakeFirstOrThrow();
  await db.updateTable("task_instance").set({ state: "success", try_number: 1, start_date: now - 900, end_date: now - 100, duration_ms: 800, updated_at: now }).where("id", "=", ti.id).execute();
  await db.insertInto("task_log").values({ ti_id: ti.id, try_number: 1, ts: now - 500, stream: "log", level: "info", message: LOG_LINE }).execute();
  await db.insertInto("xcom").values({ dag_run_id: run.id, task_id: "work", key: "return_value", value: "42", created_at: now - 100 }).execute();
}

/** A raw request to an app; `remoteAddress` sets the caller's IP. */
async function send(app: Api, token: string | null, method: string, url: string, body?: unknown, remoteAddress?: string, headers: Record<string, string> = {}): Promise<InjectResult> {
  const res = await app.inject({
    method: method as "GET",
    url: url.startsWith("/api/") ? url : `/api/v1${url}`,
    headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { payload: body as object } : {}),
    ...(remoteAddress ? { remoteAddress } : {}),
  });
  let json: Json = null;
  try {
    json = res.body ? JSON.parse(res.body) : null;
  } catch {
    json = null;
  }
  return { status: res.statusCode, json, body: res.body, headers: res.headers };
}

/** Asserts the API's error shape: JSON with an UPDRAFT_E_* code, a message and the status. */
function expectApiError(res: InjectResult, statuses: number[], what: string): void {
  expect(statuses, `${what}: ${res.status} ${res.body.slice(0, 300)}`).toContain(res.status);
  expect(String(res.headers["content-type"]), what).toMatch(/^application\/json/);
  expect(res.json, `${what}: ${res.body.slice(0, 300)}`).toMatchObject({ code: expect.stringMatching(/^UPDRAFT_E_/), message: expect.any(String), status: res.status });
}

interface Operation {
  method: string;
  path: string;
  access: string;
  hasBody: boolean;
  query: string[];
}

async function operations(a: ApiEnv): Promise<Operation[]> {
  const doc = (await a.inject(null, "GET", "/openapi.json")).json;
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<Record<string, Json>>(doc.paths)) {
    for (const [method, op] of Object.entries<Json>(item)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const query = ((op.parameters ?? []) as Json[]).filter((p) => p.in === "query").map((p) => p.name as string);
      ops.push({ method: method.toUpperCase(), path, access: String(op["x-access"]), hasBody: op.requestBody !== undefined, query });
    }
  }
  expect(ops.length).toBeGreaterThan(40);
  return ops;
}

/** Path parameters filled with existing objects ("run-a" of DAG a, its task "work", try 1…). */
function fillPath(path: string, overrides: Record<string, string> = {}): string {
  const values: Record<string, string> = {
    dag_id: "a",
    dag_run_id: "run-a",
    task_id: "work",
    try_number: "1",
    xcom_key: "return_value",
    pool_name: "default_pool",
    connection_id: "conn-x",
    variable_key: "var-x",
    username: "viewer",
    role_name: "Viewer",
    token_id: "1",
    import_error_id: "1",
    ...overrides,
  };
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => values[name] ?? "x");
}

describe("tokens (sqlite)", () => {
  it("every non-public operation refuses a request without a token, or with a malformed Authorization header: 401", async () => {
    const a = await setup();
    const ops = (await operations(a)).filter((o) => o.access !== "public" && o.path !== "/api/v1/events");
    const failures: string[] = [];
    for (const op of ops) {
      const url = fillPath(op.path);
      for (const authorization of [undefined, "Basic YWRtaW46dGVzdA==", "Bearer", "Bearer a b", "bearer    ", `Bearer ${"x".repeat(5000)}`]) {
        const res = await a.app.inject({ method: op.method as "GET", url, headers: authorization === undefined ? {} : { authorization }, ...(op.hasBody ? { payload: {} } : {}) });
        const json = JSON.parse(res.body) as Json;
        if (res.statusCode !== 401 || !UNAUTHORIZED_CODES.includes(json.code)) failures.push(`${op.method} ${url} with ${authorization?.slice(0, 20) ?? "no header"}: ${res.statusCode} ${res.body.slice(0, 120)}`);
      }
    }
    expect(failures, failures.join("\n")).toEqual([]);
    // Nothing those requests named changed.
    expect((await a.inject(await a.login("admin"), "GET", "/dags/a")).json.is_paused).toBe(false);
  });

  it("forged, expired, unsigned, wrong-audience, wrong-issuer and wrong-type access tokens are refused: 401", async () => {
    const a = await setup();
    // A second app on the same database whose signing key the test knows, so it can sign tokens.
    const key = parseSigningKey(generateSigningKey());
    const app = await buildApi({ store: a.env.store, config: a.env.config, log: silentLogger(), keyring: a.keyring, auth: { signingKey: key, accessTtlMs: 15 * 60_000, refreshTtlMs: 3_600_000 } });
    extraApps.push(app);
    await app.ready();

    const login = await send(app, null, "POST", "/auth/login", { username: "viewer", password: TEST_PASSWORD });
    expect(login.status, login.body).toBe(200);
    const real = login.json.access_token as string;
    const claims = decodeJwt(real);
    const now = Math.floor(Date.now() / 1000);
    const adminLogin = await send(app, null, "POST", "/auth/login", { username: "admin", password: TEST_PASSWORD });
    const adminId = decodeJwt(adminLogin.json.access_token as string).sub!;

    const sign = (payload: JWTPayload, signingKey: Uint8Array = key, alg = "HS256") => new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(signingKey);
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const without = (name: string) => Object.fromEntries(Object.entries(claims).filter(([k]) => k !== name)) as JWTPayload;
    const [header, , signature] = real.split(".");

    // The crafting is right: the same claims, signed with the right key, are accepted.
    const control = await sign({ ...claims });
    for (const token of [real, control]) {
      const me = await send(app, token, "GET", "/auth/me");
      expect(me.status, me.body).toBe(200);
      expect(me.json.username).toBe("viewer");
    }

    const attacks: Record<string, string> = {
      "forged (signed with another key)": await sign({ ...claims }, parseSigningKey(generateSigningKey())),
      expired: await sign({ ...claims, iat: now - 7200, nbf: now - 7200, exp: now - 3600 }),
      "not valid yet": await sign({ ...claims, iat: now, nbf: now + 3600, exp: now + 7200 }),
      "without exp": await sign(without("exp")),
      'alg "none"': `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`,
      'alg "none" with the real signature': `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.${signature}`,
      "HS512 with the right key (not on the allow-list)": await sign({ ...claims }, key, "HS512"),
      "wrong audience": await sign({ ...claims, aud: "another-api" }),
      "wrong issuer": await sign({ ...claims, iss: "someone-else" }),
      'typ "refresh"': await sign({ ...claims, typ: "refresh" }),
      "without typ": await sign(without("typ")),
      "without sid": await sign(without("sid")),
      "another user's id on this session": await sign({ ...claims, sub: adminId }),
      "a stale token version": await sign({ ...claims, ver: Number(claims.ver) + 1 }),
      "the payload changed under the real signature": `${header}.${b64({ ...claims, sub: adminId })}.${signature}`,
      "a refresh token as Bearer": login.json.refresh_token as string,
      "garbage": "not.a.jwt",
    };
    const failures: string[] = [];
    for (const [name, token] of Object.entries(attacks)) {
      for (const url of ["/auth/me", "/dags", "/eventLogs"]) {
        const res = await send(app, token, "GET", url);
        if (res.status !== 401 || !UNAUTHORIZED_CODES.includes(res.json?.code)) failures.push(`${name} on ${url}: ${res.status} ${res.body.slice(0, 120)}`);
      }
    }
    expect(failures, failures.join("\n")).toEqual([]);
  });

  it("revoked and expired API tokens are refused: 401", async () => {
    const a = await setup();
    const admin = await a.login("admin");
    const created = await a.inject(admin, "POST", "/tokens", { name: "ci" });
    expect(created.status, created.body).toBe(201);
    const other = await a.inject(admin, "POST", "/tokens", { name: "cron" });
    expect(other.status, other.body).toBe(201);
    for (const t of [created, other]) expect((await a.inject(t.json.token, "GET", "/auth/me")).status).toBe(200);

    expect((await a.inject(admin, "DELETE", `/tokens/${created.json.token_id}`)).status).toBe(204);
    await a.env.store.db.updateTable("api_token").set({ expires_at: Date.now() - 1000 }).where("id", "=", other.json.token_id).execute();
    for (const token of [created.json.token as string, other.json.token as string, `${(created.json.token as string).slice(0, -2)}xx`]) {
      for (const url of ["/auth/me", "/dags", "/config"]) {
        const res = await a.inject(token, "GET", url);
        expect(res.status, `${url}: ${res.body}`).toBe(401);
        expect(res.json.code).toBe("UPDRAFT_E_TOKEN_INVALID");
      }
    }
  });

  it("after logout neither the access token nor the refresh token works; a rotated refresh token neither", async () => {
    const a = await setup();
    const first = await a.inject(null, "POST", "/auth/login", { username: "user", password: TEST_PASSWORD });
    expect(first.status).toBe(200);
    const rotated = await a.inject(null, "POST", "/auth/refresh", { refresh_token: first.json.refresh_token });
    expect(rotated.status, rotated.body).toBe(200);

    const access = rotated.json.access_token as string;
    expect((await a.inject(access, "GET", "/auth/me")).status).toBe(200);
    expect((await a.inject(access, "POST", "/auth/logout")).status).toBe(204);

    for (const url of ["/auth/me", "/dags", "/dags/a"]) {
      const res = await a.inject(access, "GET", url);
      expect(res.status, url).toBe(401);
      expect(res.json.code).toBe("UPDRAFT_E_TOKEN_INVALID");
    }
    const refreshed = await a.inject(null, "POST", "/auth/refresh", { refresh_token: rotated.json.refresh_token });
    expect(refreshed.status).toBe(401);
    expect(refreshed.json.code).toBe("UPDRAFT_E_TOKEN_INVALID");
    const asBearer = await a.inject(rotated.json.refresh_token, "GET", "/auth/me");
    expect(asBearer.status).toBe(401);
    // The revoked token cannot act either.
    const trigger = await a.inject(access, "POST", "/dags/a/dagRuns", {});
    expect(trigger.status).toBe(401);
    expect(await a.env.store.db.selectFrom("dag_run").select("id").execute()).toEqual([]);
  });

  it("a replayed refresh token fails and ends the session it came from", async () => {
    const a = await setup();
    const first = await a.inject(null, "POST", "/auth/login", { username: "user", password: TEST_PASSWORD });
    const rotated = await a.inject(null, "POST", "/auth/refresh", { refresh_token: first.json.refresh_token });
    expect(rotated.status, rotated.body).toBe(200);
    const other = await a.inject(null, "POST", "/auth/login", { username: "user", password: TEST_PASSWORD });
    expect((await a.inject(rotated.json.access_token, "GET", "/auth/me")).status).toBe(200);

    const replay = await a.inject(null, "POST", "/auth/refresh", { refresh_token: first.json.refresh_token });
    expect(replay.status).toBe(401);
    expect(replay.json.code).toBe("UPDRAFT_E_TOKEN_INVALID");
    // Whoever holds the newer tokens of that session is out too ...
    expect((await a.inject(rotated.json.access_token, "GET", "/auth/me")).status).toBe(401);
    expect((await a.inject(null, "POST", "/auth/refresh", { refresh_token: rotated.json.refresh_token })).status).toBe(401);
    // ... while the user's other session goes on.
    expect((await a.inject(other.json.access_token, "GET", "/auth/me")).status).toBe(200);
    expect((await a.inject(null, "POST", "/auth/refresh", { refresh_token: other.json.refresh_token })).status).toBe(200);
  });
});

describe.each(DIALECTS)("hostile input (%s)", (dialect) => {
  it("path traversal in the log and source endpoints: 400 or 404, never a file's content, never 500", async () => {
    const a = await setup({ dialect });
    await finishedRun(a);
    const secret = `SENTINEL-${randomBytes(8).toString("hex")}`;
    const secretFile = join(dirname(a.env.dagsFolder), "secret.txt");
    writeFileSync(secretFile, secret);
    writeFileSync(join(a.env.dagsFolder, "secret.txt"), secret);
    const token = await a.login("admin");

    // The genuine requests work (so the hostile ones below differ only in the hostile part).
    const source = await a.inject(token, "GET", "/dags/a/source?version=1");
    expect(source.status, source.body).toBe(200);
    expect(source.json.content).toContain('id: "a"');
    const logs = await a.inject(token, "GET", "/dags/a/dagRuns/run-a/taskInstances/work/logs/1");
    expect(logs.status, logs.body).toBe(200);
    expect(logs.json.lines.map((l: Json) => l.message)).toEqual([LOG_LINE]);

    // Raw URL segments, already encoded as an attacker would send them.
    const SEGMENTS = [
      "..%2Fsecret.txt",
      "..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
      "%2e%2e%2fsecret.txt",
      "%2E%2E%2F%2E%2E%2Fsecret.txt",
      "..%5Csecret.txt",
      "..%252Fsecret.txt",
      "....%2F%2Fsecret.txt",
      encodeURIComponent(secretFile),
      "%2Fetc%2Fpasswd",
      "secret.txt",
      "secret.txt%00.ts",
      "a%00",
      "%00",
      "%2e%2e",
      "..",
    ];
    const urls: string[] = [];
    for (const s of SEGMENTS) {
      urls.push(
        `/dags/${s}/source`,
        `/dags/a/source?version=${s}`,
        `/dags/${s}/dagRuns/run-a/taskInstances/work/logs/1`,
        `/dags/a/dagRuns/${s}/taskInstances/work/logs/1`,
        `/dags/a/dagRuns/run-a/taskInstances/${s}/logs/1`,
        `/dags/a/dagRuns/run-a/taskInstances/work/logs/${s}`,
      );
    }
    // Unencoded dot segments (normalized before routing) and absolute paths in the query.
    urls.push("/dags/a/../../../../etc/passwd", "/dags/../../secret.txt/source", "/dags/a/dagRuns/run-a/taskInstances/work/logs/../../../../../secret.txt");
    urls.push(`/dags/a/source?version=${encodeURIComponent(secretFile)}`, "/dags/a/source?version=1%00", "/dags/a/source?version=-1", "/dags/a/source?version=1.5");

    const failures: string[] = [];
    for (const url of urls) {
      const res = await a.inject(token, "GET", url);
      const problems: string[] = [];
      if (res.status !== 400 && res.status !== 404) problems.push(`status ${res.status}`);
      if (!/^UPDRAFT_E_/.test(String(res.json?.code))) problems.push("not an API error");
      if (res.body.includes(secret)) problems.push("THE SECRET FILE'S CONTENT");
      if (res.body.includes("root:x:0:0")) problems.push("/etc/passwd");
      if (res.body.includes(LOG_LINE)) problems.push("a log line");
      if (problems.length) failures.push(`${url}: ${problems.join(", ")}: ${res.body.slice(0, 150)}`);
    }
    expect(failures, failures.join("\n")).toEqual([]);
  });

  it("NUL bytes and out-of-range numbers in any path or query parameter: 4xx as a JSON error, never 500", async () => {
    const a = await setup({ dialect });
    await finishedRun(a);
    const token = await a.login("admin");
    const ops = (await operations(a)).filter((o) => o.path !== "/api/v1/events");
    const failures: string[] = [];
    /** Never a 5xx; an error is the API's JSON error; `mustFail`: the request must be refused. */
    const probe = async (method: string, url: string, hasBody: boolean, mustFail: boolean) => {
      const res = await a.inject(token, method, url, hasBody ? {} : undefined);
      const apiError = /^UPDRAFT_E_/.test(String(res.json?.code)) && res.json?.status === res.status;
      if (res.status >= 500 || (res.status >= 400 && !apiError) || (mustFail && res.status < 400)) failures.push(`${method} ${url}: ${res.status} ${res.body.slice(0, 100)}`);
    };
    for (const op of ops) {
      for (const [, name] of op.path.matchAll(/\{([^}]+)\}/g)) {
        // A NUL byte in each path parameter (the others name existing objects): refused.
        await probe(op.method, fillPath(op.path, { [name!]: "x%00y" }), op.hasBody, true);
        // Numbers beyond 32 and 64 bits, and one that parses as Infinity: refused or not found.
        for (const value of ["2147483648", "99999999999999999999", "1e400"]) await probe(op.method, fillPath(op.path, { [name!]: value }), op.hasBody, true);
      }
      // Hostile values in each query parameter of the reads: refused, or a filter that matches nothing.
      if (op.method !== "GET") continue;
      for (const name of op.query) {
        for (const value of ["x%00y", "2147483648", "99999999999999999999", "1e400", "-1"]) await probe(op.method, `${fillPath(op.path)}?${name}=${value}`, false, false);
      }
    }
    expect(failures, failures.join("\n")).toEqual([]);
  });

  it("NUL bytes in the string fields of request bodies, the login's included: refused, or kept intact; never 500", async () => {
    const a = await setup({ dialect });
    await finishedRun(a);
    const token = await a.login("admin");
    const NUL = "x\u0000y";
    // [token, method, url, body, whether it must be refused (ids, credentials)]. Free text may be
    // refused or stored, but stored whole: PostgreSQL cannot store U+0000 in text, SQLite can.
    const cases: Array<[string | null, string, string, Record<string, unknown>, boolean]> = [
      [null, "POST", "/auth/login", { username: NUL, password: "whatever-12345" }, true],
      [null, "POST", "/auth/login", { username: "admin", password: NUL }, true],
      [null, "POST", "/auth/refresh", { refresh_token: `updr_${NUL}` }, true],
      [token, "POST", "/dags/a/dagRuns", { dag_run_id: NUL }, true],
      [token, "POST", "/dags/a/clearTaskInstances", { dag_run_id: "run-a", task_ids: [NUL] }, true],
      [token, "POST", "/dags/a/dagRuns", { note: NUL }, false],
      [token, "PATCH", "/dags/a/dagRuns/run-a", { note: NUL }, false],
      [token, "POST", "/variables", { key: "nul-value", value: NUL }, false],
      [token, "POST", "/variables", { key: "nul-description", value: "v", description: NUL }, false],
      [token, "POST", "/pools", { name: "nul-pool", slots: 1, description: NUL }, false],
      [token, "POST", "/connections", { connection_id: "nul-conn", conn_type: "http", host: NUL }, false],
      [token, "POST", "/users", { username: "nul-user", password: "0123456789ab", roles: [], first_name: NUL }, false],
      [token, "POST", "/roles", { name: "nul-role", permissions: [], description: NUL }, false],
      [token, "POST", "/tokens", { name: NUL }, false],
    ];
    const failures: string[] = [];
    for (const [who, method, url, body, mustRefuse] of cases) {
      const res = await a.inject(who, method, url, body);
      const refused = [400, 401, 404].includes(res.status) && /^UPDRAFT_E_/.test(String(res.json?.code)) && res.json?.status === res.status;
      const keptWhole = res.status < 300 && res.body.includes("x\\u0000y");
      if (!(refused || (!mustRefuse && keptWhole))) failures.push(`${method} ${url} ${JSON.stringify(body)}: ${res.status} ${res.body.slice(0, 100)}`);
    }
    expect(failures, failures.join("\n")).toEqual([]);
    expect((await a.env.store.db.selectFrom("dag_run").select("run_id").where("run_id", "like", "x%").execute())).toEqual([]);
  });

  it("mass assignment: unknown fields in PATCH bodies are refused with 400 and change nothing", async () => {
    const a = await setup({ dialect });
    const token = await a.login("admin");
    const db = a.env.store.db;
    const dagBefore = await db.selectFrom("dag").selectAll().where("dag_id", "=", "a").executeTakeFirstOrThrow();
    for (const extra of [{ dag_id: "b" }, { fileloc: "/etc/passwd" }, { is_active: false }, { owner: "mallory" }, { access: JSON.stringify({ Viewer: ["edit"] }) }]) {
      const res = await a.inject(token, "PATCH", "/dags/a", { is_paused: true, ...extra });
      expectApiError(res, [400], `PATCH /dags/a with ${JSON.stringify(extra)}`);
      expect(res.json.code).toBe("UPDRAFT_E_VALIDATION");
    }
    expect(await db.selectFrom("dag").selectAll().where("dag_id", "=", "a").executeTakeFirstOrThrow()).toEqual(dagBefore);
    expect(await db.selectFrom("dag").select("dag_id").execute()).toEqual([{ dag_id: "a" }]);

    const viewerToken = await a.login("viewer");
    const userBefore = await db.selectFrom("app_user").selectAll().where("username", "=", "viewer").executeTakeFirstOrThrow();
    for (const extra of [{ password_hash: "scrypt$1$1$1$AAAA$BBBB" }, { token_version: 99 }, { id: 1 }, { username: "admin2" }, { last_login_at: 0 }, { roles: ["Viewer"], is_admin: true }]) {
      const res = await a.inject(token, "PATCH", "/users/viewer", { first_name: "Mallory", ...extra });
      expectApiError(res, [400], `PATCH /users/viewer with ${JSON.stringify(extra)}`);
    }
    expect(await db.selectFrom("app_user").selectAll().where("username", "=", "viewer").executeTakeFirstOrThrow()).toEqual(userBefore);
    // The viewer's session survived (no token_version change slipped through).
    expect((await a.inject(viewerToken, "GET", "/auth/me")).status).toBe(200);
  });

  it("a 10 kB run id and run ids with odd characters: 400 or 404 as a JSON error, never 500, nothing stored", async () => {
    const a = await setup({ dialect });
    await finishedRun(a);
    const token = await a.login("admin");
    const db = a.env.store.db;
    const runsBefore = await db.selectFrom("dag_run").select(["run_id", "state", "note"]).execute();
    const ODD = ["x".repeat(10 * 1024), "<script>alert(1)</script>", "<script>", `a"b`, "a'b", "' or '1'='1", "ünïcødé-🚀", "a\nb", "a\r\nX-Injected: 1", "a\u0000b", " ", "a b", "run-a/../run-a", "%2e%2e", ".", "..", "...", ".~"];
    for (const id of ODD) {
      const what = `trigger with dag_run_id ${JSON.stringify(id.slice(0, 40))}`;
      const res = await a.inject(token, "POST", "/dags/a/dagRuns", { dag_run_id: id });
      expectApiError(res, [400], what);
      expect(res.body.length, what).toBeLessThan(2000);
      const clear = await a.inject(token, "POST", "/dags/a/clearTaskInstances", { dag_run_id: id, dry_run: false });
      expectApiError(clear, [400, 404], `clear ${what}`);
    }
    // In paths. The router refuses overlong parameters before any route runs (414 URI Too Long is
    // a fine status there), and malformed percent-encoding (400).
    const broken: string[] = [];
    const offFormat: string[] = [];
    for (const id of [...ODD, "%E0%A4%A", "%"]) {
      const seg = id.startsWith("%") ? id : encodeURIComponent(id);
      for (const [method, url, body] of [
        ["GET", `/dags/a/dagRuns/${seg}`, undefined],
        ["PATCH", `/dags/a/dagRuns/${seg}`, { state: "failed" }],
        ["DELETE", `/dags/a/dagRuns/${seg}`, undefined],
        ["POST", `/dags/a/dagRuns/${seg}/clear`, { dry_run: false }],
        ["GET", `/dags/a/dagRuns/${seg}/taskInstances`, undefined],
        ["GET", `/dags/a/dagRuns/run-a/taskInstances/${seg}/logs/1`, undefined],
      ] as const) {
        const res = await a.inject(token, method, url, body);
        const line = `${method} ${url.slice(0, 70)}: ${res.status} ${res.body.slice(0, 110)}`;
        if (![400, 404, 414].includes(res.status) || !String(res.headers["content-type"]).startsWith("application/json") || res.json === null || res.body.includes(LOG_LINE)) broken.push(line);
        else if (!/^UPDRAFT_E_/.test(String(res.json.code)) || res.json.status !== res.status) offFormat.push(line);
      }
    }
    expect(broken, broken.join("\n")).toEqual([]);
    expect(offFormat, `error answers not in the API's format ({ code: UPDRAFT_E_*, message, status }):\n${offFormat.join("\n")}`).toEqual([]);
    expect(await db.selectFrom("dag_run").select(["run_id", "state", "note"]).execute()).toEqual(runsBefore);
  });
});

describe.each(DIALECTS)("ids and JSON inputs (%s)", (dialect) => {
  it("ids made only of dots are refused wherever an id is named: 400 UPDRAFT_E_*, nothing stored", async () => {
    const a = await setup({ dialect });
    const token = await a.login("admin");
    const db = a.env.store.db;
    for (const id of [".", "..", "..."]) {
      const checks: Array<[string, InjectResult]> = [
        ["variable", await a.inject(token, "POST", "/variables", { key: id, value: "v" })],
        ["connection", await a.inject(token, "POST", "/connections", { connection_id: id, conn_type: "http" })],
        ["pool", await a.inject(token, "POST", "/pools", { name: id, slots: 1 })],
        ["user", await a.inject(token, "POST", "/users", { username: id, password: TEST_PASSWORD, roles: ["Viewer"] })],
        ["role", await a.inject(token, "POST", "/roles", { name: id, permissions: [] })],
        ["run", await a.inject(token, "POST", "/dags/a/dagRuns", { dag_run_id: id })],
      ];
      for (const [what, res] of checks) expectApiError(res, [400], `${what} ${JSON.stringify(id)}`);
    }
    expect(await db.selectFrom("variable").select("key").execute()).toEqual([]);
    expect(await db.selectFrom("connection").select("conn_id").execute()).toEqual([]);
    expect((await db.selectFrom("pool").select("name").execute()).map((p) => p.name)).toEqual(["default_pool"]);
    expect((await db.selectFrom("app_user").select("username").where("username", "like", ".%").execute())).toEqual([]);
    expect(await db.selectFrom("dag_run").select("run_id").execute()).toEqual([]);
  });

  it("JSON nested deeper than the limit, in a body or in a conf: 400 UPDRAFT_E_JSON_TOO_DEEP, never 500, nothing stored", async () => {
    const a = await setup({ dialect });
    const token = await a.login("admin");
    // Written as text: the test client itself could not stringify 20,000 levels.
    const deep = (levels: number) => `${'{"v":'.repeat(levels)}1${"}".repeat(levels)}`;
    const post = async (url: string, body: string) => {
      const res = await a.app.inject({ method: "POST", url: `/api/v1${url}`, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, payload: body });
      return { status: res.statusCode, json: JSON.parse(res.body) as Json, body: res.body, headers: res.headers };
    };
    for (const levels of [101, 20_000]) {
      const trigger = await post("/dags/a/dagRuns", `{"conf": {"nested": ${deep(levels)}}}`);
      expectApiError(trigger, [400], `conf ${levels} levels deep`);
      expect(trigger.json.code).toBe("UPDRAFT_E_JSON_TOO_DEEP");
      // Any body: refused before its schema is looked at.
      const variable = await post("/variables", `{"key": "deep", "value": "x", "extra": ${deep(levels)}}`);
      expectApiError(variable, [400], `a variable body ${levels} levels deep`);
      expect(variable.json.code).toBe("UPDRAFT_E_JSON_TOO_DEEP");
    }
    expect(await a.env.store.db.selectFrom("dag_run").select("run_id").execute()).toEqual([]);
    // 100 levels are fine.
    const ok = await post("/dags/a/dagRuns", `{"conf": {"nested": ${deep(98)}}}`);
    expect(ok.status, ok.body).toBe(200);
  });
});

describe("logins, audit and limits (sqlite)", () => {
  it("login brute force against one user: after loginLimitPerUser attempts, 429 with Retry-After even with the right password", async () => {
    const a = await setup({ config: { loginLimitPerUser: 3 } });
    const failures: number[] = [];
    // From different addresses: the limit is per user, not per address.
    for (let i = 0; i < 3; i++) failures.push((await send(a.app, null, "POST", "/auth/login", { username: "viewer", password: `guess-${i}-xxxxxxxx` }, `198.51.100.${10 + i}`)).status);
    expect(failures).toEqual([401, 401, 401]);
    for (const username of ["viewer", "VIEWER"]) {
      const res = await send(a.app, null, "POST", "/auth/login", { username, password: TEST_PASSWORD }, "198.51.100.99");
      expect(res.status, res.body).toBe(429);
      expect(res.json.code).toBe("UPDRAFT_E_RATE_LIMITED");
      expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
      expect(res.json.access_token).toBeUndefined();
    }
    // Another user is not locked out.
    expect((await send(a.app, null, "POST", "/auth/login", { username: "admin", password: TEST_PASSWORD }, "198.51.100.99")).status).toBe(200);
  });

  it("successful logins do not use up the per-user limit; failures do", async () => {
    const a = await setup({ config: { loginLimitPerUser: 2 } });
    const ok: number[] = [];
    for (let i = 0; i < 4; i++) ok.push((await send(a.app, null, "POST", "/auth/login", { username: "viewer", password: TEST_PASSWORD }, `198.51.100.${30 + i}`)).status);
    expect(ok).toEqual([200, 200, 200, 200]);
    expect((await send(a.app, null, "POST", "/auth/login", { username: "viewer", password: "not-the-password" }, "198.51.100.40")).status).toBe(401);
    expect((await send(a.app, null, "POST", "/auth/login", { username: "viewer", password: TEST_PASSWORD }, "198.51.100.41")).status).toBe(200);
    expect((await send(a.app, null, "POST", "/auth/login", { username: "viewer", password: "not-the-password" }, "198.51.100.42")).status).toBe(401);
    expect((await send(a.app, null, "POST", "/auth/login", { username: "viewer", password: TEST_PASSWORD }, "198.51.100.43")).status).toBe(429);
  });

  it("requests that fail authentication are limited per address: 429 after requestLimitPerMinute, even with a valid token; other addresses unaffected", async () => {
    const a = await setup({ config: { requestLimitPerMinute: 5 } });
    const good = (await send(a.app, null, "POST", "/auth/login", { username: "viewer", password: TEST_PASSWORD }, "192.0.2.1")).json.access_token as string;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await send(a.app, `forged.${i}.token`, "GET", "/dags", undefined, "192.0.2.66")).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    const blocked = await send(a.app, good, "GET", "/dags", undefined, "192.0.2.66");
    expect(blocked.status, blocked.body).toBe(429);
    expect(blocked.json.code).toBe("UPDRAFT_E_RATE_LIMITED");
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(0);
    expect((await send(a.app, null, "GET", "/dags", undefined, "192.0.2.66")).status).toBe(429);
    expect((await send(a.app, good, "GET", "/dags", undefined, "192.0.2.67")).status).toBe(200);
  });

  it("X-Forwarded-For is believed only with trustProxy: the audit log and per-IP limits use the client's address then", async () => {
    for (const trustProxy of [false, "127.0.0.1"]) {
      const a = await setup({ config: { trustProxy } });
      const res = await send(a.app, null, "POST", "/auth/login", { username: "viewer", password: "not-the-password" }, "127.0.0.1", { "x-forwarded-for": "203.0.113.77" });
      expect(res.status).toBe(401);
      const row = await a.env.store.db.selectFrom("audit_log").select("source_ip").where("action", "=", "auth.login").executeTakeFirstOrThrow();
      expect(row.source_ip, String(trustProxy)).toBe(trustProxy ? "203.0.113.77" : "127.0.0.1");
      // A peer that is not the trusted proxy cannot choose its address.
      const direct = await send(a.app, null, "POST", "/auth/login", { username: "viewer", password: "not-the-password" }, "198.51.100.5", { "x-forwarded-for": "203.0.113.78" });
      expect(direct.status).toBe(401);
      const rows = await a.env.store.db.selectFrom("audit_log").select("source_ip").where("action", "=", "auth.login").orderBy("id").execute();
      expect(rows.map((r) => r.source_ip)).toEqual([trustProxy ? "203.0.113.77" : "127.0.0.1", "198.51.100.5"]);
    }
  });

  it("login brute force from one address: after loginLimitPerIp attempts, 429 with Retry-After; another address still logs in", async () => {
    const a = await setup({ config: { loginLimitPerIp: 4 } });
    const ip = "203.0.113.5";
    const statuses: number[] = [];
    for (const username of ["admin", "op", "user", "nobody"]) statuses.push((await send(a.app, null, "POST", "/auth/login", { username, password: "wrong-password-123" }, ip)).status);
    expect(statuses).toEqual([401, 401, 401, 401]);
    const res = await send(a.app, null, "POST", "/auth/login", { username: "viewer", password: TEST_PASSWORD }, ip);
    expect(res.status, res.body).toBe(429);
    expect(res.json.code).toBe("UPDRAFT_E_RATE_LIMITED");
    expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
    expect(res.json.access_token).toBeUndefined();
    expect((await send(a.app, null, "POST", "/auth/login", { username: "viewer", password: TEST_PASSWORD }, "203.0.113.6")).status).toBe(200);
  });

  it("login failures and successes are in the audit log with the source address and outcome; never the password", async () => {
    const a = await setup();
    const wrong = "wrong-password-SECRETISH-42";
    expect((await send(a.app, null, "POST", "/auth/login", { username: "viewer", password: wrong }, "198.51.100.23")).status).toBe(401);
    expect((await send(a.app, null, "POST", "/auth/login", { username: "ghost", password: wrong }, "198.51.100.24")).status).toBe(401);
    expect((await send(a.app, null, "POST", "/auth/login", { username: "viewer", password: TEST_PASSWORD }, "198.51.100.25")).status).toBe(200);
    const admin = await a.login("admin");
    const entries = await eventually(async () => {
      const res = await a.inject(admin, "GET", "/eventLogs?action=auth.login&limit=1000");
      expect(res.status, res.body).toBe(200);
      // The three above and the Admin's own login.
      expect(res.json.event_logs.length).toBe(4);
      expect(res.body).not.toContain(wrong);
      expect(res.body).not.toContain(TEST_PASSWORD);
      return res.json.event_logs as Json[];
    });
    const pick = (ip: string) => entries.find((e) => e.source_ip === ip);
    expect(pick("198.51.100.23")).toMatchObject({ action: "auth.login", username: "viewer", outcome: "denied", status: 401, method: "POST" });
    expect(pick("198.51.100.24")).toMatchObject({ action: "auth.login", username: "ghost", outcome: "denied", status: 401 });
    expect(pick("198.51.100.25")).toMatchObject({ action: "auth.login", username: "viewer", outcome: "success", status: 200 });
    expect(entries.filter((e) => e.outcome === "success").length).toBe(2);
  });

  it("the audit log is for Admins only: 403 for every other role, 401 without a token", async () => {
    const a = await setup();
    for (const username of ["viewer", "user", "op", "teama"]) {
      for (const url of ["/eventLogs", "/eventLogs?action=auth.login", "/eventLogs?limit=1000&offset=0"]) {
        const res = await a.inject(await a.login(username), "GET", url);
        expect(res.status, `${username} ${url}`).toBe(403);
        expect(res.json.code).toBe("UPDRAFT_E_FORBIDDEN");
        expect(res.json.event_logs).toBeUndefined();
      }
    }
    expect((await a.inject(null, "GET", "/eventLogs")).status).toBe(401);
    expect((await a.inject(await a.login("admin"), "GET", "/eventLogs")).status).toBe(200);
  });

  it("a request body above bodyLimitBytes: 413 UPDRAFT_E_BODY_TOO_LARGE, and nothing stored", async () => {
    const a = await setup({ config: { bodyLimitBytes: 2048 } });
    const admin = await a.login("admin");
    const big = await a.inject(admin, "POST", "/variables", { key: "big", value: "x".repeat(4096) });
    expectApiError(big, [413], "a 4 kB body");
    expect(big.json.code).toBe("UPDRAFT_E_BODY_TOO_LARGE");
    const login = await a.inject(null, "POST", "/auth/login", { username: "admin", password: "p".repeat(4096) });
    expectApiError(login, [413], "a 4 kB login");
    // Without a token the answer is 401, before the body is read.
    expect((await a.inject(null, "POST", "/variables", { key: "big", value: "x".repeat(4096) })).status).toBe(401);
    expect(await a.env.store.db.selectFrom("variable").select("key").execute()).toEqual([]);
    // Just under the limit is fine.
    expect((await a.inject(admin, "POST", "/variables", { key: "small", value: "x".repeat(1024) })).status).toBe(201);
  });
});
