/** `updraft pools|config|db`, help, unknown commands and the built binary. */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/connect.js";
import { createCliEnv, REPO_ROOT, runCli, type CliEnv, type DagListItem, CLI_TEST_TIMEOUT_MS } from "./cli.js";

const SOLO = `
import { dag, task } from "updraft";
const only = task({ id: "only", run: () => 1 });
export default dag({ id: "solo" }, () => { only(); });
`;

let env: CliEnv | undefined;
afterEach(() => {
  env?.cleanup();
  env = undefined;
});

interface PoolJson {
  name: string;
  slots: number;
  occupied: number;
  description: string | null;
}

interface ConfigRow {
  key: string;
  value: string;
  source: string;
  env: string;
}

describe("updraft pools", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("sets, lists and deletes pools; default_pool cannot be deleted", async () => {
    env = createCliEnv();
    const set = await env.run(["pools", "set", "etl", "3", "--description", "for the ETL"]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain("pool etl: 3 slots");

    let pools = await env.json<PoolJson[]>(["pools", "list", "--json"]);
    expect(pools.find((p) => p.name === "default_pool")).toMatchObject({ slots: 128, occupied: 0 });
    expect(pools.find((p) => p.name === "etl")).toMatchObject({ slots: 3, occupied: 0, description: "for the ETL" });
    // Changing the slots alone keeps the description.
    expect((await env.run(["pools", "set", "etl", "4"])).code).toBe(0);
    pools = await env.json<PoolJson[]>(["pools", "list", "--json"]);
    expect(pools.find((p) => p.name === "etl")).toMatchObject({ slots: 4, description: "for the ETL" });

    const [badSlots, deleteDefault, del] = await Promise.all([
      env.run(["pools", "set", "etl", "many"]),
      env.run(["pools", "delete", "default_pool"]),
      env.run(["pools", "delete", "etl"]),
    ]);
    expect(badSlots.code).toBe(2);
    expect(badSlots.stderr).toContain("slots 'many'");
    expect(deleteDefault.code).toBe(2);
    expect(deleteDefault.stderr).toContain("default_pool cannot be deleted");

    expect(del.code, del.stderr).toBe(0);
    expect(del.stdout).toContain("pool etl deleted");
    pools = await env.json<PoolJson[]>(["pools", "list", "--json"]);
    expect(pools.map((p) => [p.name, p.slots])).toEqual([["default_pool", 128]]);
  });
});

describe("updraft config list", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("shows every setting with its value, source and variable, secrets redacted; rejects an invalid env value", async () => {
    env = createCliEnv();
    mkdirSync(env.home, { recursive: true });
    writeFileSync(join(env.home, "updraft.json"), JSON.stringify({ runners: 3 }));
    const url = "postgres://alice:hunter2secret@db.example.com:5432/updraft";
    const [listed, invalid] = await Promise.all([
      env.run(["--home", env.home, "config", "list", "--json"], { env: { UPDRAFT_HOME: undefined, UPDRAFT_PARALLELISM: "7", UPDRAFT_DATABASE_URL: url } }),
      env.run(["config", "list", "--json"], { env: { UPDRAFT_PARALLELISM: "abc" } }),
    ]);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = JSON.parse(listed.stdout) as ConfigRow[];
    const byKey = new Map(rows.map((r) => [r.key, r]));
    for (const row of rows) expect(Object.keys(row)).toEqual(expect.arrayContaining(["key", "value", "source", "env"]));
    expect(byKey.get("parallelism")).toMatchObject({ value: "7", source: "env", env: "UPDRAFT_PARALLELISM" });
    expect(byKey.get("home")).toMatchObject({ value: env.home, source: "flag", env: "UPDRAFT_HOME" });
    expect(byKey.get("dagsFolder")).toMatchObject({ value: env.dagsFolder, source: "env", env: "UPDRAFT_DAGS_FOLDER" });
    expect(byKey.get("runners")).toMatchObject({ value: "3", source: "file" });
    expect(byKey.get("warmRunners")).toMatchObject({ value: "1", source: "default", env: "UPDRAFT_WARM_RUNNERS" });
    const db = byKey.get("databaseUrl")!;
    expect(db.source).toBe("env");
    expect(db.value).toContain("alice");
    expect(db.value).toContain("db.example.com");
    expect(listed.stdout).not.toContain("hunter2secret");

    expect(invalid.code).toBe(2);
    expect(invalid.stdout).toBe("");
    expect(invalid.stderr).toContain("UPDRAFT_PARALLELISM");
    expect(invalid.stderr).toContain('"abc"');
  });

  it("redacts a database password wherever the URL carries it", async () => {
    env = createCliEnv();
    // pg accepts an unescaped "@" in the password (the last "@" ends the user info) and a password in the query.
    const urls = ["postgres://alice:p@ss-hunter2@db.example.com/updraft", "postgres://alice@db.example.com/updraft?password=hunter2secret"];
    const results = await Promise.all(urls.map((url) => env!.run(["config", "list", "--json"], { env: { UPDRAFT_DATABASE_URL: url } })));
    for (const res of results) {
      expect(res.code, res.stderr).toBe(0);
      const row = (JSON.parse(res.stdout) as ConfigRow[]).find((r) => r.key === "databaseUrl")!;
      expect(row.value).toContain("db.example.com");
      expect(row.value).not.toContain("hunter2");
    }
  });
});

// SQLite only: the CLI hands the URL to the store, whose suite covers migrate/reset on PostgreSQL.
describe("updraft db", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("migrates (again: up to date) and resets only with --yes", async () => {
    env = createCliEnv({ "solo.ts": SOLO });

    const first = await env.run(["db", "migrate"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^applied: /);
    expect((await env.run(["dags", "reserialize"])).code).toBe(0);

    // Again: nothing to apply. `db reset` without --yes refuses and deletes nothing.
    const [second, refused] = await Promise.all([env.run(["db", "migrate"]), env.run(["db", "reset"])]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain("up to date");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--yes");
    expect((await env.json<DagListItem[]>(["dags", "list", "--json"])).map((d) => d.dagId)).toEqual(["solo"]);

    expect((await env.run(["pools", "set", "p", "2"])).code).toBe(0);
    const reset = await env.run(["db", "reset", "--yes"]);
    expect(reset.code, reset.stderr).toBe(0);
    expect(await env.json<DagListItem[]>(["dags", "list", "--json"])).toEqual([]);
    // The audit log went with everything else; its first record says who reset it.
    const store = await openStore({ url: `sqlite://${join(env.home, "updraft.db")}` });
    try {
      const rows = await store.db.selectFrom("audit_log").select(["action", "username", "method", "outcome"]).execute();
      expect(rows).toEqual([{ action: "db.reset", username: `os:${userInfo().username}`, method: "CLI", outcome: "success" }]);
    } finally {
      await store.close();
    }
  });
});

describe("updraft (program)", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("--help exits 0; an unknown command or option exits 2", async () => {
    const [help, unknown, unknownOption] = await Promise.all([runCli(["--help"]), runCli(["bogus"]), runCli(["dags", "list", "--bogus"])]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: updraft");
    for (const command of ["dags", "tasks", "pools", "config", "db", "standalone"]) expect(help.stdout).toMatch(new RegExp(`^ {2}${command}\\b`, "m"));
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'bogus'");
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain("--bogus");
  });
});

describe("bin/updraft.js (built)", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  beforeAll(async () => {
    if (!existsSync(join(REPO_ROOT, "dist/cli/main.js"))) {
      await promisify(execFile)("npm", ["run", "build"], { cwd: REPO_ROOT, timeout: 170_000 });
    }
  }, 180_000);

  it("prints the package version", async () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    const res = await runCli(["--version"], { script: "bin/updraft.js" });
    expect(res).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  });
});
