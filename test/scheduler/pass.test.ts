/**
 * Scheduler.pass(), which the tests use to check that something does not happen: it must resolve
 * only after a full pass that began after the call, so that the pass saw what the caller changed.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DIALECTS } from "../helpers/dialects.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { processDags, startScheduler, type RunningScheduler } from "../helpers/run.js";
import { waitFor } from "./support.js";

let env: TestEnv | undefined;
let running: RunningScheduler | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
  await env?.cleanup();
  env = undefined;
});

describe.each(DIALECTS)("Scheduler.pass() (%s)", (dialect) => {
  // A pass that began before the call may not have seen what the caller just changed.
  it("called while a full pass is in flight, it waits for the next pass", async () => {
    env = await createTestEnv({
      dialect,
      config: { schedulerPollIntervalMs: "1h" },
      dags: { "one.ts": `import { dag, task } from "updraft"; const one = task({ id: "one", run: () => 1 }); export default dag({ id: "one" }, () => { one(); });` },
    });
    await processDags(env);
    running = await startScheduler(env);
    await running.scheduler.pass();

    // Hold the scheduler's next transaction until pass() has been called.
    const store = env.store;
    const transaction = store.transaction.bind(store);
    let begun = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    store.transaction = async (fn) => {
      begun++;
      if (begun === 1) await gate;
      return transaction(fn);
    };
    try {
      running.scheduler.requestPass();
      await waitFor("a full pass to be in flight", () => begun === 1);
      const passed = running.scheduler.pass();
      release();
      await passed;
      expect(begun, "transactions begun by the time pass() resolved").toBe(2);
    } finally {
      store.transaction = transaction;
    }
  });
});
