/**
 * A test environment for the API: a test env (store, DAGs folder, processed DAGs), the built-in
 * roles, custom roles and users, and the Fastify app (requests through app.inject, no network).
 * Every test user has the password TEST_PASSWORD.
 */
import type { Config } from "../../src/config/index.js";
import { buildApi, type Api } from "../../src/api/server.js";
import type { Permission } from "../../src/security/rbac.js";
import { createKeyring, generateKey, parseKeyring, type Keyring } from "../../src/security/secrets.js";
import { generateSigningKey, parseSigningKey } from "../../src/security/tokens.js";
import { checkKeyring } from "../../src/store/secrets.js";
import { hashPassword } from "../../src/security/password.js";
import { checkUsername, ensureBuiltinRoles, findUser, roleIds } from "../../src/store/users.js";
import { silentLogger } from "../../src/util/logger.js";
import { createTestEnv, type TestDialect, type TestEnv } from "../helpers/env.js";
import { processDags } from "../helpers/run.js";

export const TEST_PASSWORD = "test-password-0123456789";

/** A response body: JSON as parsed, typed loosely for assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface InjectResult {
  status: number;
  json: Json;
  body: string;
  headers: Record<string, string | string[] | number | undefined>;
}

export interface ApiUser {
  username: string;
  roles: string[];
}

export interface CustomRole {
  name: string;
  permissions: Permission[];
}

export interface ApiEnvOptions {
  dialect?: TestDialect;
  /** DAG files, written to the DAGs folder and processed once (unless `process` is false). */
  dags?: Record<string, string>;
  process?: boolean;
  /** Users to create, with the password TEST_PASSWORD. */
  users?: ApiUser[];
  /**
   * Custom roles to create. A role a user names that is neither built in nor listed here is
   * created with no permissions (what a role named in a DAG's `access` usually is).
   */
  roles?: CustomRole[];
  /** The built UI to serve (default: dist/ui when built). */
  uiRoot?: string | null;
  /** Config overrides; login and request rate limits are raised unless given here. */
  config?: Partial<Record<keyof Config, unknown>>;
}

export interface ApiEnv {
  env: TestEnv;
  app: Api;
  keyring: Keyring;
  /** The key the API signs and checks tokens with (try tokens of the execution API too). */
  signingKey: Uint8Array;
  /** An access token for the user (cached per user; `fresh` logs in again). */
  login(username: string, options?: { fresh?: boolean }): Promise<string>;
  /** A request; `url` is relative to /api/v1 unless it starts with /api/ or /execution/. `token` null sends none. */
  inject(token: string | null, method: string, url: string, body?: unknown): Promise<InjectResult>;
  /** Creates another user with the password TEST_PASSWORD (unknown roles are created empty). */
  addUser(user: ApiUser): Promise<void>;
  cleanup(): Promise<void>;
}

const BUILTIN = new Set(["Viewer", "User", "Op", "Admin"]);

let passwordHash: Promise<string> | null = null;
/** The hash of TEST_PASSWORD, computed once per test process. */
export function testPasswordHash(): Promise<string> {
  passwordHash ??= hashPassword(TEST_PASSWORD);
  return passwordHash;
}

export async function createApiEnv(options: ApiEnvOptions = {}): Promise<ApiEnv> {
  const env = await createTestEnv({
    ...(options.dialect ? { dialect: options.dialect } : {}),
    ...(options.dags ? { dags: options.dags } : {}),
    config: { loginLimitPerIp: 10_000, loginLimitPerUser: 10_000, requestLimitPerMinute: 100_000, ...options.config },
  });
  let app: Api | null = null;
  try {
    if (options.dags && Object.keys(options.dags).length > 0 && options.process !== false) await processDags(env);
    const db = env.store.db;
    const keyring = createKeyring(parseKeyring(`k1:${generateKey()}`));
    await checkKeyring(db, keyring);
    await ensureBuiltinRoles(db);

    const ensureRole = async (name: string, permissions: Permission[]) => {
      if (BUILTIN.has(name)) return;
      const exists = await db.selectFrom("app_role").select("id").where("name", "=", name).executeTakeFirst();
      if (!exists) await db.insertInto("app_role").values({ name, description: `test role ${name}`, permissions: JSON.stringify(permissions), builtin: 0, created_at: Date.now() }).execute();
    };
    for (const role of options.roles ?? []) await ensureRole(role.name, role.permissions);
    const addUser = async (user: ApiUser) => {
      for (const role of user.roles) await ensureRole(role, []);
      // As createUser does, with the password hashed once per test process (scrypt is slow on purpose).
      checkUsername(user.username);
      if (await findUser(db, { username: user.username })) throw new Error(`user ${user.username} exists`);
      const ids = await roleIds(db, user.roles);
      const now = Date.now();
      const row = await db
        .insertInto("app_user")
        .values({ username: user.username, email: null, first_name: null, last_name: null, password_hash: await testPasswordHash(), active: 1, token_version: 1, created_at: now, updated_at: now })
        .returning("id")
        .executeTakeFirstOrThrow();
      if (ids.length > 0) await db.insertInto("user_role").values(ids.map((role_id) => ({ user_id: Number(row.id), role_id }))).execute();
    };
    for (const user of options.users ?? []) await addUser(user);

    const signingKey = parseSigningKey(generateSigningKey());
    const built = await buildApi({
      store: env.store,
      config: env.config,
      log: silentLogger(),
      keyring,
      auth: { signingKey, accessTtlMs: 15 * 60_000, refreshTtlMs: 3_600_000 },
      // Sockets that never authenticate are closed after 2 s here (10 s in production), to keep tests short.
      eventsAuthTimeoutMs: 2_000,
      ...(options.uiRoot !== undefined ? { uiRoot: options.uiRoot } : {}),
    });
    app = built;
    await built.ready();

    const inject = async (token: string | null, method: string, url: string, body?: unknown): Promise<InjectResult> => {
      const response = await built.inject({
        method: method.toUpperCase() as "GET",
        url: url.startsWith("/api/") || url.startsWith("/execution/") ? url : `/api/v1${url}`,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        ...(body !== undefined ? { payload: body as object } : {}),
      });
      let json: Json = null;
      try {
        json = response.body ? JSON.parse(response.body) : null;
      } catch {
        json = null;
      }
      return { status: response.statusCode, json, body: response.body, headers: response.headers };
    };

    const tokens = new Map<string, string>();
    const login = async (username: string, opts: { fresh?: boolean } = {}) => {
      const cached = tokens.get(username);
      if (cached && !opts.fresh) return cached;
      const res = await inject(null, "POST", "/auth/login", { username, password: TEST_PASSWORD });
      if (res.status !== 200) throw new Error(`login of ${username} failed: ${res.status} ${res.body}`);
      const token = res.json.access_token as string;
      tokens.set(username, token);
      return token;
    };

    return {
      env,
      app: built,
      keyring,
      signingKey,
      login,
      inject,
      addUser,
      async cleanup() {
        await built.close().catch(() => {});
        await env.cleanup();
      },
    };
  } catch (error) {
    await app?.close().catch(() => {});
    await env.cleanup();
    throw error;
  }
}

/**
 * Retries `check` (which throws, e.g. a failed expect) until it passes or `timeoutMs` ends.
 * For effects that follow a response, such as the audit record written once it is sent.
 */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}
