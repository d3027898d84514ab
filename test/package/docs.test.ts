/**
 * The repository's docs stand alone: every relative link of README.md and docs/*.md names a file
 * of the repository, and none points at the team's working papers outside it.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DOCS = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

describe("the docs", () => {
  it.each(DOCS)("%s links only to files that exist in the repository", (doc) => {
    const text = readFileSync(join(ROOT, doc), "utf8");
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:|#)/.test(target!)) continue;
      const path = resolve(dirname(join(ROOT, doc)), target!.split("#")[0]!);
      if (!path.startsWith(ROOT) || !existsSync(path)) broken.push(target!);
    }
    expect(broken).toEqual([]);
    // Files named in the text (not only in links) must be there too.
    const named = [...text.matchAll(/\b((?:docs\/)?[A-Z][A-Z-]+\.md)\b/g)].map((m) => m[1]!);
    const missing = named.filter((name) => !existsSync(join(ROOT, name)) && !existsSync(join(ROOT, "docs", name)));
    expect(missing, "documents named that the repository does not have").toEqual([]);
  });
});
