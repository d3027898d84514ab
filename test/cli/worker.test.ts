/**
 * The cluster of the README, as processes: `updraft standalone --executor redis` (scheduler, API,
 * DAG processor; no local runners) and two `updraft worker` processes that know only the API's
 * address and the broker. A run with typed data passing between tasks and a timeout runs on the
 * workers; each try records the worker process that ran it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dropRedisPrefix, REDIS_URL, redisEnabled } from "../helpers/services.js";
import { REPO_ROOT, startStandaloneProcess, type StandaloneProcess } from "../helpers/standalone.js";

const REDIS = await redisEnabled();

const DAG = `
import { dag, task } from "updraft";
const extract = task({ id: "extract", run: () => ({ rows: [1, 2, 3] }) });
const total = task({ id: "total", run: (x: { rows: number[] }) => x.rows.reduce((a, b) => a + b, 0) });
const slow = task({ id: "slow", executionTimeout: "1s", run: () => new Promise((r) => setTimeout(r, 30_000)) });
export default dag({ id: "cluster" }, () => { total(extract()); slow(); });
`;

let root: string | undefined;
let standalone: StandaloneProcess | undefined;
const workers: ChildProcess[] = [];
let prefix: string | undefined;
afterEach(async () => {
  for (const w of workers.splice(0)) {
    if (w.exitCode === null && w.signalCode === null) {
      w.kill("SIGTERM");
      await new Promise((r) => w.once("exit", r));
    }
  }
  await standalone?.stop();
  standalone = undefined;
  if (prefix) await dropRedisPrefix(prefix);
  if (root) rmSync(root, { recursive: true, force: true });
});

/** `n` worker processes with nothing of the server's (no database, no DAGs folder, no keys); their output. */
async function startWorkers(apiUrl: string, broker: Record<string, string>, n: number, extra: Record<string, string> = {}, args: string[] = []): Promise<string[]> {
  const outputs: string[] = [];
  for (let w = 0; w < n; w++) {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("UPDRAFT_")) env[k] = v;
    Object.assign(env, broker, { UPDRAFT_HOME: join(root!, `w${workers.length}`), UPDRAFT_LOG_FORMAT: "json" }, extra);
    const child = spawn(process.execPath, [join(REPO_ROOT, "bin", "updraft.js"), "worker", "--api-url", apiUrl, "--concurrency", "2", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    const i = outputs.push("") - 1;
    child.stdout!.on("data", (c: Buffer) => (outputs[i] += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (outputs[i] += c.toString()));
    workers.push(child);
  }
  await until("the workers start", async () => (outputs.every((o) => o.includes("worker started")) ? true : null));
  return outputs;
}

async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!REDIS)("updraft worker", () => {
  it("two worker processes run a standalone's tries through Redis: typed outputs flow, a timeout fails its try, every try names its worker", { timeout: 180_000 }, async () => {
    root = mkdtempSync(join(tmpdir(), "updraft-cluster-"));
    prefix = `updraft-test-${randomBytes(4).toString("hex")}`;
    const dagsFolder = join(root, "dags");
    mkdirSync(dagsFolder);
    writeFileSync(join(dagsFolder, "cluster.ts"), DAG);
    const broker = { UPDRAFT_BROKER_URL: REDIS_URL, UPDRAFT_BROKER_PREFIX: prefix };
    standalone = await startStandaloneProcess({
      home: join(root, "server"),
      dagsFolder,
      env: { ...broker, UPDRAFT_EXECUTOR: "redis", UPDRAFT_DAGS_PAUSED_AT_CREATION: "false" },
    });
    const outputs = await startWorkers(standalone.url, broker, 2);

    const s = standalone;
    const token = await s.adminToken();
    await until("the DAG is processed", async () => ((await s.api("GET", "/dags/cluster", undefined, token)).status === 200 ? true : null));
    const triggered = await s.api<{ dag_run_id: string }>("POST", "/dags/cluster/dagRuns", {}, token);
    expect(triggered.status, JSON.stringify(triggered.json)).toBe(200);
    const runId = triggered.json.dag_run_id;
    const state = await until("the run ends", async () => {
      const run = await s.api<{ state: string }>("GET", `/dags/cluster/dagRuns/${runId}`, undefined, token);
      return run.json.state === "success" || run.json.state === "failed" ? run.json.state : null;
    });
    expect(state, outputs.join("\n")).toBe("failed"); // the slow task timed out

    const tis = await s.api<{ task_instances: Array<{ task_id: string; state: string; pid: number | null }> }>("GET", `/dags/cluster/dagRuns/${runId}/taskInstances`, undefined, token);
    const byTask = Object.fromEntries(tis.json.task_instances.map((t) => [t.task_id, t]));
    expect(byTask.extract!.state).toBe("success");
    expect(byTask.total!.state).toBe("success");
    expect(byTask.slow!.state).toBe("failed");
    const workerPids = workers.map((w) => w.pid);
    for (const t of Object.values(byTask)) expect(workerPids).toContain(t.pid);
    const xcom = await s.api<{ value: unknown }>("GET", `/dags/cluster/dagRuns/${runId}/taskInstances/total/xcomEntries/return_value`, undefined, token);
    expect(xcom.json.value).toBe(6);
    const tries = await s.api<{ task_instances: Array<{ note?: unknown }> } & Record<string, unknown>>("GET", `/dags/cluster/dagRuns/${runId}/taskInstances/slow/tries`, undefined, token);
    expect(JSON.stringify(tries.json)).toContain("UPDRAFT_E_TASK_TIMEOUT");
  });

  it("a worker killed with SIGKILL mid-try: its try is a zombie once its beats stop, and runs again once, on the other worker", { timeout: 180_000 }, async () => {
    root = mkdtempSync(join(tmpdir(), "updraft-cluster-"));
    prefix = `updraft-test-${randomBytes(4).toString("hex")}`;
    const dagsFolder = join(root, "dags");
    mkdirSync(dagsFolder);
    const marker = join(root, "started");
    writeFileSync(
      join(dagsFolder, "victim.ts"),
      `import { dag, task } from "updraft";
import { appendFileSync } from "node:fs";
const work = task({
  id: "work",
  retries: 1,
  retryDelay: "0s",
  run: async (_: void, ctx) => {
    appendFileSync(${JSON.stringify(marker)}, ctx.tryNumber + " " + process.ppid + "\\n");
    if (ctx.tryNumber === 1) await new Promise((r) => setTimeout(r, 120_000));
    return ctx.tryNumber;
  },
});
export default dag({ id: "victim" }, () => { work(); });
`,
    );
    const broker = { UPDRAFT_BROKER_URL: REDIS_URL, UPDRAFT_BROKER_PREFIX: prefix };
    const beats = { UPDRAFT_HEARTBEAT_INTERVAL: "500ms", UPDRAFT_ZOMBIE_THRESHOLD: "3s" };
    standalone = await startStandaloneProcess({
      home: join(root, "server"),
      dagsFolder,
      env: { ...broker, ...beats, UPDRAFT_EXECUTOR: "redis", UPDRAFT_DAGS_PAUSED_AT_CREATION: "false", UPDRAFT_SCHEDULER_POLL_INTERVAL: "200ms" },
    });
    await startWorkers(standalone.url, broker, 2, beats);
    const s = standalone;
    const token = await s.adminToken();
    await until("the DAG is processed", async () => ((await s.api("GET", "/dags/victim", undefined, token)).status === 200 ? true : null));
    const runId = (await s.api<{ dag_run_id: string }>("POST", "/dags/victim/dagRuns", {}, token)).json.dag_run_id;
    const read = () => (existsSync(marker) ? readFileSync(marker, "utf8").trim().split("\n").map((l) => l.split(" ").map(Number) as [number, number]) : []);
    const runnerParent = (await until("the first try starts", async () => (read().length > 0 ? read() : null)))[0]![1];
    // The try's runner is a child of its worker: the worker that holds the first try dies.
    const victim = workers.find((w) => w.pid === runnerParent)!;
    expect(victim).toBeDefined();
    const killedAt = Date.now();
    victim.kill("SIGKILL");
    await until("the second try starts", async () => (read().length > 1 ? true : null));
    const takeover = Date.now() - killedAt;
    const state = await until("the run ends", async () => {
      const run = await s.api<{ state: string }>("GET", `/dags/victim/dagRuns/${runId}`, undefined, token);
      return run.json.state === "success" || run.json.state === "failed" ? run.json.state : null;
    });
    expect(state).toBe("success");
    const starts = read();
    expect(starts.map(([n]) => n)).toEqual([1, 2]);
    expect(starts[1]![1]).not.toBe(runnerParent);
    const tries = await s.api<Record<string, unknown>>("GET", `/dags/victim/dagRuns/${runId}/taskInstances/work/tries`, undefined, token);
    expect(JSON.stringify(tries.json)).toContain("UPDRAFT_E_ZOMBIE");
    // The figure (docs/RELIABILITY.md): from the kill to the second try's start, against the zombie threshold (3 s) and a beat (0.5 s).
    console.log(`worker SIGKILL mid-try: the try ran again ${takeover} ms after the kill (zombie threshold 3 s, heartbeat 0.5 s, scheduler poll 0.2 s)`);
    // Not before its beats were stale (its last beat was at most 0.5 s before the kill).
    expect(takeover).toBeGreaterThanOrEqual(2_000);
  });

  it("SIGTERM: the worker takes no more tries, hands back the one still running after --grace, and exits; it runs again elsewhere without using up a retry", { timeout: 180_000 }, async () => {
    root = mkdtempSync(join(tmpdir(), "updraft-cluster-"));
    prefix = `updraft-test-${randomBytes(4).toString("hex")}`;
    const dagsFolder = join(root, "dags");
    mkdirSync(dagsFolder);
    writeFileSync(
      join(dagsFolder, "drain.ts"),
      `import { dag, task } from "updraft";
const work = task({ id: "work", run: async (_: void, ctx) => { if (ctx.tryNumber === 1) await new Promise((r) => setTimeout(r, 120_000)); return ctx.tryNumber; } });
export default dag({ id: "drain" }, () => { work(); });
`,
    );
    const broker = { UPDRAFT_BROKER_URL: REDIS_URL, UPDRAFT_BROKER_PREFIX: prefix };
    standalone = await startStandaloneProcess({ home: join(root, "server"), dagsFolder, env: { ...broker, UPDRAFT_EXECUTOR: "redis", UPDRAFT_DAGS_PAUSED_AT_CREATION: "false" } });
    const outputs = await startWorkers(standalone.url, broker, 1, {}, ["--grace", "1s"]);
    const s = standalone;
    const token = await s.adminToken();
    await until("the DAG is processed", async () => ((await s.api("GET", "/dags/drain", undefined, token)).status === 200 ? true : null));
    const runId = (await s.api<{ dag_run_id: string }>("POST", "/dags/drain/dagRuns", {}, token)).json.dag_run_id;
    const ti = () => s.api<{ state: string; try_number: number; max_tries: number }>("GET", `/dags/drain/dagRuns/${runId}/taskInstances/work`, undefined, token);
    await until("the try runs", async () => ((await ti()).json.state === "running" ? true : null));
    const first = workers[0]!;
    const exited = new Promise<number | null>((r) => first.once("exit", (code) => r(code)));
    first.kill("SIGTERM");
    expect(await exited, outputs[0]).toBe(0);
    expect(outputs[0]).toContain("handing back the tries still running");
    await startWorkers(s.url, broker, 1);
    await until("the run succeeds", async () => ((await s.api<{ state: string }>("GET", `/dags/drain/dagRuns/${runId}`, undefined, token)).json.state === "success" ? true : null));
    const done = (await ti()).json;
    expect(done).toMatchObject({ state: "success", try_number: 2 });
    const tries = await s.api<Record<string, unknown>>("GET", `/dags/drain/dagRuns/${runId}/taskInstances/work/tries`, undefined, token);
    expect(JSON.stringify(tries.json)).toContain("UPDRAFT_E_TRY_INTERRUPTED");
  });
});
