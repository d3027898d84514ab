/**
 * Updraft's own logs (not task logs): pino, structured JSON on stderr, or readable lines when
 * stderr is a terminal (or UPDRAFT_LOG_FORMAT=pretty). stdout stays free for command output.
 */
import { writeSync } from "node:fs";
import { createRequire } from "node:module";
import { pino, type DestinationStream, type Logger } from "pino";
import type { prettyFactory as PrettyFactory } from "pino-pretty";

const require = createRequire(import.meta.url);

export type { Logger };

export function createLogger(level: string, options: { format?: "json" | "pretty"; name?: string } = {}): Logger {
  const format = options.format ?? (process.env.UPDRAFT_LOG_FORMAT === "json" ? "json" : process.env.UPDRAFT_LOG_FORMAT === "pretty" || process.stderr.isTTY ? "pretty" : "json");
  const base = { level, ...(options.name ? { name: options.name } : {}), base: undefined as undefined | Record<string, unknown> };
  // pino-pretty loads only for a terminal (or when asked for): JSON logs never pay for it.
  const pretty = format === "pretty" ? (require("pino-pretty") as { prettyFactory: typeof PrettyFactory }).prettyFactory({ ignore: "pid,hostname", translateTime: "HH:MM:ss.l" }) : null;
  return pino(base, stderrSink(pretty ? (line) => pretty(line) : (line) => line));
}

/**
 * Lines go to stderr with one write each, as Node writes stderr anyway. A write that fails
 * (stderr redirected to a file on a full disk, a closed pipe) drops the line instead of
 * throwing into the code that logged or stalling the process: logging never stops Updraft. The
 * first line that gets through again says how many were lost.
 */
export function stderrSink(format: (line: string) => string, fd = 2): DestinationStream {
  let dropped = 0;
  const put = (text: string) => {
    const buffer = Buffer.from(text);
    for (let offset = 0; offset < buffer.length; ) offset += writeSync(fd, buffer, offset);
  };
  return {
    write(line: string) {
      try {
        if (dropped > 0) {
          put(format(JSON.stringify({ level: 40, time: Date.now(), msg: `${dropped} log lines could not be written to stderr and were dropped` }) + "\n"));
          dropped = 0;
        }
        put(format(line));
      } catch {
        dropped++;
      }
    },
  };
}

/** A logger that drops everything, for tests and one-shot commands. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
