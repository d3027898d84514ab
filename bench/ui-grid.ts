/**
 * The grid view of a DAG of 1,000 tasks × 25 runs, measured in Chromium against a real
 * standalone: the time from navigation start to the first frame painted with the grid's cells
 * (a fresh page load: scripts, login check, API call, render), and the same for switching to the
 * Grid tab inside the app (the API call and the render).
 */
import { launchBrowser, loggedInPage, startStandalone } from "../test/ui/harness.js";

const TASKS = 1_000;
const RUNS = 25;
const GROUP = 50;

/** 1,000 no-op tasks in 20 groups of 50, each group after the previous one's first task. */
function bigDag(): string {
  const lines = [`import { dag, group, task } from "updraft";`, `const noop = (id: string) => task({ id, run: () => null });`, `export default dag({ id: "big", maxActiveRuns: ${RUNS}, maxActiveTasks: ${TASKS} }, () => {`];
  lines.push(`  let prev: ReturnType<ReturnType<typeof noop>> | null = null;`);
  for (let g = 0; g < TASKS / GROUP; g++) {
    lines.push(`  group("g${g}", () => {`);
    lines.push(`    const first = noop("t${g}_0")();`);
    lines.push(`    if (prev) first.after(prev);`);
    for (let i = 1; i < GROUP; i++) lines.push(`    noop("t${g}_${i}")().after(first);`);
    lines.push(`    prev = first;`);
    lines.push(`  });`);
  }
  lines.push(`});`);
  return lines.join("\n");
}

const CELL = '[data-testid=grid] .grid-row button[data-state="success"]';
/** The global the init script sets in the page. */
interface Win {
  __gridPaint?: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One task that takes a second and a half: long enough to be seen running. */
const SLOW = `
  import { dag, task } from "updraft";
  const nap = task({ id: "nap", run: () => new Promise((r) => setTimeout(r, 1500)) });
  export default dag({ id: "slow" }, () => { nap(); });
`;

export async function measureGridPaint(): Promise<{ coldMs: number; switchMs: number; liveMs: number; detail: string; liveDetail: string }> {
  const sa = await startStandalone({ examples: false, extraDags: { "big.ts": bigDag(), "slow.ts": SLOW } });
  const browser = await launchBrowser();
  try {
    const token = await sa.adminToken();
    for (let i = 0; ; i++) {
      const res = await sa.api<{ dag_id: string }>("GET", "/dags/big", undefined, token);
      if (res.status === 200) break;
      if (i > 300) throw new Error("the big DAG was not registered");
      await new Promise((r) => setTimeout(r, 100));
    }
    await sa.api("PATCH", "/dags/big", { is_paused: false }, token);
    for (let i = 0; i < RUNS; i++) {
      const res = await sa.api("POST", "/dags/big/dagRuns", { dag_run_id: `run-${String(i).padStart(2, "0")}`, logical_date: new Date(Date.UTC(2026, 10, 1 + i)).toISOString() }, token);
      if (res.status !== 200) throw new Error(`trigger failed: ${JSON.stringify(res.json)}`);
    }
    for (let i = 0; ; i++) {
      const res = await sa.api<{ dag_runs: Array<{ state: string }> }>("GET", "/dags/big/dagRuns?limit=100", undefined, token);
      if (res.json.dag_runs.every((r) => r.state === "success")) break;
      if (i > 1200) throw new Error("the runs did not finish in 2 minutes");
      await new Promise((r) => setTimeout(r, 100));
    }

    const page = await loggedInPage(browser, sa.url, "admin", sa.adminPassword);
    // Records when the first frame with the grid's cells is painted, from navigation start.
    // An init script is injected by the browser itself (the page's CSP does not apply to it).
    await page.context().addInitScript({
      content: `{
        const observer = new MutationObserver(() => {
          if (document.querySelector(${JSON.stringify(CELL)})) {
            observer.disconnect();
            requestAnimationFrame(() => (window.__gridPaint = performance.now()));
          }
        });
        observer.observe(document, { childList: true, subtree: true });
      }`,
    });
    // waitForFunction takes a function: the page's CSP forbids it evaluating a string.
    const cold: number[] = [];
    for (let i = 0; i < 5; i++) {
      await page.goto(`${sa.url}/dags/big/grid`);
      await page.waitForFunction(() => (globalThis as unknown as Win).__gridPaint !== undefined, undefined, { timeout: 30_000 });
      cold.push(await page.evaluate(() => (globalThis as unknown as Win).__gridPaint!));
    }
    const switches: number[] = [];
    for (let i = 0; i < 5; i++) {
      await page.goto(`${sa.url}/dags/big/details`);
      await page.waitForSelector("nav.tabs a");
      // A string: tsx would wrap named functions in a helper the page does not have.
      const elapsed = await page.evaluate<number>(`new Promise((resolve) => {
        const t0 = performance.now();
        [...document.querySelectorAll("nav.tabs a")].find((a) => a.textContent === "Grid").click();
        const check = () => {
          if (document.querySelector(${JSON.stringify(CELL)})) requestAnimationFrame(() => resolve(performance.now() - t0));
          else requestAnimationFrame(check);
        };
        check();
      })`);
      switches.push(elapsed);
    }
    const rows = await page.locator("[data-testid=grid] .grid-row").count();

    // Live: a task starts; how long until its cell shows it running, without a reload.
    await sa.api("PATCH", "/dags/slow", { is_paused: false }, token);
    await page.goto(`${sa.url}/dags/slow/grid`);
    await page.waitForSelector("[data-testid=grid]");
    const live: number[] = [];
    for (let i = 0; i < 5; i++) {
      await page.evaluate(`(() => {
        window.__runningAt = undefined;
        const seen = new Set([...document.querySelectorAll('[data-testid=grid] button[data-state="running"]')]);
        const observer = new MutationObserver(() => {
          const now = Date.now();
          if ([...document.querySelectorAll('[data-testid=grid] button[data-state="running"]')].some((b) => !seen.has(b))) {
            observer.disconnect();
            window.__runningAt = now;
          }
        });
        observer.observe(document, { childList: true, subtree: true, attributes: true });
      })()`);
      const runId = `live-${i}`;
      await sa.api("POST", "/dags/slow/dagRuns", { dag_run_id: runId }, token);
      await page.waitForFunction(() => (globalThis as unknown as { __runningAt?: number }).__runningAt !== undefined, undefined, { timeout: 30_000 });
      const seenAt = await page.evaluate(() => (globalThis as unknown as { __runningAt: number }).__runningAt);
      const ti = await sa.api<{ start_date: string }>("GET", `/dags/slow/dagRuns/${runId}/taskInstances/nap`, undefined, token);
      live.push(seenAt - Date.parse(ti.json.start_date));
      await page.waitForSelector(`[data-testid=grid] button[aria-label="nap in ${runId}: success"]`, { timeout: 30_000 });
    }
    return {
      liveMs: median(live),
      liveDetail: `median of 5: ${live.map((x) => x.toFixed(0)).join(", ")} ms from the try's start (stored) to the running colour in the page`,
      coldMs: median(cold),
      switchMs: median(switches),
      detail: `${TASKS} tasks (20 groups) × ${RUNS} runs; median of 5; page load ${cold.map((x) => x.toFixed(0)).join(", ")} ms; tab switch ${switches.map((x) => x.toFixed(0)).join(", ")} ms; ${rows} rows in the page (virtualized)`,
    };
  } finally {
    await browser.close();
    await sa.stop();
  }
}
