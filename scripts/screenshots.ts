/**
 * `npm run screenshots`: the main pages of the web UI, with data, saved to docs/screenshots/
 * (the README shows them). A real standalone with the example DAGs and a few runs; Chromium.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchBrowser, loggedInPage, REPO_ROOT, startStandalone } from "../test/ui/harness.js";

const OUT = join(REPO_ROOT, "docs", "screenshots");

const FLAKY = `
  import { dag, task } from "updraft";
  const fetchRates = task({ id: "fetch_rates", run: (_: void, ctx) => { ctx.log.info("asking the rates service"); if (ctx.tryNumber < 3) throw new Error("rates service busy (503)"); return { eur: 1 }; }, retries: 0 });
  const report = task({ id: "report", run: (r: { eur: number }) => r.eur });
  export default dag({ id: "flaky_rates", tags: ["demo"], description: "Fails until cleared twice" }, () => { report(fetchRates()); });
`;

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const sa = await startStandalone({ extraDags: { "flaky_rates.ts": FLAKY } });
  const browser = await launchBrowser();
  try {
    const token = await sa.adminToken();
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await sa.api(method, path, body, token);
      if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.json)}`);
      return res.json as Record<string, unknown>;
    };
    const demoDags = ["orders_etl", "bash_pipeline", "regional_sales_report", "flaky_rates"];
    for (let i = 0; ; i++) {
      // Every DAG the pictures use (the processor registers the files one by one).
      const found = await Promise.all(demoDags.map(async (d) => (await sa.api("GET", `/dags/${d}`, undefined, token)).status === 200));
      if (found.every(Boolean)) break;
      if (i > 200) throw new Error("DAGs not registered");
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const dag of demoDags) await call("PATCH", `/dags/${dag}`, { is_paused: false });
    for (const region of ["eu", "us", "apac"]) await call("POST", "/dags/orders_etl/dagRuns", { conf: { region }, note: `${region} load` });
    await call("POST", "/dags/bash_pipeline/dagRuns", {});
    await call("POST", "/dags/regional_sales_report/dagRuns", {});
    await call("POST", "/dags/flaky_rates/dagRuns", { dag_run_id: "nightly-1" });
    await call("POST", "/connections", { connection_id: "warehouse", conn_type: "postgres", host: "db.internal", port: 5432, login: "etl", password: "not-shown", schema: "analytics", description: "The analytics warehouse" });
    await call("POST", "/variables", { key: "rates_api_url", value: "https://rates.example.com/v2", description: "Where exchange rates come from" });
    await call("POST", "/variables", { key: "rates_api_token", value: "s3cr3t", is_secret: true });
    await call("POST", "/pools", { name: "warehouse", slots: 4, description: "Connections the warehouse allows" });
    await call("POST", "/users", { username: "vera", password: "viewer-password-123", roles: ["Viewer"], email: "vera@example.com" });
    await call("POST", "/tokens", { name: "ci-deploys", expires_in_days: 30 });
    await new Promise((r) => setTimeout(r, 6_000)); // the runs finish (bash_pipeline retries once)

    // One logged-in page per theme (each login is a line in the audit log).
    const pages = new Map<string, Awaited<ReturnType<typeof loggedInPage>>>();
    const pageFor = async (theme: "light" | "dark") => {
      let page = pages.get(theme);
      if (!page) {
        page = await loggedInPage(browser, sa.url, "admin", sa.adminPassword);
        await page.evaluate((t) => (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage.setItem("updraft.theme", t), theme);
        pages.set(theme, page);
      }
      return page;
    };
    const shoot = async (name: string, path: string, options: { theme?: "light" | "dark"; click?: string; wait?: string } = {}) => {
      const page = await pageFor(options.theme ?? "light");
      await page.goto(`${sa.url}${path}`);
      await page.waitForLoadState("networkidle");
      if (options.wait) await page.waitForSelector(options.wait);
      if (options.click) await page.click(options.click);
      await page.waitForTimeout(800);
      await page.screenshot({ path: join(OUT, `${name}.png`) });
      if (page.errors.length) throw new Error(`${name}: ${page.errors.join("; ")}`);
      console.log(`docs/screenshots/${name}.png`);
    };
    const loginPage = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await loginPage.goto(`${sa.url}/login`);
    await loginPage.screenshot({ path: join(OUT, "login.png") });
    await loginPage.close();
    console.log("docs/screenshots/login.png");

    const runs = (await call("GET", "/dags/flaky_rates/dagRuns")) as { dag_runs: Array<{ dag_run_id: string }> };
    const flakyRun = encodeURIComponent(runs.dag_runs[0]!.dag_run_id);
    const orders = (await call("GET", "/dags/orders_etl/dagRuns?limit=1")) as { dag_runs: Array<{ dag_run_id: string }> };
    const ordersRun = encodeURIComponent(orders.dag_runs[0]!.dag_run_id);

    await shoot("dags", "/dags", { wait: "[data-testid=dag-table]" });
    await shoot("dags-dark", "/dags", { theme: "dark", wait: "[data-testid=dag-table]" });
    await shoot("grid-task-log", `/dags/flaky_rates/grid?run=${flakyRun}&task=fetch_rates`, { wait: "[data-testid=log]" });
    await shoot("grid-run", `/dags/orders_etl/grid?run=${ordersRun}`, { wait: "[data-testid=run-panel]" });
    await shoot("log-full-screen", `/dags/flaky_rates/grid?run=${flakyRun}&task=fetch_rates`, { wait: "[data-testid=log]", click: "[data-testid=log-full-screen]" });
    await shoot("graph", `/dags/orders_etl/graph?run=${ordersRun}`);
    await shoot("gantt", `/dags/bash_pipeline/gantt`);
    await shoot("runs", "/dags/orders_etl/runs");
    await shoot("details", "/dags/orders_etl/details");
    await shoot("code", "/dags/orders_etl/code", { theme: "dark" });
    await shoot("trigger", "/dags/orders_etl/grid", { click: "[data-testid=trigger]" });
    await shoot("trigger-from-list", "/dags", { wait: "[data-testid=dag-table]", click: 'tr[data-dag-id="orders_etl"] [data-testid=trigger-row]' });
    await shoot("browse-runs", "/browse/runs", { wait: "[data-testid=browse-runs]" });
    await shoot("browse-task-instances", "/browse/task-instances", { wait: "[data-testid=browse-tis]" });
    await shoot("browse-xcoms", "/browse/xcoms", { wait: "[data-testid=browse-xcoms]" });
    await shoot("clear-confirm", `/dags/flaky_rates/grid?run=${flakyRun}&task=fetch_rates`, { wait: "[data-testid=clear-task]", click: "[data-testid=clear-task]" });
    for (const admin of ["connections", "variables", "pools", "users", "roles", "tokens", "audit"]) await shoot(`admin-${admin}`, `/admin/${admin}`);
  } finally {
    await browser.close();
    await sa.stop();
  }
}

await main();
