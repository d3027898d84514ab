/** What every command needs: the configuration, the store, output in text or JSON, confirmations. */
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { loadConfig, type Config, type ConfigKey, type LoadedConfig } from "../config/index.js";
import { openConfiguredStore } from "../runtime/index.js";
import type { Store } from "../store/connect.js";
import { checkJsonDepth } from "../util/json-depth.js";

export interface GlobalOptions {
  home?: string;
  dagsFolder?: string;
  databaseUrl?: string;
  json?: boolean;
}

export function loadCliConfig(command: Command, extra: Partial<Record<ConfigKey, unknown>> = {}): LoadedConfig {
  const o = command.optsWithGlobals<GlobalOptions>();
  const flags: Partial<Record<ConfigKey, unknown>> = { ...extra };
  if (o.home !== undefined) flags.home = o.home;
  if (o.dagsFolder !== undefined) flags.dagsFolder = o.dagsFolder;
  if (o.databaseUrl !== undefined) flags.databaseUrl = o.databaseUrl;
  return loadConfig(flags);
}

/** Opens the store (migrating it, so a fresh UPDRAFT_HOME just works), runs `fn`, closes it. */
export async function withStore<T>(config: Config, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openConfiguredStore(config, { migrate: true });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function isJson(command: Command): boolean {
  return command.optsWithGlobals<GlobalOptions>().json === true;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

/** A plain text table: a header and padded columns. Values are shown as text, never interpreted. */
export function printTable(rows: Array<Record<string, unknown>>, columns: string[]): void {
  if (rows.length === 0) {
    process.stdout.write("(none)\n");
    return;
  }
  const text = (v: unknown) => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v)).replace(/[\r\n\t]+/g, " ");
  const cells = rows.map((r) => columns.map((c) => text(r[c])));
  const widths = columns.map((c, i) => Math.min(60, Math.max(c.length, ...cells.map((row) => row[i]!.length))));
  const line = (values: string[]) => values.map((v, i) => (v.length > widths[i]! ? `${v.slice(0, widths[i]! - 1)}…` : v.padEnd(widths[i]!))).join("  ").trimEnd();
  process.stdout.write(`${line(columns)}\n${line(widths.map((w) => "-".repeat(w)))}\n${cells.map(line).join("\n")}\n`);
}

export function parseJsonOption(value: string, flag: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new CliUsageError(`${flag} is not valid JSON: ${(error as Error).message}`, `${flag} '{"key": "value"}'`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CliUsageError(`${flag} must be a JSON object`, `${flag} '{"key": "value"}'`);
  }
  checkJsonDepth(parsed, flag);
  return parsed as Record<string, unknown>;
}

export class CliUsageError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

/** All of stdin as text, one trailing newline dropped (secrets given by pipe, not by flag). */
export async function readStdinText(flag: string): Promise<string> {
  if (process.stdin.isTTY) throw new CliUsageError(`${flag} reads from a pipe, not a terminal`, `printf '%s' "$VALUE" | updraft … ${flag}`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

/** Reads a JSON file given on the command line ("-" for stdin); the message never quotes its content. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = file === "-" ? await readStdinText("-") : readFileSync(file, "utf8");
  } catch (error) {
    if (error instanceof CliUsageError) throw error;
    throw new CliUsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliUsageError(`${file} is not valid JSON: ${(error as Error).message.replace(/"[^"]*"/g, "…")}`, "the file must hold one JSON object");
  }
}

/** Writes a file that may hold secrets, readable by its owner only ("-": stdout). */
export function writePrivateFile(file: string, text: string): void {
  if (file === "-") {
    process.stdout.write(text);
    return;
  }
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/**
 * Asks a yes/no question on the terminal (the question on stderr, so stdout stays the command's
 * output); true only for "y" or "yes". Without a terminal on stdin nobody can answer: refuses
 * with `refusal` and `hint` (which names the flag that confirms up front) rather than guess.
 */
export async function confirm(question: string, refusal: { refusal: string; hint: string }): Promise<boolean> {
  if (!process.stdin.isTTY) throw new CliUsageError(`${refusal.refusal}, and stdin is not a terminal to ask on`, refusal.hint);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await new Promise<boolean>((resolve) => {
      rl.once("close", () => resolve(false));
      rl.question(`${question} [y/N] `, (answer) => resolve(/^\s*y(es)?\s*$/i.test(answer)));
    });
  } finally {
    rl.close();
  }
}
