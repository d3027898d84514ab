/**
 * The web UI's Airflow-3 gaps, in Chromium against a real standalone: times in a chosen zone, the
 * grid's run dates and duration bars, the browse pages across DAGs (and not the DAGs a user may
 * not read), triggering from the DAG list with param formats checked as one types, the log's full
 * screen and download, and a failed try's stack with Updraft's frames behind a switch.
 */
import { readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../api/helpers.js";
import { browserEnabled } from "../helpers/services.js";
import { launchBrowser, loggedInPage, startStandalone, UI_INDEX, type Standalone } from "./harness.js";

const ENABLED = await browserEnabled(UI_INDEX);

const DAGS = {
  // Berlin time: its start date is 2026-01-01 00:00 there, 2025-12-31 23:00 in UTC. Params with formats.
  "berlin.ts": `
    import { dag, task } from "updraft";
    const nap = task({ id: "nap", run: async (_: void, ctx) => { await new Promise((r) => setTimeout(r, Number(ctx.params.ms))); return Number(ctx.params.ms); } });
    export default dag({
      id: "berlin_daily",
      schedule: "0 3 * * *",
      timezone: "Europe/Berlin",
      startDate: "2026-01-01",
      params: {
        ms: { type: "integer", default: 10, minimum: 0 },
        day: { type: "string", format: "date", default: "2026-01-01" },
        contact: { type: "string", format: "email", default: "ops@example.com" },
      },
      access: { "team-ab": ["read"] },
    }, () => { nap(); });
  `,
  // 2,500 log lines (three pages of the log API), then a failure in a helper of the author's.
  "chatty.ts": `
    import { dag, task } from "updraft";
    function checkTotal(total: number): void {
      if (total > 0) throw new Error("total is " + total + ", expected 0");
    }
    const talk = task({
      id: "talk",
      run: (_: void, ctx) => {
        for (let i = 1; i <= 2500; i++) ctx.log.info("line " + i + " of 2500");
        checkTotal(2500);
      },
    });
    export default dag({ id: "chatty", access: { "team-ab": ["read"] } }, () => { talk(); });
  `,
  // Readable by Admin only: team-ab must never see it.
  "secret.ts": `
    import { dag, task } from "updraft";
    const hush = task({ id: "hush", run: () => "classified" });
    export default dag({ id: "secret_dag" }, () => { hush(); });
  `,
};

let sa: Standalone;
let browser: Browser;
let token: string;

async function call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await sa.api<T>(method, path, body, token);
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json;
}

async function runUntilDone(dagId: string, body: Record<string, unknown>): Promise<string> {
  const run = await call<{ dag_run_id: string }>("POST", `/dags/${dagId}/dagRuns`, body);
  await eventually(async () => expect(["success", "failed"]).toContain((await call<{ state: string }>("GET", `/dags/${dagId}/dagRuns/${encodeURIComponent(run.dag_run_id)}`)).state), 45_000);
  return run.dag_run_id;
}

const textOf = (page: Page, selector: string) => page.locator(selector).first().textContent();

describe.runIf(ENABLED)("web UI: zones, grid dates, browse, trigger from the list, logs, stacks", () => {
  beforeAll(async () => {
    [sa, browser] = await Promise.all([startStandalone({ examples: false, extraDags: DAGS }), launchBrowser()]);
    token = await sa.adminToken();
    await eventually(async () => expect((await sa.api<{ total_entries: number }>("GET", "/dags", undefined, token)).json.total_entries).toBe(3), 30_000);
    for (const dag of ["berlin_daily", "chatty", "secret_dag"]) await call("PATCH", `/dags/${dag}`, { is_paused: false });
    await call("POST", "/roles", { name: "team-ab", permissions: [] });
    await call("POST", "/users", { username: "tab", password: "team-ab-password-1", roles: ["team-ab"] });
    await call("POST", "/users", { username: "vic", password: "viewer-password-1", roles: ["Viewer"] });
    // Two runs of different lengths on two days, a failing chatty run and a secret one.
    await runUntilDone("berlin_daily", { dag_run_id: "short", logical_date: "2026-03-01T12:00:00Z", conf: { ms: 20 } });
    await runUntilDone("berlin_daily", { dag_run_id: "long", logical_date: "2026-03-02T12:00:00Z", conf: { ms: 1500 } });
    await runUntilDone("chatty", { dag_run_id: "talk-1" });
    await runUntilDone("secret_dag", { dag_run_id: "secret-1" });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await sa?.stop();
  });

  it("shows every time with its zone: the DAG's by default on its pages, UTC or the browser's from the switch, kept across reloads", async () => {
    const page = await loggedInPage(browser, sa.url, "admin", sa.adminPassword, { timezoneId: "America/New_York" });
    await page.goto(`${sa.url}/dags/berlin_daily/details`);
    const startDate = 'dt:text-is("Start date") + dd';
    await expect.poll(() => textOf(page, startDate)).toBe("2026-01-01 00:00:00 UTC+1");
    expect(await page.getByTestId("zone-switch").inputValue()).toBe("dag");

    await page.getByTestId("zone-switch").selectOption("utc");
    await expect.poll(() => textOf(page, startDate)).toBe("2025-12-31 23:00:00 UTC");
    await page.reload();
    await expect.poll(() => textOf(page, startDate)).toBe("2025-12-31 23:00:00 UTC");
    expect(await page.getByTestId("zone-switch").inputValue()).toBe("utc");

    await page.getByTestId("zone-switch").selectOption("browser");
    await expect.poll(() => textOf(page, startDate)).toBe("2025-12-31 18:00:00 UTC-5");

    // The run panel's data interval follows the switch too.
    await page.goto(`${sa.url}/dags/berlin_daily/grid?run=short`);
    const interval = 'dt:text-is("Logical date") + dd';
    await expect.poll(() => textOf(page, interval)).toBe("2026-03-01 07:00:00 UTC-5");
    await page.getByTestId("zone-switch").selectOption("dag");
    await expect.poll(() => textOf(page, interval)).toBe("2026-03-01 13:00:00 UTC+1");
    // Pages of several DAGs show UTC for "the DAG's zone".
    await page.goto(`${sa.url}/browse/runs?dag_id=berlin_daily`);
    await expect.poll(() => page.getByTestId("browse-runs").textContent()).toContain("2026-03-01 12:00:00 UTC");
    expect(page.errors).toEqual([]);
  });

  it("the grid heads each run with its logical date in the chosen zone and a duration bar as tall as the run was long", async () => {
    const page = await loggedInPage(browser, sa.url, "admin", sa.adminPassword);
    await page.goto(`${sa.url}/dags/berlin_daily/grid`);
    const column = (runId: string) => page.locator(`[data-testid=grid] [data-run-id="${runId}"]`);
    await expect.poll(() => column("long").locator("[data-testid=run-date]").textContent()).toBe("03-02 13:00");
    expect(await column("short").locator("[data-testid=run-date]").textContent()).toBe("03-01 13:00");

    const bar = async (runId: string) => {
      const el = column(runId).locator(".grid-bar");
      return { ms: Number(await el.getAttribute("data-duration-ms")), height: await el.evaluate((e) => e.getBoundingClientRect().height), cls: (await el.getAttribute("class")) ?? "" };
    };
    const [short, long] = [await bar("short"), await bar("long")];
    expect(long.ms).toBeGreaterThan(short.ms);
    expect(long.height).toBe(56); // the longest run shown fills the bar area
    expect(short.height).toBeLessThan(long.height);
    expect(short.height).toBeGreaterThanOrEqual(3);
    expect(long.cls).toContain("state-success");
    expect(await column("long").getAttribute("title")).toContain("data interval 2026-03-01 03:00:00 UTC+1 → 2026-03-02 03:00:00 UTC+1");

    await page.getByTestId("zone-switch").selectOption("utc");
    await expect.poll(() => column("long").locator("[data-testid=run-date]").textContent()).toBe("03-02 12:00");
    await page.getByTestId("zone-switch").selectOption("dag");
    expect(page.errors).toEqual([]);
  });

  it("the browse pages list runs, task instances and XComs of every DAG the user may read, and nothing of the others", async () => {
    const page = await loggedInPage(browser, sa.url, "tab", "team-ab-password-1");
    await page.getByTestId("browse-menu").click();
    await page.getByRole("menuitem", { name: "Runs" }).click();
    await page.waitForURL(/\/browse\/runs$/);
    const dagsIn = async (testId: string) => [...new Set(await page.getByTestId(testId).locator("tbody tr[data-dag-id]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-dag-id"))))].sort();
    await expect.poll(() => dagsIn("browse-runs")).toEqual(["berlin_daily", "chatty"]);
    expect(await page.getByTestId("browse-runs").textContent()).not.toContain("secret");
    // Filters: one DAG, one state.
    await page.getByLabel("DAG id").fill("chatty");
    await expect.poll(() => dagsIn("browse-runs")).toEqual(["chatty"]);
    await page.getByLabel("State").selectOption("success");
    await expect.poll(() => page.locator("main").textContent()).toContain("No run matches.");
    await page.getByRole("button", { name: "Clear filters" }).click();
    await expect.poll(() => dagsIn("browse-runs")).toEqual(["berlin_daily", "chatty"]);
    // Asking for the secret DAG's runs by name finds nothing.
    await page.goto(`${sa.url}/browse/runs?dag_id=secret_dag`);
    await expect.poll(() => page.locator("main").textContent()).toContain("No run matches.");

    await page.goto(`${sa.url}/browse/task-instances`);
    await expect.poll(() => dagsIn("browse-tis")).toEqual(["berlin_daily", "chatty"]);
    await page.getByLabel("State").selectOption("failed");
    await expect.poll(async () => (await page.getByTestId("browse-tis").locator("tbody tr").allTextContents()).join("|")).toMatch(/^[^|]*chatty[^|]*talk[^|]*$/);

    await page.goto(`${sa.url}/browse/xcoms`);
    await expect.poll(() => dagsIn("browse-xcoms")).toEqual(["berlin_daily"]);
    expect(await page.getByTestId("browse-xcoms").textContent()).not.toContain("classified");
    // A row opens its task instance on the DAG's grid.
    await page.getByTestId("browse-xcoms").getByRole("link", { name: "nap" }).first().click();
    await page.waitForURL(/\/dags\/berlin_daily\/grid\?run=.*&task=nap/);
    await page.getByTestId("task-panel").waitFor();

    // The same pages for the Admin include the secret DAG.
    const admin = await loggedInPage(browser, sa.url, "admin", sa.adminPassword);
    await admin.goto(`${sa.url}/browse/xcoms`);
    await expect.poll(async () => [...new Set(await admin.getByTestId("browse-xcoms").locator("tbody tr[data-dag-id]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-dag-id"))))].sort()).toEqual(["berlin_daily", "secret_dag"]);
    expect(page.errors).toEqual([]);
    expect(admin.errors).toEqual([]);
  });

  it("triggers from a row of the DAG list with the DAG's form, whose formats are checked as one types; a Viewer has no such button", async () => {
    const page = await loggedInPage(browser, sa.url, "admin", sa.adminPassword);
    await page.evaluate(() => {
      const w = globalThis as unknown as { __csp: string[]; document: { addEventListener(t: string, f: (e: { violatedDirective: string }) => void): void } };
      w.__csp = [];
      w.document.addEventListener("securitypolicyviolation", (e) => w.__csp.push(e.violatedDirective));
    });
    const row = page.locator('tr[data-dag-id="berlin_daily"]');
    await row.getByRole("button", { name: "Trigger berlin_daily" }).click();
    const dialog = page.getByRole("dialog", { name: "Trigger berlin_daily" });
    const day = dialog.getByLabel(/^day/);
    await day.fill("01/01/2021");
    await expect.poll(() => dialog.locator(".field-error").allTextContents()).toEqual(["must be a date as YYYY-MM-DD"]);
    expect(await page.getByTestId("trigger-submit").isDisabled()).toBe(true);
    await day.fill("2026-02-30"); // no such day
    await expect.poll(() => dialog.locator(".field-error").count()).toBe(1);
    await day.fill("2026-02-28");
    await dialog.getByLabel(/^contact/).fill("not an address");
    await expect.poll(() => dialog.locator(".field-error").allTextContents()).toEqual(["must be an email address"]);
    await dialog.getByLabel(/^contact/).fill("data@example.com");
    await expect.poll(() => dialog.locator(".field-error").count()).toBe(0);
    await page.getByTestId("trigger-submit").click();

    const notice = page.getByTestId("triggered");
    await expect.poll(() => notice.textContent(), { timeout: 20_000 }).toContain("was created");
    const runId = (await notice.getByRole("link").textContent())!;
    const run = await call<{ conf: Record<string, unknown>; dag_id: string }>("GET", `/dags/berlin_daily/dagRuns/${encodeURIComponent(runId)}`);
    expect(run.conf).toMatchObject({ day: "2026-02-28", contact: "data@example.com" });
    expect(await page.evaluate(() => (globalThis as unknown as { __csp: string[] }).__csp)).toEqual([]);
    expect(page.errors).toEqual([]);

    const viewer = await loggedInPage(browser, sa.url, "vic", "viewer-password-1");
    await viewer.locator('tr[data-dag-id="berlin_daily"]').waitFor();
    expect(await viewer.getByTestId("trigger-row").count()).toBe(0);
  });

  it("the log opens full screen and downloads whole, every page of it; the failed try's stack hides Updraft's frames until asked", async () => {
    const page = await loggedInPage(browser, sa.url, "admin", sa.adminPassword);
    await page.goto(`${sa.url}/dags/chatty/grid?run=talk-1&task=talk`);
    await expect.poll(() => page.getByTestId("log").textContent(), { timeout: 20_000 }).toContain("line 2500 of 2500");

    await page.getByTestId("log-full-screen").click();
    const full = page.getByTestId("log-full");
    await expect.poll(() => full.textContent()).toContain("line 2500 of 2500");
    const box = (await full.boundingBox())!;
    expect(box.height).toBeGreaterThan(600); // the window is 900 px high; the panel's log is 380
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByTestId("log-download").click()]);
    expect(download.suggestedFilename()).toBe("chatty__talk-1__talk__try-1.log");
    const text = readFileSync((await download.path())!, "utf8");
    const lines = text.trimEnd().split("\n");
    expect(lines.filter((l) => / INFO line \d+ of 2500$/.test(l))).toHaveLength(2500);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO line 1 of 2500$/);
    expect(text).toContain("ERROR failed: Error: total is 2500, expected 0");
    await page.keyboard.press("Escape");
    await expect.poll(() => full.count()).toBe(0);

    const stack = page.getByTestId("stack");
    await expect.poll(() => stack.textContent()).toContain("at checkTotal (");
    expect(await stack.textContent()).toMatch(/chatty\.ts:\d+:\d+/);
    expect(await stack.textContent()).not.toMatch(/run-try|runner-main/);
    await page.getByTestId("stack-toggle").check();
    await expect.poll(() => stack.textContent()).toMatch(/run-try\.ts:\d+/);
    await page.getByTestId("stack-toggle").uncheck();
    await expect.poll(() => stack.textContent()).not.toMatch(/run-try/);
    // The try's log line shows the author's frames only.
    expect(await page.getByTestId("log").textContent()).not.toMatch(/run-try|runner-main/);
    expect(page.errors).toEqual([]);
  });
});
