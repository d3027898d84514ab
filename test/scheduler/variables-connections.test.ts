/**
 * Tasks reading variables and connections (ctx.variable, ctx.connection) from the environment and
 * the metadata database, through real DAG files, the scheduler, the local executor and runners;
 * and the secrets masker: what they print of a secret is stored as "***".
 */
import { afterEach, describe, expect, it } from "vitest";
import { createKeyring, generateKey, parseKeyring } from "../../src/security/secrets.js";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { createConnection } from "../../src/store/connections.js";
import { createVariable } from "../../src/store/variables.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { processDags, startScheduler, taskStates } from "../helpers/run.js";
import { logLines, triesOf, xcomOf } from "./support.js";

const keyring = createKeyring(parseKeyring(`k1:${generateKey()}`));

// Secrets with characters that JSON, inspect and percent-encoding all change.
const DB_PASSWORD = `pa$$ w0rd/é"q`;
const VAULT = "vault-s3cr3t-value";
const SHOP_TOKEN = "shop-tok-9f8e7d";
const EXTRA_KEY = "extra-api-key-5566";
const ENV_TOKEN = "env-var-tok-1234";
const ENV_CONN_PASSWORD = "env-conn-pw:@/77";
const ENV_JSON_PASSWORD = "env-json-pw-88";
const SECRETS = [DB_PASSWORD, VAULT, SHOP_TOKEN, EXTRA_KEY, ENV_TOKEN, ENV_CONN_PASSWORD, ENV_JSON_PASSWORD];

const ENV = {
  UPDRAFT_VAR_ENV_SECRET_TOKEN: ENV_TOKEN,
  UPDRAFT_VAR_ENV_PLAIN: "plain-from-env",
  // The environment comes first: this hides the stored variable of the same key.
  UPDRAFT_VAR_SHADOWED: "from-env",
  UPDRAFT_CONN_ENV_API: `http://https://svc:${encodeURIComponent(ENV_CONN_PASSWORD)}@api.example.com:8443/v2?timeout=30`,
  UPDRAFT_CONN_ENV_JSON: JSON.stringify({ conn_type: "postgres", host: "replica", login: "ro", password: ENV_JSON_PASSWORD, port: 5433, extra: { sslmode: "verify-full" } }),
};

const READER = `
import { dag, task, bash } from "updraft";

const reader = task({
  id: "reader",
  run: async (_: void, ctx) => {
    const region = await ctx.variable("region");
    const vault = await ctx.variable("vault");
    const token = await ctx.variable("shop_api_token");
    const limits = await ctx.variable<{ maxRows: number }>("etl_limits", { json: true });
    const envToken = await ctx.variable("env_secret_token");
    const envPlain = await ctx.variable("env_plain");
    const shadowed = await ctx.variable("shadowed");
    const fallback = await ctx.variable("not_there", { default: null });
    const wh = await ctx.connection("warehouse");
    const api = await ctx.connection("env_api");
    const replica = await ctx.connection("env_json");
    console.log("vault", vault);
    ctx.log.info("token", token, JSON.stringify({ vault, token }));
    process.stdout.write("uri " + wh.uri + "\\n");
    console.error(wh);
    ctx.log.warn("extra", wh.extra);
    console.log("env", envToken, api.password, replica.password, api.uri);
    console.log("plain", region, envPlain, shadowed, JSON.stringify(limits), String(fallback));
    return {
      region, envPlain, shadowed, fallback, maxRows: limits.maxRows,
      wh: { connType: wh.connType, host: wh.host, port: wh.port, schema: wh.schema, login: wh.login, sslmode: wh.extra.sslmode, passwordLength: wh.password?.length, description: wh.description },
      api: { connType: api.connType, host: api.host, port: api.port, schema: api.schema, login: api.login, extra: api.extra },
      replica: { host: replica.host, port: replica.port, login: replica.login, extra: replica.extra },
      frozen: Object.isFrozen(wh) && Object.isFrozen(wh.extra),
    };
  },
});

const failing = task({
  id: "failing",
  run: async (_: void, ctx) => {
    const wh = await ctx.connection("warehouse");
    throw new Error("cannot log in as " + wh.login + " with " + wh.password);
  },
});

export default dag({ id: "reads" }, () => {
  reader();
  failing();
  // The secret reaches bash through its environment, never its command line.
  bash({
    id: "shell",
    env: async (ctx) => ({ PGPASSWORD: (await ctx.connection("warehouse")).password ?? "" }),
    command: 'echo "stdout $PGPASSWORD"; echo "stderr $PGPASSWORD" >&2; echo done',
  });
});
`;

const MISSING = `
import { dag, task } from "updraft";
const noVariable = task({ id: "no_variable", run: (_: void, ctx) => ctx.variable("nope") });
const noConnection = task({ id: "no_connection", run: (_: void, ctx) => ctx.connection("nowhere") });
const notJson = task({ id: "not_json", run: (_: void, ctx) => ctx.variable("vault", { json: true }) });
const badKey = task({ id: "bad_key", run: (_: void, ctx) => ctx.variable("no spaces/allowed") });
// A task may speak only for its own try: a lookup in another try's name costs its runner its life.
const forger = task({
  id: "forger",
  run: async () => {
    process.send!({ t: "variableGet", tryId: "some.other.try", reqId: 1e9, key: "vault" });
    await new Promise((resolve) => setTimeout(resolve, 30_000));
    return "not reached";
  },
});
const plain = task({ id: "plain", run: (_: void, ctx) => ctx.variable("region") });
const secret = task({ id: "secret", run: (_: void, ctx) => ctx.variable("vault") });
export default dag({ id: "missing" }, () => { noVariable(); noConnection(); notJson(); badKey(); forger(); });
export const keyless = dag({ id: "keyless" }, () => { plain(); secret(); });
`;

let env: TestEnv | undefined;
afterEach(async () => {
  for (const name of Object.keys(ENV)) delete process.env[name];
  await env?.cleanup();
  env = undefined;
});

async function seed(env: TestEnv): Promise<void> {
  const db = env.store.db;
  await createVariable(db, keyring, { key: "region", value: "eu-central" });
  await createVariable(db, keyring, { key: "vault", value: VAULT, isSecret: true });
  await createVariable(db, keyring, { key: "shop_api_token", value: SHOP_TOKEN });
  await createVariable(db, keyring, { key: "etl_limits", value: '{"maxRows": 500}' });
  await createVariable(db, keyring, { key: "shadowed", value: "from-db" });
  await createConnection(db, keyring, "warehouse", {
    connType: "postgres",
    description: "the warehouse",
    host: "db.internal",
    port: 5432,
    schema: "warehouse",
    login: "etl",
    password: DB_PASSWORD,
    extra: { sslmode: "require", api_key: EXTRA_KEY },
  });
}

/** Every log line of every try of a run, with its task. */
async function runLogs(env: TestEnv, dagRunId: number): Promise<Array<{ taskId: string; stream: string; message: string }>> {
  const lines: Array<{ taskId: string; stream: string; message: string }> = [];
  for (const [taskId, ti] of Object.entries(await taskStates(env, dagRunId))) {
    for (let n = 1; n <= ti.tryNumber; n++) for (const l of await logLines(env, ti.id, n)) lines.push({ taskId, stream: l.stream, message: l.message });
  }
  return lines;
}

function expectNoSecret(text: string): void {
  for (const secret of SECRETS) {
    expect(text).not.toContain(secret);
    expect(text).not.toContain(encodeURIComponent(secret));
    expect(text).not.toContain(JSON.stringify(secret).slice(1, -1));
  }
}

describe.each(DIALECTS)("ctx.variable and ctx.connection (%s)", (dialect) => {
  it("read the environment first, then the database (decrypted), and every secret the try read is *** in its log and error", async () => {
    Object.assign(process.env, ENV);
    env = await createTestEnv({ dialect, dags: { "reads.ts": READER } });
    await seed(env);
    await processDags(env);
    const run = await triggerDagRun(env.store, "reads");
    const s = await startScheduler(env, { keyring });
    try {
      expect(await s.waitForRun(run.id, 60_000)).toBe("failed");
    } finally {
      await s.stop();
    }
    const states = await taskStates(env, run.id);
    expect([states.reader!.state, states.shell!.state, states.failing!.state]).toEqual(["success", "success", "failed"]);

    expect(await xcomOf(env, run.id, "reader")).toEqual({
      region: "eu-central",
      envPlain: "plain-from-env",
      shadowed: "from-env",
      fallback: null,
      maxRows: 500,
      wh: { connType: "postgres", host: "db.internal", port: 5432, schema: "warehouse", login: "etl", sslmode: "require", passwordLength: DB_PASSWORD.length, description: "the warehouse" },
      api: { connType: "http", host: "https://api.example.com", port: 8443, schema: "v2", login: "svc", extra: { timeout: "30" } },
      replica: { host: "replica", port: 5433, login: "ro", extra: { sslmode: "verify-full" } },
      frozen: true,
    });
    expect(await xcomOf(env, run.id, "shell")).toBe("done");

    const lines = await runLogs(env, run.id);
    const text = lines.map((l) => l.message).join("\n");
    expectNoSecret(text);
    const of = (taskId: string, start: string) => lines.find((l) => l.taskId === taskId && l.message.startsWith(start));
    expect(of("reader", "vault ")).toMatchObject({ stream: "stdout", message: "vault ***" });
    expect(of("reader", "token ")?.message).toBe('token *** {"vault":"***","token":"***"}');
    expect(of("reader", "uri ")?.message).toBe("uri postgres://etl:***@db.internal:5432/warehouse?sslmode=require&api_key=***");
    expect(of("reader", "env ")?.message).toBe("env *** *** *** http://https://svc:***@api.example.com:8443/v2?timeout=30");
    expect(of("reader", "plain ")?.message).toBe('plain eu-central plain-from-env from-env {"maxRows":500} null');
    expect(of("reader", "extra ")?.message).toContain("sslmode: 'require'");
    expect(lines.filter((l) => l.taskId === "reader" && l.stream === "stderr").map((l) => l.message).join("\n")).toMatch(/password: '\*\*\*'/);
    expect(of("shell", "stdout ")?.message).toBe("stdout ***");
    expect(of("shell", "stderr ")).toMatchObject({ stream: "stderr", message: "stderr ***" });

    const [failed] = await triesOf(env, run.id, "failing");
    expect(failed!.error!.message).toBe("cannot log in as etl with ***");
    expectNoSecret(JSON.stringify(failed!.error));
    expect(lines.some((l) => l.taskId === "failing" && l.message.startsWith("failed: Error: cannot log in as etl with ***"))).toBe(true);
  });

  it("a missing variable or connection, a bad key and JSON that does not parse fail the task with a stable code and a hint; a forged lookup kills the runner", async () => {
    env = await createTestEnv({ dialect, dags: { "missing.ts": MISSING } });
    await seed(env);
    await processDags(env);
    const run = await triggerDagRun(env.store, "missing");
    const s = await startScheduler(env, { keyring });
    try {
      expect(await s.waitForRun(run.id, 60_000)).toBe("failed");
    } finally {
      await s.stop();
    }
    const error = async (taskId: string) => (await triesOf(env!, run.id, taskId))[0]!.error!;
    expect(await error("no_variable")).toMatchObject({ code: "UPDRAFT_E_VARIABLE_NOT_FOUND", message: "variable 'nope' is not set", retryable: true });
    expect(await error("no_connection")).toMatchObject({ code: "UPDRAFT_E_CONNECTION_NOT_FOUND", message: "connection 'nowhere' is not defined" });
    expect(await error("not_json")).toMatchObject({ code: "UPDRAFT_E_INVALID_JSON", message: "variable 'vault' is not valid JSON" });
    expect(await error("bad_key")).toMatchObject({ code: "UPDRAFT_E_INVALID_ID" });
    expect(await error("forger")).toMatchObject({ code: "UPDRAFT_E_RUNNER_CRASHED" });
    const lines = await runLogs(env, run.id);
    expect(lines.find((l) => l.taskId === "no_variable" && l.message.startsWith("hint: "))?.message).toContain("updraft variables set nope");
    expect(lines.find((l) => l.taskId === "no_variable" && l.message.startsWith("hint: "))?.message).toContain("UPDRAFT_VAR_NOPE");
    expect(lines.find((l) => l.taskId === "no_connection" && l.message.startsWith("hint: "))?.message).toContain("UPDRAFT_CONN_NOWHERE");
    expectNoSecret(lines.map((l) => l.message).join("\n") + JSON.stringify(await triesOf(env, run.id, "not_json")));
  });

  it("a scheduler without the secrets keyring answers plain variables and refuses secret ones with an error naming UPDRAFT_SECRET_KEY", async () => {
    env = await createTestEnv({ dialect, dags: { "missing.ts": MISSING } });
    await seed(env);
    await processDags(env);
    const run = await triggerDagRun(env.store, "keyless");
    const s = await startScheduler(env, { keyring: null });
    try {
      expect(await s.waitForRun(run.id, 60_000)).toBe("failed");
    } finally {
      await s.stop();
    }
    expect(await xcomOf(env, run.id, "plain")).toBe("eu-central");
    const [tried] = await triesOf(env, run.id, "secret");
    expect(tried!.error).toMatchObject({ code: "UPDRAFT_E_SECRET_KEY", message: "variable 'vault' is stored encrypted, and this process has no secrets keyring to decrypt it" });
    const hint = (await runLogs(env, run.id)).find((l) => l.taskId === "secret" && l.message.startsWith("hint: "));
    expect(hint?.message).toContain("UPDRAFT_SECRET_KEY");
  });
});
