/**
 * The DAG list's import banner in Chromium: a file that failed to import and a file whose DAG
 * registered with type errors (typeCheck "warn", the default) are both in it, the warning marked.
 * The page learns of the warning live (an import-warning event), without a reload.
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserEnabled } from "../helpers/services.js";
import { launchBrowser, loggedInPage, startStandalone, UI_INDEX, type Standalone } from "./harness.js";

const ENABLED = await browserEnabled(UI_INDEX);

const TYPED = `import { dag, task } from "updraft";
const two = task({ id: "two", run: () => 2 });
const upper = task({ id: "upper", run: (s: string) => s.toUpperCase() });
export default dag({ id: "typed" }, () => { upper(two()); });
`;
const BROKEN = `import { dag } from "updraft";\nexport default dag({ id: "broken" }, () => { ( });\n`;
const GOOD = `import { dag, task } from "updraft";
const one = task({ id: "one", run: () => 1 });
export default dag({ id: "good" }, () => { one(); });
`;

describe.runIf(ENABLED)("import banner in Chromium", () => {
  let sa: Standalone;
  let browser: Browser;
  beforeAll(async () => {
    sa = await startStandalone({ examples: false, extraDags: { "broken.ts": BROKEN, "good.ts": GOOD } });
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await sa?.stop();
  });

  it("lists the import error, and a type warning that arrives while the page is open", async () => {
    const page = await loggedInPage(browser, sa.url, "admin", sa.adminPassword);
    const banner = page.locator(".banner");
    await banner.getByText("1 DAG file failed to import").waitFor({ timeout: 30_000 });

    const { writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    writeFileSync(join(sa.dagsFolder, "typed.ts"), TYPED);
    await banner.getByText("1 DAG file failed to import · 1 DAG file has type errors").waitFor({ timeout: 90_000 });
    await banner.getByRole("button").click();
    const warning = banner.locator("li", { hasText: "typed.ts" });
    await warning.getByText("warning, its DAGs are registered", { exact: false }).waitFor({ timeout: 10_000 });
    expect(await warning.textContent()).toMatch(/UPDRAFT_E_TYPE_ERRORS/);
    expect(await warning.locator("pre").textContent()).toMatch(/typed\.ts:4:\d+ - error TS2345: /);
    const failed = banner.locator("li", { hasText: "broken.ts" });
    expect(await failed.textContent()).not.toContain("warning");
    // The DAG with the warning registered.
    await page.getByRole("link", { name: "typed", exact: true }).waitFor({ timeout: 30_000 });
    expect(page.errors).toEqual([]);
  }, 180_000);
});
