/**
 * Browser tests against a real `updraft standalone`: the built CLI started as a subprocess on a
 * free port with its own home and DAGs folder, and Debian's Chromium driven by playwright-core.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContextOptions, type Page } from "playwright-core";
import { CHROMIUM_PATH } from "../helpers/services.js";
import { REPO_ROOT, startStandaloneProcess, type StandaloneProcess } from "../helpers/standalone.js";

export { REPO_ROOT };
export const UI_INDEX = join(REPO_ROOT, "dist", "ui", "index.html");

export type Standalone = Pick<StandaloneProcess, "url" | "home" | "dagsFolder" | "adminPassword" | "adminToken" | "api" | "stop">;

/** Starts `updraft standalone` on the example DAGs plus `extraDags`, and waits for its URL; stop() also removes its home. */
export async function startStandalone(options: { extraDags?: Record<string, string>; examples?: boolean; env?: Record<string, string> } = {}): Promise<Standalone> {
  const home = mkdtempSync(join(tmpdir(), "updraft-ui-home-"));
  const dagsFolder = join(home, "dags");
  mkdirSync(dagsFolder);
  if (options.examples !== false) {
    const examples = join(REPO_ROOT, "examples", "dags");
    for (const file of readdirSync(examples)) if (file.endsWith(".ts")) copyFileSync(join(examples, file), join(dagsFolder, file));
  }
  for (const [name, source] of Object.entries(options.extraDags ?? {})) writeFileSync(join(dagsFolder, name), source);
  const standalone = await startStandaloneProcess({ home, dagsFolder, ...(options.env ? { env: options.env } : {}) });
  return {
    ...standalone,
    async stop() {
      await standalone.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/** A page that records script errors (a test asserts there are none) and logs in through the form. */
export async function loggedInPage(browser: Browser, base: string, username: string, password: string, contextOptions: BrowserContextOptions = {}): Promise<Page & { errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, ...contextOptions });
  const page = (await context.newPage()) as Page & { errors: string[] };
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  await page.goto(`${base}/login`);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/dags$/);
  return page;
}
