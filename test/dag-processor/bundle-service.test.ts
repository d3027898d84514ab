/** esbuild's service process is stopped when idle and comes back with the next build. */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bundleDagFile, stopBundleService } from "../../src/dag-processor/bundle.js";

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** esbuild service processes that are children of this test process. */
function esbuildChildren(): string[] {
  let out = "";
  try {
    out = execFileSync("pgrep", ["-P", String(process.pid), "-f", "esbuild --service"], { encoding: "utf8" });
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
  return out.split("\n").filter(Boolean);
}

describe("bundle service", () => {
  it("stops esbuild's process on request and starts it again for the next build", async () => {
    dir = mkdtempSync(join(tmpdir(), "updraft-bundle-"));
    const dags = join(dir, "dags");
    mkdirSync(dags);
    const file = join(dags, "one.ts");
    writeFileSync(file, `import { dag } from "updraft";\nexport default dag({ id: "one" }, () => {});\n`);

    const first = await bundleDagFile(file, dags, join(dir, "b"));
    expect("code" in first && first.code).toContain("one");
    expect(esbuildChildren()).toHaveLength(1);

    await stopBundleService();
    expect(esbuildChildren()).toEqual([]);

    writeFileSync(file, `import { dag } from "updraft";\nexport default dag({ id: "two" }, () => {});\n`);
    const second = await bundleDagFile(file, dags, join(dir, "b"));
    expect("code" in second && second.code).toContain("two");
    expect(esbuildChildren()).toHaveLength(1);
  });
});
