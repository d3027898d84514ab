/**
 * The web UI in a real browser against a real `updraft standalone` with the example DAGs:
 * logging in, triggering from the form and watching the run live, a failing task's log, clearing
 * it and watching the retry, what a Viewer may not do, and DAG-supplied text that must stay text.
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserEnabled } from "../helpers/services.js";
import { eventually } from "../api/helpers.js";
import { launchBrowser, loggedInPage, startStandalone, UI_INDEX, type Standalone } from "./harness.js";

const ENABLED = await browserEnabled(UI_INDEX);

/** Fails on its first try (with a log line saying so), succeeds on any later one. */
const FLAKY = `
  import { dag, task } from "updraft";
  const wobbly = task({
    id: "wobbly",
    run: (_: void, ctx) => {
      ctx.log.info("try " + ctx.tryNumber + " of wobbly");
      if (ctx.tryNumber === 1) throw new Error("first try fails on purpose");
      return "steady now";
    },
  });
  export default dag({ id: "flaky_demo", tags: ["test"] }, () => { wobbly(); });
`;

const XSS = `<img src=x onerror="window.__pwned='IMG'"><script>window.__pwned='SCRIPT'</script>`;
const q = (text: string) => JSON.stringify(text);
/** Every text a DAG author or a caller controls carries markup that must never run. */
const HOSTILE = `
  import { dag, task } from "updraft";
  const say = task({ id: "say", run: (_: void, ctx) => { ctx.log.info(${q(XSS)}); return ${q(XSS)}; } });
  export default dag({
    id: "hostile_demo",
    description: ${q(XSS)},
    docMd: ${q(`# Notes\n\n${XSS}\n\n[click](javascript:window.__pwned='LINK')`)},
    params: { note: { type: "string", default: ${q(XSS)}, description: ${q(XSS)} } },
  }, () => { say(); });
`;

const RUN_ID_XSS = "<img src=x onerror=window.__pwned='RUNID'>";

let sa: Standalone;
let browser: Browser;

describe.runIf(ENABLED)("web UI in Chromium against standalone", () => {
  beforeAll(async () => {
    [sa, browser] = await Promise.all([startStandalone({ extraDags: { "flaky_demo.ts": FLAKY, "hostile_demo.ts": HOSTILE } }), launchBrowser()]);
    // The DAG processor registers the files within a second of the start.
    const token = await sa.adminToken();
    await eventually(async () => {
      const res = await sa.api<{ dags: Array<{ dag_id: string }> }>("GET", "/dags?limit=100", undefined, token);
      expect(res.json.dags.map((d) => d.dag_id)).toEqual(expect.arrayContaining(["orders_etl", "flaky_demo", "hostile_demo"]));
    }, 30_000);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await sa?.stop();
  });

  it("logs in, unpauses a DAG and triggers it from the params form, then sees the run reach success without a reload", async () => {
    const page = await loggedInPage(browser, sa.url, "admin", sa.adminPassword);
    await expect.poll(() => page.getByTestId("user-menu").textContent()).toContain("admin (Admin)");

    const row = page.locator('tr[data-dag-id="orders_etl"]');
    const toggle = row.getByRole("switch");
    expect(await toggle.getAttribute("aria-checked")).toBe("false");
    await toggle.click();
    await expect.poll(() => toggle.getAttribute("aria-checked")).toBe("true");

    await row.getByRole("link", { name: "orders_etl" }).click();
    await page.waitForURL(/\/dags\/orders_etl/);
    await page.getByTestId("trigger").click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel(/region/).selectOption({ label: "us" });
    await dialog.getByLabel(/minAmountEur/).fill("-5");
    await expect.poll(() => dialog.locator(".field-error").first().textContent()).toContain("at least 0");
    expect(await page.getByTestId("trigger-submit").isDisabled()).toBe(true);
    await dialog.getByLabel(/minAmountEur/).fill("10");
    await page.getByTestId("trigger-submit").click();
    await page.waitForURL(/run=manual__/);
    const runId = new URL(page.url()).searchParams.get("run")!;

    const panel = page.getByTestId("run-panel");
    await expect.poll(() => panel.locator("header .badge").textContent(), { timeout: 30_000 }).toBe("success");
    expect(await panel.locator(".json").textContent()).toContain('"region": "us"');
    // The grid's cells of that run turned green as the events came.
    const cells = page.locator(`[data-testid=grid] .grid-row button[aria-label$="in ${runId}: success"]`);
    await expect.poll(() => cells.count()).toBe(3);
    const api = await sa.api<{ state: string; conf: Record<string, unknown> }>("GET", `/dags/orders_etl/dagRuns/${encodeURIComponent(runId)}`, undefined, await sa.adminToken());
    expect(api.json).toMatchObject({ state: "success", conf: { region: "us", minAmountEur: 10 } });
    expect(page.errors).toEqual([]);
  });

  it("shows a failing task's log and error; clearing it from the panel runs it again, and the new try appears live", async () => {
    const token = await sa.adminToken();
    expect((await sa.api("PATCH", "/dags/flaky_demo", { is_paused: false }, token)).status).toBe(200);
    const run = await sa.api<{ dag_run_id: string }>("POST", "/dags/flaky_demo/dagRuns", { dag_run_id: "flaky-1" }, token);
    expect(run.status).toBe(200);
    await eventually(async () => expect((await sa.api<{ state: string }>("GET", "/dags/flaky_demo/dagRuns/flaky-1", undefined, token)).json.state).toBe("failed"), 30_000);

    const page = await loggedInPage(browser, sa.url, "admin", sa.adminPassword);
    await page.goto(`${sa.url}/dags/flaky_demo/grid?run=flaky-1&task=wobbly`);
    const panel = page.getByTestId("task-panel");
    await expect.poll(() => panel.locator("header .badge").textContent()).toBe("failed");
    await expect.poll(() => page.getByTestId("log").textContent()).toContain("try 1 of wobbly");
    expect(await panel.textContent()).toContain("first try fails on purpose");

    await page.getByTestId("clear-task").click();
    const dialog = page.getByRole("dialog");
    await expect.poll(() => dialog.getByTestId("change-list").textContent()).toContain("wobbly");
    await dialog.getByRole("button", { name: "Clear", exact: true }).click();

    await expect.poll(() => panel.locator("header .badge").textContent(), { timeout: 30_000 }).toBe("success");
    await expect.poll(() => panel.getByRole("button", { name: /#2/ }).count()).toBe(1);
    await expect.poll(() => page.getByTestId("log").textContent()).toContain("try 2 of wobbly");
    expect(page.errors).toEqual([]);
  });

  it("a Viewer sees no trigger, clear, mark or pause control, nor the admin pages, and the API refuses those calls", async () => {
    const token = await sa.adminToken();
    const created = await sa.api("POST", "/users", { username: "vera", password: "viewer-password-123", roles: ["Viewer"] }, token);
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const run = await sa.api("POST", "/dags/flaky_demo/dagRuns", { dag_run_id: "flaky-viewer" }, token);
    expect(run.status).toBe(200);

    const page = await loggedInPage(browser, sa.url, "vera", "viewer-password-123");
    await expect.poll(() => page.getByTestId("user-menu").textContent()).toContain("vera (Viewer)");
    expect(await page.locator('tr[data-dag-id="flaky_demo"]').getByRole("switch").isDisabled()).toBe(true);
    expect(await page.locator("nav").getByRole("link", { name: "Connections" }).count()).toBe(0);
    expect(await page.locator("nav").getByRole("link", { name: "Audit log" }).count()).toBe(0);

    await page.goto(`${sa.url}/dags/flaky_demo/grid?run=flaky-viewer&task=wobbly`);
    await page.getByTestId("task-panel").waitFor();
    await page.getByTestId("log").waitFor();
    expect(await page.getByTestId("trigger").count()).toBe(0);
    expect(await page.getByTestId("clear-task").count()).toBe(0);
    expect(await page.getByRole("button", { name: /Mark (success|failed)/ }).count()).toBe(0);
    await page.goto(`${sa.url}/dags/flaky_demo/grid?run=flaky-viewer`);
    await page.getByTestId("run-panel").waitFor();
    expect(await page.getByTestId("clear-run").count()).toBe(0);

    const viewer = await sa.api<{ access_token: string }>("POST", "/auth/login", { username: "vera", password: "viewer-password-123" });
    const v = viewer.json.access_token;
    expect((await sa.api("POST", "/dags/flaky_demo/dagRuns", {}, v)).status).toBe(403);
    expect((await sa.api("POST", "/dags/flaky_demo/clearTaskInstances", { dag_run_id: "flaky-viewer", dry_run: false }, v)).status).toBe(403);
    expect((await sa.api("PATCH", "/dags/flaky_demo", { is_paused: true }, v)).status).toBe(403);
    expect(page.errors).toEqual([]);
  });

  it("markup in a DAG's description, docMd, a param, a refused run id, a log line and an XCom is shown as text and never runs", async () => {
    const token = await sa.adminToken();
    expect((await sa.api("PATCH", "/dags/hostile_demo", { is_paused: false }, token)).status).toBe(200);
    // A run id is letters, digits and "_ . : + ~ -": markup never becomes one.
    const refused = await sa.api<{ code: string }>("POST", "/dags/hostile_demo/dagRuns", { dag_run_id: RUN_ID_XSS }, token);
    expect([refused.status, refused.json.code]).toEqual([400, "UPDRAFT_E_INVALID_ID"]);
    const run = await sa.api<{ dag_run_id: string }>("POST", "/dags/hostile_demo/dagRuns", { dag_run_id: "hostile-1" }, token);
    expect(run.status, JSON.stringify(run.json)).toBe(200);
    await eventually(async () => expect((await sa.api<{ state: string }>("GET", "/dags/hostile_demo/dagRuns/hostile-1", undefined, token)).json.state).toBe("success"), 30_000);

    const page = await loggedInPage(browser, sa.url, "admin", sa.adminPassword);
    const dialogs: string[] = [];
    page.on("dialog", (d) => void (dialogs.push(d.message()), d.dismiss()));
    const pwned = () => page.evaluate(() => (globalThis as unknown as { __pwned?: unknown }).__pwned ?? null);

    // The list: the description.
    await expect.poll(() => page.locator('tr[data-dag-id="hostile_demo"]').textContent()).toContain("<script>window.__pwned='SCRIPT'</script>");
    // Details: docMd and the param's default and description.
    await page.goto(`${sa.url}/dags/hostile_demo/details`);
    await expect.poll(() => page.locator("main").textContent()).toContain("window.__pwned='SCRIPT'");
    const link = page.getByRole("link", { name: "click" });
    if ((await link.count()) > 0) expect(await link.getAttribute("href")).not.toMatch(/^javascript:/i);
    // The trigger form: the param's description and default; a run id with markup comes back as an error, in text.
    await page.getByTestId("trigger").click();
    const dialog = page.getByRole("dialog");
    await expect.poll(() => dialog.textContent()).toContain("window.__pwned='IMG'");
    expect(await dialog.locator("input#param-note").inputValue()).toBe(XSS);
    await dialog.getByText("Run id, logical date and note").click();
    await dialog.getByPlaceholder("manual__<logical date>").fill(RUN_ID_XSS);
    await page.getByTestId("trigger-submit").click();
    await expect.poll(() => dialog.getByRole("alert").textContent()).toContain(RUN_ID_XSS);
    await page.keyboard.press("Escape");
    // The grid and the panels: the log line and the XCom.
    await page.goto(`${sa.url}/dags/hostile_demo/grid?run=hostile-1&task=say`);
    await expect.poll(() => page.getByTestId("log").textContent()).toContain("<script>window.__pwned='SCRIPT'</script>");
    await expect.poll(() => page.getByTestId("task-panel").locator(".json").textContent()).toContain("window.__pwned='IMG'");
    await page.goto(`${sa.url}/dags/hostile_demo/runs`);
    await expect.poll(() => page.locator("main").textContent()).toContain("hostile-1");
    await page.goto(`${sa.url}/dags/hostile_demo/code`);
    await expect.poll(() => page.locator("main").textContent()).toContain("__pwned");

    await page.waitForTimeout(500);
    expect(await pwned()).toBeNull();
    expect(dialogs).toEqual([]);
    expect(await page.locator("main img[src=x]").count()).toBe(0);
    expect(page.errors).toEqual([]);
  });
});

describe.runIf(ENABLED)("sessions across tabs", () => {
  let short: Standalone | undefined;
  let tabsBrowser: Browser | undefined;
  afterAll(async () => {
    await tabsBrowser?.close();
    await short?.stop();
  });

  it("two tabs of one browser stay logged in while their access tokens expire and live events make both refetch at once", async () => {
    // Access tokens of one second (plus the server's 5 s clock tolerance): they expire during the test.
    short = await startStandalone({ examples: false, extraDags: { "flaky_demo.ts": FLAKY }, env: { UPDRAFT_ACCESS_TOKEN_TTL: "1s" } });
    const token = async () => (await short!.api<{ access_token: string }>("POST", "/auth/login", { username: "admin", password: short!.adminPassword })).json.access_token;
    await eventually(async () => expect((await short!.api("GET", "/dags/flaky_demo", undefined, await token())).status).toBe(200), 30_000);
    expect((await short.api("PATCH", "/dags/flaky_demo", { is_paused: false }, await token())).status).toBe(200);

    tabsBrowser = await launchBrowser();
    const first = await loggedInPage(tabsBrowser, short.url, "admin", short.adminPassword);
    const second = await first.context().newPage();
    const trace: string[] = [];
    for (const [name, page] of [["first", first], ["second", second]] as const) {
      page.on("response", (r) => r.url().includes("/api/") && trace.push(`${Date.now() % 100000} ${name} ${r.status()} ${r.request().method()} ${r.url().replace(short!.url, "")}`));
      page.on("websocket", (ws) => {
        trace.push(`${Date.now() % 100000} ${name} ws open`);
        ws.on("close", () => trace.push(`${Date.now() % 100000} ${name} ws close`));
      });
    }
    await first.goto(`${short.url}/dags/flaky_demo/grid`);
    await second.goto(`${short.url}/dags/flaky_demo/grid`);
    for (const page of [first, second]) await page.getByTestId("grid").waitFor();

    for (let round = 1; round <= 2; round++) {
      await new Promise((r) => setTimeout(r, 7_000));
      // A new run: both tabs get its events and refetch with expired tokens at the same moment.
      expect((await short.api("POST", "/dags/flaky_demo/dagRuns", { dag_run_id: `tabs-${round}` }, await token())).status).toBe(200);
      for (const page of [first, second]) {
        try {
          await expect.poll(() => page.locator(`[data-testid=grid] [data-run-id="tabs-${round}"]`).count(), { timeout: 20_000 }).toBe(1);
        } catch (error) {
          throw new Error(`round ${round}: ${page.url()}\n${trace.join("\n")}`, { cause: error });
        }
        expect(new URL(page.url()).pathname).toBe("/dags/flaky_demo/grid");
      }
    }
    // The session survived: the server still takes the tabs' stored refresh token.
    const stored = await first.evaluate(() => (globalThis as unknown as { localStorage: { getItem(k: string): string | null } }).localStorage.getItem("updraft.session"));
    const refreshed = await short.api("POST", "/auth/refresh", { refresh_token: (JSON.parse(stored!) as { refresh_token: string }).refresh_token });
    expect(refreshed.status).toBe(200);
    expect([...first.errors]).toEqual([]);
  }, 90_000);
});
