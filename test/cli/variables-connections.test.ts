/**
 * `updraft variables …` and `updraft connections …` run as subprocesses: Airflow's URI and file
 * formats, secrets shown only on request, changes audited under the OS account; and `tasks test`
 * of a task that prints what it read, masked.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { generateKey } from "../../src/security/secrets.js";
import { openStore, type Store } from "../../src/store/connect.js";
import { CLI_TEST_TIMEOUT_MS, CLI_TIMEOUT_MS, createCliEnv, REPO_ROOT, type CliEnv } from "./cli.js";

let env: CliEnv | undefined;
afterEach(() => {
  env?.cleanup();
  env = undefined;
});

const KEY = { UPDRAFT_SECRET_KEY: `k1:${generateKey()}` };
const VAULT = "vault-s3cr3t-value";
const TOKEN = "shop-tok-9f8e7d";
const PASSWORD = "p@ss w0rd/é";

/** Each CLI process takes a second or more on a busy 2-core machine, and these tests run a dozen or two. */
const SLOW = 180_000;

async function auditRows(cli: CliEnv) {
  const store: Store = await openStore({ url: `sqlite://${join(cli.home, "updraft.db")}` });
  try {
    return await store.db.selectFrom("audit_log").select(["action", "object_id", "outcome", "method", "username", "details"]).orderBy("id").execute();
  } finally {
    await store.close();
  }
}

function expectNoSecret(text: string, secrets: string[]): void {
  for (const s of secrets) {
    expect(text).not.toContain(s);
    expect(text).not.toContain(encodeURIComponent(s));
  }
}

describe("updraft variables", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("sets, gets, lists, imports, exports and deletes; secret values only on request; every change audited", async () => {
    env = createCliEnv();
    const cli = env;
    // The first command creates the database; the others may then run at once.
    const region = await cli.run(["variables", "set", "region", "eu", "--description", "where we sell"], { env: KEY });
    expect(region.code, region.stderr).toBe(0);
    expect(region.stdout).toBe("variable region created\n");
    const [token, vault] = await Promise.all([
      cli.run(["variables", "set", "shop_api_token", TOKEN], { env: KEY }),
      cli.run(["variables", "set", "vault", "--value-stdin", "--secret"], { env: KEY, input: `${VAULT}\n` }),
    ]);
    expect(token.stdout).toBe("variable shop_api_token created (secret)\n");
    expect(vault.code, vault.stderr).toBe(0);

    const [list, masked, shown, missing, fallback, noKey, usage] = await Promise.all([
      cli.run(["variables", "list", "--json"]),
      cli.run(["variables", "get", "vault"]),
      cli.run(["variables", "get", "vault", "--show-secrets"], { env: KEY }),
      cli.run(["variables", "get", "nope"]),
      cli.run(["variables", "get", "nope", "--default", "fallback"]),
      cli.run(["variables", "set", "other", "x"]),
      cli.run(["variables", "set", "other"]),
    ]);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ key: "region", value: "eu", isSecret: false, description: "where we sell" }),
      expect.objectContaining({ key: "shop_api_token", value: "***", isSecret: true }),
      expect.objectContaining({ key: "vault", value: "***", isSecret: true }),
    ]);
    expect([masked.code, masked.stdout]).toEqual([0, "***\n"]);
    expect(masked.stderr).toContain("--show-secrets");
    expect([shown.code, shown.stdout]).toEqual([0, `${VAULT}\n`]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("UPDRAFT_E_VARIABLE_NOT_FOUND");
    expect([fallback.code, fallback.stdout]).toEqual([0, "fallback\n"]);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain("UPDRAFT_SECRET_KEY is not set");
    expect(usage.code).toBe(2);

    // Airflow's file format; a value that is not a string is stored as its JSON text.
    const file = join(cli.root, "vars.json");
    writeFileSync(file, JSON.stringify({ region: "us", limits: { rows: 100 }, new_one: "n" }));
    const [imported, refused] = [await cli.run(["variables", "import", file], { env: KEY }), await cli.run(["variables", "import", file, "-a", "fail"], { env: KEY })];
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toBe("2 created, 1 overwritten, 0 skipped (existing)\n");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("UPDRAFT_E_CONFLICT");

    const plainFile = join(cli.root, "out.json");
    const fullFile = join(cli.root, "full.json");
    const [plainExport, fullExport] = await Promise.all([cli.run(["variables", "export", plainFile]), cli.run(["variables", "export", fullFile, "--include-secrets"], { env: KEY })]);
    expect(plainExport.code, plainExport.stderr).toBe(0);
    expect(fullExport.code, fullExport.stderr).toBe(0);
    expect(plainExport.stderr).toContain("2 secret one(s) left out");
    expect(JSON.parse(readFileSync(plainFile, "utf8"))).toEqual({ limits: '{"rows":100}', new_one: "n", region: "us" });
    expect(JSON.parse(readFileSync(fullFile, "utf8"))).toEqual({ limits: '{"rows":100}', new_one: "n", region: "us", shop_api_token: TOKEN, vault: VAULT });
    expect(statSync(fullFile).mode & 0o777).toBe(0o600);

    expect((await cli.run(["variables", "delete", "region"])).code).toBe(0);
    expect((await cli.run(["variables", "delete", "region"])).code).toBe(2);

    const audit = await auditRows(cli);
    const actions = audit.map((r) => `${r.action} ${r.object_id ?? "-"} ${r.outcome}`);
    expect(actions.slice(1, 3).sort()).toEqual(["variable.create shop_api_token success", "variable.create vault success"]);
    expect([actions[0], ...actions.slice(3)]).toEqual([
      "variable.create region success",
      "variable.reveal vault success",
      "variable.import - success",
      "variable.import - failure",
      ...["variable.export - success", "variable.export - success"],
      "variable.delete region success",
      "variable.delete region failure",
    ]);
    expect(new Set(audit.map((r) => `${r.method} ${r.username}`))).toEqual(new Set([`CLI os:${userInfo().username}`]));
    expectNoSecret(JSON.stringify(audit) + list.stdout + masked.stdout + masked.stderr + plainExport.stderr + readFileSync(plainFile, "utf8"), [VAULT, TOKEN]);
  }, SLOW);
});

describe("updraft connections", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("adds by Airflow URI, JSON or flags; gets with secrets masked unless asked; lists without them; imports and exports Airflow's file format", async () => {
    env = createCliEnv();
    const cli = env;
    const uri = `postgres://etl:${encodeURIComponent(PASSWORD)}@db.internal:5432/warehouse?sslmode=require`;
    const added = [await cli.run(["connections", "add", "wh", "--conn-uri", uri, "--conn-description", "the warehouse"], { env: KEY })];
    added.push(
      ...(await Promise.all([
        cli.run(["connections", "add", "api", "--conn-type", "http", "--conn-host", "https://api.example.com", "--conn-login", "svc", "--conn-password-stdin", "--conn-extra", '{"api_key": "k-778899"}'], { env: KEY, input: "api-pw-123\n" }),
        cli.run(["connections", "add", "replica", "--conn-json", JSON.stringify({ conn_type: "postgres", host: "replica", port: 5433, login: "ro" })], { env: KEY }),
      ])),
    );
    for (const r of added) expect(r.code, r.stderr).toBe(0);
    expect(added[0]!.stdout).toBe("connection wh added (postgres)\n");

    const [again, mixed, badUri, list, masked, shown] = await Promise.all([
      cli.run(["connections", "add", "wh", "--conn-type", "http"], { env: KEY }),
      cli.run(["connections", "add", "x", "--conn-uri", uri, "--conn-host", "h"], { env: KEY }),
      cli.run(["connections", "add", "x", "--conn-uri", "postgres://u:hunter2@db:port/x"], { env: KEY }),
      cli.run(["connections", "list", "--json"]),
      cli.run(["connections", "get", "wh", "--json"]),
      cli.run(["connections", "get", "wh", "--json", "--show-secrets"], { env: KEY }),
    ]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("UPDRAFT_E_CONFLICT");
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain("cannot be mixed with --conn-host");
    expect(badUri.code).toBe(2);
    expect(badUri.stderr).not.toContain("hunter2");
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ connId: "api", connType: "http", host: "https://api.example.com", login: "svc", passwordSet: true, extraSet: true }),
      expect.objectContaining({ connId: "replica", connType: "postgres", host: "replica", port: 5433, passwordSet: false, extraSet: false }),
      expect.objectContaining({ connId: "wh", connType: "postgres", host: "db.internal", port: 5432, schema: "warehouse", login: "etl", passwordSet: true, description: "the warehouse" }),
    ]);
    expect(JSON.parse(masked.stdout)).toMatchObject({ password: "***", extra: "***", uri: "postgres://etl:***@db.internal:5432/warehouse" });
    expect(JSON.parse(shown.stdout)).toMatchObject({ password: PASSWORD, extra: { sslmode: "require" }, uri });
    expectNoSecret(list.stdout + masked.stdout, [PASSWORD, "api-pw-123", "k-778899"]);

    // Airflow's file: an object of fields, or a URI string.
    const file = join(cli.root, "conns.json");
    writeFileSync(file, JSON.stringify({ wh: "postgres://other@elsewhere/db", cache: { conn_type: "redis", host: "cache", port: "6379", extra: '{"db": "0"}' } }));
    const skipped = await cli.run(["connections", "import", file], { env: KEY });
    expect(skipped.stdout).toBe("1 created, 0 overwritten, 1 skipped (existing)\n");
    expect(skipped.stderr).toContain("connection wh exists already");
    const overwritten = await cli.run(["connections", "import", file, "--overwrite"], { env: KEY });
    expect(overwritten.stdout).toBe("0 created, 2 overwritten, 0 skipped (existing)\n");

    const [plain, full, deleted] = await Promise.all([
      cli.run(["connections", "export", "-"]),
      cli.run(["connections", "export", "-", "--include-secrets"], { env: KEY }),
      cli.run(["connections", "delete", "replica"]),
    ]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).api).toEqual({ conn_type: "http", description: null, host: "https://api.example.com", login: "svc", schema: null, port: null });
    expect(JSON.parse(full.stdout)).toMatchObject({
      api: { conn_type: "http", password: "api-pw-123", extra: { api_key: "k-778899" } },
      cache: { conn_type: "redis", host: "cache", port: 6379, password: null, extra: { db: "0" } },
      wh: { conn_type: "postgres", host: "elsewhere", login: "other", schema: "db", password: null, extra: null },
    });
    expectNoSecret(plain.stdout + plain.stderr, ["api-pw-123", "k-778899"]);

    const audit = await auditRows(cli);
    const actions = audit.map((r) => `${r.action} ${r.object_id ?? "-"} ${r.outcome}`);
    expect(actions[0]).toBe("connection.create wh success");
    expect(actions.slice(1, 5).sort()).toEqual(["connection.create api success", "connection.create replica success", "connection.create wh failure", "connection.reveal wh success"]);
    expect(actions.slice(5, 7)).toEqual(["connection.import - success", "connection.import - success"]);
    expect(actions.slice(7).sort()).toEqual(["connection.delete replica success", "connection.export - success", "connection.export - success"]);
    const apiAudit = audit.find((r) => r.action === "connection.create" && r.object_id === "api")!;
    expect(JSON.parse(apiAudit.details!)).toEqual({ fields: ["conn_type", "host", "login", "password", "extra"] });
    expectNoSecret(JSON.stringify(audit), [PASSWORD, "api-pw-123", "k-778899"]);
  }, SLOW);
});

describe("updraft tasks test", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const DAG = `
import { dag, task } from "updraft";
const show = task({
  id: "show",
  run: async (_: void, ctx) => {
    const vault = await ctx.variable("vault");
    const wh = await ctx.connection("wh");
    const env = await ctx.connection("from_env");
    console.log("read", vault, wh.password, wh.uri, env.password, JSON.stringify(env));
    return wh.login;
  },
});
export default dag({ id: "show" }, () => { show(); });
`;

  it("masks what the task read, with standalone's key file; without a keyring a secret read fails naming UPDRAFT_SECRET_KEY", async () => {
    env = createCliEnv({ "show.ts": DAG });
    const cli = env;
    mkdirSync(cli.home, { recursive: true });
    writeFileSync(join(cli.home, "secret_key"), `${KEY.UPDRAFT_SECRET_KEY}\n`, { mode: 0o600 });
    expect((await cli.run(["variables", "set", "vault", VAULT, "--secret"])).code).toBe(0);
    expect((await cli.run(["connections", "add", "wh", "--conn-uri", `postgres://etl:${encodeURIComponent(PASSWORD)}@db/w`])).code).toBe(0);
    const envConn = { UPDRAFT_CONN_FROM_ENV: JSON.stringify({ conn_type: "http", host: "h", password: "env-pw-4455" }) };

    const ok = await cli.run(["tasks", "test", "show", "show"], { env: envConn });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`read *** *** postgres://etl:***@db/w *** {"connId":"from_env","connType":"http","description":null,"host":"h","schema":null,"login":null,"password":"***"`);
    expect(ok.stdout).toContain('show: success, output "etl"');
    expectNoSecret(ok.stdout + ok.stderr, [VAULT, PASSWORD, "env-pw-4455"]);

    writeFileSync(join(cli.home, "secret_key"), "");
    const keyless = await cli.run(["tasks", "test", "show", "show"], { env: envConn });
    expect(keyless.code).toBe(1);
    expect(keyless.stdout).toContain("UPDRAFT_SECRET_KEY");
    expect(keyless.stdout).toContain("variable 'vault' is stored encrypted");
  }, SLOW);
});

describe("updraft scheduler and the keyring", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("refuses to start with a key that does not match the database; without a key it starts and warns", async () => {
    env = createCliEnv();
    const cli = env;
    expect((await cli.run(["variables", "set", "vault", VAULT, "--secret"], { env: KEY })).code).toBe(0);
    const wrong = await cli.run(["scheduler"], { env: { UPDRAFT_SECRET_KEY: `k1:${generateKey()}` } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("UPDRAFT_E_SECRET_KEY");
    expect(wrong.stderr).toContain("does not match this database");

    // Long-running: wait for its warning, then stop it as a supervisor would.
    const childEnv: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("UPDRAFT_")) childEnv[key] = value;
    Object.assign(childEnv, { UPDRAFT_HOME: cli.home, UPDRAFT_DAGS_FOLDER: cli.dagsFolder, UPDRAFT_LOG_FORMAT: "json" });
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "scheduler"], { cwd: REPO_ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the scheduler did not start within ${CLI_TIMEOUT_MS} ms: ${stderr}`)), CLI_TIMEOUT_MS);
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString();
          if (stderr.includes("scheduler running")) {
            clearTimeout(timer);
            resolve();
          }
        });
        void exited.then((code) => reject(new Error(`the scheduler exited with ${code}: ${stderr}`)));
      });
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(stderr).toContain("UPDRAFT_SECRET_KEY is not set: tasks cannot read secret variables and connections");
  }, SLOW);
});
