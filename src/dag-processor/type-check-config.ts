/**
 * What type checking DAG files shares without loading TypeScript: the compiler options a DAGs
 * project starts from (`updraft init` writes them as its tsconfig.json, and `dags check` and the
 * DAG processor use them where a folder has no tsconfig.json), and the shape of a diagnostic.
 */
import { isAbsolute, relative, sep } from "node:path";

/**
 * Compiler options for DAG files, in tsconfig.json form. DAG files are bundled by esbuild, not
 * run by Node's loader, so they are checked as bundled code: ESM whatever the package.json says,
 * imports with or without an extension (`./helpers`, `./helpers.ts`), packages through their
 * `exports`. Strict, for Node 20, with Node's types.
 */
export const DAG_COMPILER_OPTIONS = {
  target: "es2022",
  lib: ["es2023"],
  module: "preserve",
  moduleResolution: "bundler",
  allowImportingTsExtensions: true,
  resolveJsonModule: true,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  isolatedModules: true,
  esModuleInterop: true,
  forceConsistentCasingInFileNames: true,
  types: ["node"],
} as const;

/** One type error, as the checker reports it (paths absolute). */
export interface TypeDiagnostic {
  /** Absolute path, or null for a diagnostic about the options. */
  file: string | null;
  /** 1-based, or null without a file. */
  line: number | null;
  column: number | null;
  /** TypeScript's number: 2345 for TS2345. */
  code: number;
  /** The message, its chain flattened; continuation lines indented by two spaces. */
  message: string;
}

/** `file` relative to `base` when it is inside it, else absolute. */
export function displayPath(file: string, base: string): string {
  const rel = relative(base, file);
  return rel === "" || rel.startsWith("..") || isAbsolute(rel) ? file : rel.split(sep).join("/");
}

/** `file:line:col - error TSxxxx: message`, as tsc prints it, with paths relative to `base`. */
export function formatDiagnostic(d: TypeDiagnostic, base: string): string {
  const where = d.file === null ? "" : `${displayPath(d.file, base)}${d.line === null ? "" : `:${d.line}:${d.column}`} - `;
  return `${where}error TS${d.code}: ${d.message}`;
}

/** Longest diagnostic kept in a stored message (a message about a huge type can run to megabytes). */
const MAX_DIAGNOSTIC_CHARS = 2_000;

/** Up to `max` diagnostics as lines, each cut at 2,000 characters, and how many were left out. */
export function formatDiagnostics(list: readonly TypeDiagnostic[], base: string, max = 50): string {
  const lines = list.slice(0, max).map((d) => {
    const line = formatDiagnostic(d, base);
    return line.length > MAX_DIAGNOSTIC_CHARS ? `${line.slice(0, MAX_DIAGNOSTIC_CHARS)}…` : line;
  });
  if (list.length > max) lines.push(`… and ${list.length - max} more type errors (updraft dags check lists them all)`);
  return lines.join("\n");
}
