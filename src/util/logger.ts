/**
 * Updraft's own logs (not task logs): pino, structured JSON on stderr, or readable lines when
 * stderr is a terminal (or UPDRAFT_LOG_FORMAT=pretty). stdout stays free for command output.
 */
import { pino, type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger };

export function createLogger(level: string, options: { format?: "json" | "pretty"; name?: string } = {}): Logger {
  const format = options.format ?? (process.env.UPDRAFT_LOG_FORMAT === "json" ? "json" : process.env.UPDRAFT_LOG_FORMAT === "pretty" || process.stderr.isTTY ? "pretty" : "json");
  const base = { level, ...(options.name ? { name: options.name } : {}), base: undefined as undefined | Record<string, unknown> };
  if (format === "pretty") {
    return pino(base, pretty({ destination: 2, sync: true, ignore: "pid,hostname", translateTime: "HH:MM:ss.l" }));
  }
  return pino(base, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything, for tests and one-shot commands. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
