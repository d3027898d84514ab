/**
 * `updraft standalone` killed with SIGKILL while tries run (issue 8, item 1). Its runners die with
 * it (they leave when their executor's channel closes), so on the restart their tries are handed
 * back like at a clean shutdown: they run again without using up a retry, at once rather than
 * after the zombie threshold, and never two at a time. Airflow's zombie rule (a retry used) stays
 * for tries whose runner may still be alive (test/scheduler/semantics.test.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startStandaloneProcess, type StandaloneProcess } from "../helpers/standalone.js";
import { processAlive, waitFor } from "../scheduler/support.js";

let standalone: StandaloneProcess | null = null;
let root: string | null = null;
let strays: number[] = [];

afterEach(async () => {
  for (const pid of strays) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  strays = [];
  await standalone?.stop().catch(() => {});
  standalone = null;
  if (root) rmSync(root, { recursive: true, force: true });
  root = null;
});

interface Ti {
  task_id: string;
  state: string;
  try_number: number;
  max_tries: number;
  pid: number | null;
}

describe("standalone killed with SIGKILL", () => {
  it("hands its tries back on the restart without using a retry (killing a runner left behind first); each runs once at a time", { timeout: 240_000 }, async () => {
    root = mkdtempSync(join(tmpdir(), "updraft-crash-"));
    const home = join(root, "home");
    const dagsFolder = join(root, "dags");
    mkdirSync(dagsFolder);
    const markers = join(root, "ran.log");
    writeFileSync(markers, "");
    writeFileSync(
      join(dagsFolder, "slow.ts"),
      `
      import { appendFileSync } from "node:fs";
      import { dag, task } from "updraft";
      const note = (what: string, ctx: { taskId: string; tryNumber: number }) =>
        appendFileSync(${JSON.stringify(markers)}, JSON.stringify({ what, task: ctx.taskId, try: ctx.tryNumber, at: Date.now() }) + "\\n");
      // No retries: a try that came back as a zombie would fail the run.
      const slow = task({ id: "slow", retries: 0, run: async (i: number, ctx) => {
        note("start", ctx);
        if (ctx.tryNumber === 1) await new Promise((r) => setTimeout(r, 60_000));
        note("end", ctx);
        return i;
      } });
      // Busy in a synchronous loop, its runner cannot notice that its executor is gone.
      const spin = task({ id: "spin", retries: 0, run: (_: void, ctx) => {
        note("start", ctx);
        if (ctx.tryNumber === 1) for (;;) {}
        note("end", ctx);
        return 0;
      } });
      export default dag({ id: "slow", schedule: null, startDate: "2026-01-01" }, () => {
        for (let i = 0; i < 3; i++) slow(i, { id: "slow_" + i });
        spin();
      });
      `,
    );
    const env = { UPDRAFT_DAGS_PAUSED_AT_CREATION: "false" };
    standalone = await startStandaloneProcess({ home, dagsFolder, env });
    let s = standalone;
    let token = await s.adminToken();
    await waitFor("the DAG to be registered", async () => (await s.api("GET", "/dags/slow", undefined, token)).status === 200, 60_000);
    const run = await s.api<{ dag_run_id: string }>("POST", "/dags/slow/dagRuns", {}, token);
    expect(run.status).toBe(200);
    const runId = encodeURIComponent(run.json.dag_run_id);
    const tis = async () => (await s.api<{ task_instances: Ti[] }>("GET", `/dags/slow/dagRuns/${runId}/taskInstances`, undefined, token)).json.task_instances;
    const started = await waitFor("four tries to run", async () => {
      const now = await tis();
      return now.filter((t) => t.state === "running" && t.pid !== null).length === 4 ? now : undefined;
    }, 60_000);
    const runners = started.filter((t) => t.task_id !== "spin").map((t) => t.pid!);
    const spinner = started.find((t) => t.task_id === "spin")!.pid!;
    strays.push(spinner);
    await waitFor("the tries to start", () => readFileSync(markers, "utf8").split("\n").filter(Boolean).length === 4, 30_000);

    s.child.kill("SIGKILL");
    await s.exited;
    // Its runners notice their executor is gone and take their process groups down; the busy one
    // cannot, and is still there when the standalone starts again.
    await waitFor("the runners to die with it", () => runners.every((pid) => !processAlive(pid)), 30_000);
    expect(processAlive(spinner)).toBe(true);

    const restartedAt = Date.now();
    standalone = await startStandaloneProcess({ home, dagsFolder, env });
    s = standalone;
    token = await s.adminToken();
    const state = await waitFor("the run to finish", async () => {
      const res = await s.api<{ state: string }>("GET", `/dags/slow/dagRuns/${runId}`, undefined, token);
      return res.json.state === "success" || res.json.state === "failed" ? res.json.state : undefined;
    }, 120_000);
    expect(state).toBe("success");
    const doneAt = Date.now();
    // The restart killed the runner left behind before handing its try back.
    expect(processAlive(spinner)).toBe(false);

    const final = await tis();
    for (const ti of final) {
      expect(ti).toMatchObject({ state: "success", try_number: 2, max_tries: 2 });
      const tries = await s.api<{ task_instance_tries: Array<{ try_number: number; state: string; error_code: string | null }> }>(
        "GET",
        `/dags/slow/dagRuns/${runId}/taskInstances/${ti.task_id}/tries`,
        undefined,
        token,
      );
      expect(tries.json.task_instance_tries.map((t) => [t.try_number, t.state, t.error_code])).toEqual([
        [1, "failed", "UPDRAFT_E_TRY_INTERRUPTED"],
        [2, "success", null],
      ]);
    }
    // Each task started once per try, and the second only after the first's runner was gone.
    const marks = readFileSync(markers, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { what: string; task: string; try: number; at: number });
    for (const task of ["slow_0", "slow_1", "slow_2", "spin"]) {
      const starts = marks.filter((m) => m.task === task && m.what === "start");
      expect(starts.map((m) => m.try)).toEqual([1, 2]);
      expect(starts[1]!.at).toBeGreaterThan(restartedAt);
      expect(marks.filter((m) => m.task === task && m.what === "end").map((m) => m.try)).toEqual([2]);
    }
    console.log(`RELIABILITY kill -9: ${JSON.stringify({ restartToRunDoneMs: doneAt - restartedAt, retriesUsed: 0, triesRunTwiceAtOnce: 0 })}`);
  });
});
