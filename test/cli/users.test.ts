/** `updraft users …`, `updraft roles list` and `updraft rotate-secret-key`, run as subprocesses. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { verifyPassword } from "../../src/security/password.js";
import { createKeyring, generateKey, parseKeyring } from "../../src/security/secrets.js";
import { openStore, type Store } from "../../src/store/connect.js";
import { createConnection, readConnection } from "../../src/store/connections.js";
import { checkKeyring } from "../../src/store/secrets.js";
import { createApiToken, findUser } from "../../src/store/users.js";
import { createVariable, readVariableValue } from "../../src/store/variables.js";
import { createCliEnv, type CliEnv, type CliResult, CLI_TEST_TIMEOUT_MS } from "./cli.js";

let env: CliEnv | undefined;
afterEach(() => {
  env?.cleanup();
  env = undefined;
});

/** Runs the CLI with `input` on its stdin. */
function runWithStdin(cli: CliEnv, args: string[], input: string, extraEnv: Record<string, string> = {}): Promise<CliResult> {
  return cli.run(args, { input, env: extraEnv });
}

async function withDb<T>(cli: CliEnv, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ url: `sqlite://${join(cli.home, "updraft.db")}` });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function auditRows(store: Store) {
  return store.db.selectFrom("audit_log").select(["action", "path", "object_id", "outcome", "method", "source_ip", "username", "details"]).orderBy("id").execute();
}

interface UserJson {
  username: string;
  email: string | null;
  roles: string[];
  active: boolean;
}

describe("updraft users", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("creates, lists, changes passwords and roles of, and deletes users", async () => {
    env = createCliEnv();
    const cli = env;
    const created = await cli.run(["users", "create", "--username", "ada", "--role", "Admin", "--random-password"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain("created user ada (roles: Admin)");
    const generated = /password for ada: (\S+)/.exec(created.stdout)?.[1];
    expect(generated).toMatch(/^[A-Za-z0-9_-]{24}$/);

    const bob = await runWithStdin(cli, ["users", "create", "--username", "bob", "--role", "Viewer", "--role", "User", "--email", "bob@example.com", "--password-stdin"], "bob's long passphrase\n");
    expect(bob.code, bob.stderr).toBe(0);
    expect(bob.stdout).not.toContain("password for");

    const [users, roles] = await Promise.all([cli.json<UserJson[]>(["users", "list", "--json"]), cli.json<Array<{ name: string; builtin: boolean; users: number; permissions: string[] }>>(["roles", "list", "--json"])]);
    expect(users.map((u) => [u.username, u.roles, u.email, u.active])).toEqual([
      ["ada", ["Admin"], null, true],
      ["bob", ["User", "Viewer"], "bob@example.com", true],
    ]);
    expect(JSON.stringify(users)).not.toContain("scrypt");
    expect(roles.map((r) => [r.name, r.builtin, r.users])).toEqual([
      ["Admin", true, 1],
      ["Op", true, 0],
      ["User", true, 1],
      ["Viewer", true, 1],
    ]);
    expect(roles.find((r) => r.name === "Viewer")!.permissions).toEqual(["dags:read"]);

    // The passwords are stored as hashes that verify; bob gets an API token to see it revoked.
    const token = await withDb(cli, async (store) => {
      expect(await verifyPassword(generated!, (await findUser(store.db, { username: "ada" }))!.password_hash)).toBe(true);
      expect(await verifyPassword("bob's long passphrase", (await findUser(store.db, { username: "bob" }))!.password_hash)).toBe(true);
      return createApiToken(store.db, (await findUser(store.db, { username: "bob" }))!.id, "ci", 86_400_000);
    });

    const setPassword = await runWithStdin(cli, ["users", "set-password", "bob", "--password-stdin"], "a different passphrase");
    expect(setPassword.code, setPassword.stderr).toBe(0);
    expect(setPassword.stdout).toContain("revoked");
    await withDb(cli, async (store) => {
      const user = (await findUser(store.db, { username: "bob" }))!;
      expect(await verifyPassword("a different passphrase", user.password_hash)).toBe(true);
      expect(await verifyPassword("bob's long passphrase", user.password_hash)).toBe(false);
      const row = await store.db.selectFrom("api_token").select("revoked_at").where("id", "=", token.info.id).executeTakeFirstOrThrow();
      expect(row.revoked_at).not.toBeNull();
    });

    const [random, added, unknownRole] = await Promise.all([
      cli.run(["users", "set-password", "bob", "--random-password"]),
      cli.run(["users", "add-role", "bob", "Op"]),
      cli.run(["users", "add-role", "bob", "Wizard"]),
    ]);
    expect(random.code, random.stderr).toBe(0);
    const second = /password for bob: (\S+)/.exec(random.stdout)?.[1];
    await withDb(cli, async (store) => expect(await verifyPassword(second!, (await findUser(store.db, { username: "bob" }))!.password_hash)).toBe(true));
    expect(added.stdout).toContain("bob now has the role Op");
    expect(unknownRole.code).toBe(2);
    expect(unknownRole.stderr).toContain("UPDRAFT_E_ROLE_NOT_FOUND");
    expect((await cli.run(["users", "remove-role", "bob", "User"])).stdout).toContain("no longer has the role User");
    expect((await cli.json<UserJson[]>(["users", "list", "--json"])).find((u) => u.username === "bob")!.roles).toEqual(["Op", "Viewer"]);

    const [deleted, lastAdmin] = await Promise.all([cli.run(["users", "delete", "bob"]), cli.run(["users", "delete", "ada"])]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(lastAdmin.code).toBe(2);
    expect(lastAdmin.stderr).toContain("last active Admin");
    expect((await cli.json<UserJson[]>(["users", "list", "--json"])).map((u) => u.username)).toEqual(["ada"]);

    // Every change is in the audit log, under the operating-system account that made it.
    const audit = await withDb(cli, (store) => auditRows(store));
    // The API's action names for the same changes (user.create, user.update, user.delete), so one filter finds both.
    const seen = audit.map((r) => `${r.action} ${r.path} ${r.object_id} ${r.outcome}`).sort();
    expect(seen).toEqual(
      [
        "user.update updraft users add-role bob failure",
        "user.update updraft users add-role bob success",
        "user.create updraft users create ada success",
        "user.create updraft users create bob success",
        "user.delete updraft users delete ada failure",
        "user.delete updraft users delete bob success",
        "user.update updraft users remove-role bob success",
        "user.update updraft users set-password bob success",
        "user.update updraft users set-password bob success",
      ].sort(),
    );
    for (const row of audit) expect([row.method, row.source_ip, row.username?.startsWith("os:")]).toEqual(["CLI", "local", true]);
    expect(JSON.stringify(audit)).not.toContain("passphrase");
    expect(JSON.parse(audit.find((r) => r.path === "updraft users add-role" && r.outcome === "failure")!.details!)).toEqual({ fields: ["roles"], added_role: "Wizard", error: "UPDRAFT_E_ROLE_NOT_FOUND" });
    expect(JSON.parse(audit.find((r) => r.path === "updraft users set-password")!.details!)).toEqual({ fields: ["password"] });
  });

  it("never takes a password as a plain flag, and needs a role and one password source", async () => {
    env = createCliEnv();
    const cli = env;
    const [plainFlag, noSource, both, noRole, empty, duplicate] = await Promise.all([
      cli.run(["users", "create", "--username", "eve", "--role", "Admin", "--password", "in the shell history"]),
      cli.run(["users", "create", "--username", "eve", "--role", "Admin"]),
      cli.run(["users", "create", "--username", "eve", "--role", "Admin", "--password-stdin", "--random-password"]),
      cli.run(["users", "create", "--username", "eve", "--random-password"]),
      runWithStdin(cli, ["users", "create", "--username", "eve", "--role", "Viewer", "--password-stdin"], "\n"),
      runWithStdin(cli, ["users", "create", "--username", "eve", "--role", "Viewer", "--password-stdin"], "short"),
    ]);
    expect(plainFlag.code).toBe(2);
    expect(plainFlag.stderr).toContain("unknown option '--password'");
    for (const result of [noSource, both]) {
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("exactly one of --password-stdin and --random-password");
    }
    expect(noRole.code).toBe(2);
    expect(noRole.stderr).toContain("--role");
    expect(empty.code).toBe(2);
    expect(duplicate.code).toBe(2);
    expect(duplicate.stderr).toContain("10 to 1024 characters");
    expect(await cli.json<UserJson[]>(["users", "list", "--json"])).toEqual([]);
  });
});

describe("updraft rotate-secret-key", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("re-encrypts every secret with the new key, after which the new key alone reads them", async () => {
    env = createCliEnv();
    const cli = env;
    const k1 = generateKey();
    const k2 = generateKey();
    expect((await cli.run(["db", "migrate"])).code).toBe(0);
    await withDb(cli, async (store) => {
      const old = createKeyring(parseKeyring(`k1:${k1}`));
      await checkKeyring(store.db, old);
      await createConnection(store.db, old, "warehouse", { connType: "postgres", password: "hunter2-secret", extra: { token: "x" } });
      await createConnection(store.db, old, "plain", { connType: "http" });
      await createVariable(store.db, old, { key: "vault", value: "s3cr3t-value", isSecret: true });
    });

    const [missing, wrong] = await Promise.all([cli.run(["rotate-secret-key"]), cli.run(["rotate-secret-key"], { env: { UPDRAFT_SECRET_KEY: `new:${k2}` } })]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("UPDRAFT_E_SECRET_KEY");
    expect(missing.stderr).toContain("UPDRAFT_SECRET_KEY is not set");
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("UPDRAFT_E_SECRET_KEY");

    const rotated = await cli.run(["rotate-secret-key"], { env: { UPDRAFT_SECRET_KEY: `new:${k2},k1:${k1}` } });
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain("re-encrypted 2 secrets with key 'new'");
    await withDb(cli, async (store) => {
      const onlyNew = createKeyring(parseKeyring(`new:${k2}`));
      await checkKeyring(store.db, onlyNew);
      expect((await readConnection(store.db, onlyNew, "warehouse")).password).toBe("hunter2-secret");
      expect(await readVariableValue(store.db, onlyNew, "vault")).toBe("s3cr3t-value");
    });

    // Without UPDRAFT_SECRET_KEY, the key file standalone keeps in the home is used.
    writeFileSync(join(cli.home, "secret_key"), `new:${k2}\n`, { mode: 0o600 });
    const fromFile = await cli.run(["rotate-secret-key"]);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).toContain("re-encrypted 0 secrets with key 'new'");
    const oldOnly = await cli.run(["rotate-secret-key"], { env: { UPDRAFT_SECRET_KEY: `k1:${k1}` } });
    expect(oldOnly.code).toBe(1);
    expect(oldOnly.stderr).toContain("does not match this database");
    const audit = await withDb(cli, (store) => auditRows(store));
    expect(audit.map((r) => `${r.action} ${r.object_id} ${r.outcome}`)).toEqual(["secrets.rotate new failure", "secrets.rotate new success", "secrets.rotate new success", "secrets.rotate k1 failure"]);
    expect(JSON.stringify(audit)).not.toContain(k1);
    expect(JSON.stringify(audit)).not.toContain(k2);
  });
});
