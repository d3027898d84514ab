/** Finds DAG files: source files that mention both "updraft" and "dag", like Airflow's safe mode. */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";

const EXTENSIONS = /\.(ts|mts|cts|js|mjs|cjs)$/;
const SKIP_FILE = /(\.d\.[mc]?ts|\.(test|spec)\.[mc]?[jt]s)$/;
const IGNORE_FILE = ".updraftignore";

/**
 * Relative paths ("/" separated) of the DAG files under `folder`. A `.updraftignore` file holds
 * one regular expression per line; matching paths (relative to the folder) are skipped.
 */
export function discoverDagFiles(folder: string): string[] {
  if (!existsSync(folder)) return [];
  const ignores = readIgnores(folder);
  const found: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const full = join(dir, entry.name);
      const rel = relative(folder, full).split(sep).join("/");
      if (ignores.some((re) => re.test(rel))) continue;
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && EXTENSIONS.test(entry.name) && !SKIP_FILE.test(entry.name) && mightHoldDags(full)) found.push(rel);
    }
  };
  walk(folder);
  return found.sort();
}

function mightHoldDags(file: string): boolean {
  try {
    if (statSync(file).size > 5 * 1024 * 1024) return false;
    const text = readFileSync(file, "utf8").toLowerCase();
    return text.includes("updraft") && text.includes("dag");
  } catch {
    return false;
  }
}

function readIgnores(folder: string): RegExp[] {
  const file = join(folder, IGNORE_FILE);
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .flatMap((l) => {
      try {
        return [new RegExp(l)];
      } catch {
        return [];
      }
    });
}
