/**
 * The README promises Node.js 20.19 or later: every package `npm ci` installs must accept it, so a
 * fresh install prints no EBADENGINE warning (and runs nothing that needs a newer Node).
 */
import { readFileSync } from "node:fs";
import semver from "semver";
import { describe, expect, it } from "vitest";

const ROOT = new URL("../../", import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("package.json", ROOT), "utf8")) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(new URL("package-lock.json", ROOT), "utf8")) as { packages: Record<string, { engines?: { node?: string } | string[] }> };

describe("the Node.js version the README names", () => {
  it("is the package's own engines.node, and every locked package accepts it", () => {
    const readme = readFileSync(new URL("README.md", ROOT), "utf8");
    const promised = /Node\.js (\d+\.\d+) or later/.exec(readme)?.[1];
    expect(promised, "the README's quick start names a Node.js version").toBeTruthy();
    const lowest = `${promised}.0`;
    expect(semver.minVersion(pkg.engines.node)?.version).toBe(lowest);
    const refusing = Object.entries(lock.packages).flatMap(([path, entry]) => {
      const range = entry.engines && !Array.isArray(entry.engines) ? entry.engines.node : undefined;
      return path !== "" && range && !semver.satisfies(lowest, range) ? [`${path.replace(/^node_modules\//, "")} wants node ${range}`] : [];
    });
    expect(refusing, `these packages refuse Node ${lowest}: pick versions (or overrides) that accept it`).toEqual([]);
  });
});
