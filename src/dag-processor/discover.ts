/** Finds DAG files: source files that mention both "updraft" and "dag", like Airflow's safe mode. */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";

const EXTENSIONS = /\.(ts|mts|cts|js|mjs|cjs)$/;
const SKIP_FILE = /(\.d\.[mc]?ts|\.(test|spec)\.[mc]?[jt]s)$/;
const IGNORE_FILE = ".updraftignore";

/** The largest DAG file the processor imports; a larger one is an import error. */
export const MAX_DAG_FILE_BYTES = 5 * 1024 * 1024;
/** How much of a file over the limit is read to tell whether it is meant as a DAG file. */
const HEAD_BYTES = 1024 * 1024;

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

/** Whether the file mentions both words; of a file over the size limit only its head is read. */
function mightHoldDags(file: string): boolean {
  try {
    const text = (statSync(file).size > MAX_DAG_FILE_BYTES ? readHead(file, HEAD_BYTES) : readFileSync(file, "utf8")).toLowerCase();
    return text.includes("updraft") && text.includes("dag");
  } catch {
    return false;
  }
}

function readHead(file: string, bytes: number): string {
  const fd = openSync(file, "r");
  try {
    const buffer = Buffer.alloc(bytes);
    return buffer.toString("utf8", 0, readSync(fd, buffer, 0, bytes, 0));
  } finally {
    closeSync(fd);
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
