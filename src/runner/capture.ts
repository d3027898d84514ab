/**
 * Routes everything a try prints (console, process.stdout/stderr, ctx.log) into its log, in
 * lines, flushed to the executor in batches. Each line goes through the try's secrets masker
 * before it is kept.
 */
import { format } from "node:util";
import { SecretMasker } from "./masker.js";
import type { LogLine } from "./protocol.js";

const MAX_LINES_PER_TRY = 100_000;
const MAX_LINE_CHARS = 64 * 1024;
const FLUSH_MS = 100;

export class LogCapture {
  #lines: LogLine[] = [];
  #partial: Record<"stdout" | "stderr", string> = { stdout: "", stderr: "" };
  #count = 0;
  #timer: NodeJS.Timeout | null = null;
  readonly #send: (lines: LogLine[]) => void;
  /** The secrets this try read, masked in every line. */
  readonly masker: SecretMasker;

  constructor(send: (lines: LogLine[]) => void, masker = new SecretMasker()) {
    this.#send = send;
    this.masker = masker;
  }

  line(stream: LogLine["stream"], level: LogLine["level"], raw: string): void {
    if (this.#count >= MAX_LINES_PER_TRY) return;
    this.#count++;
    // Masked before it is cut, so that a cut cannot leave part of a secret behind.
    const message = this.masker.active ? this.masker.mask(raw) : raw;
    const text = message.length > MAX_LINE_CHARS ? `${message.slice(0, MAX_LINE_CHARS)}… (line cut at ${MAX_LINE_CHARS} characters)` : message;
    this.#lines.push({ ts: Date.now(), stream, level, message: text });
    if (this.#count === MAX_LINES_PER_TRY) {
      this.#lines.push({ ts: Date.now(), stream: "log", level: "warn", message: `log cut after ${MAX_LINES_PER_TRY} lines` });
    }
    if (this.#lines.length >= 500) this.flush();
    else if (!this.#timer) this.#timer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  write(stream: "stdout" | "stderr", chunk: string): void {
    const text = this.#partial[stream] + chunk;
    const parts = text.split("\n");
    this.#partial[stream] = parts.pop() ?? "";
    for (const part of parts) this.line(stream, stream === "stderr" ? "warn" : "info", part.replace(/\r$/, ""));
    if (this.#partial[stream].length > MAX_LINE_CHARS) {
      this.line(stream, "info", this.#partial[stream]);
      this.#partial[stream] = "";
    }
  }

  log(level: LogLine["level"], args: unknown[]): void {
    for (const part of format(...args).split("\n")) this.line("log", level, part);
  }

  /** Sends what is buffered, including unfinished lines when `final`. */
  flush(final = false): void {
    const lines = this.take(final);
    if (lines.length > 0) this.#send(lines);
  }

  /** What is buffered, for the caller to send (the last lines go with the try's result). */
  take(final = false): LogLine[] {
    if (final) {
      for (const stream of ["stdout", "stderr"] as const) {
        if (this.#partial[stream]) this.line(stream, stream === "stderr" ? "warn" : "info", this.#partial[stream]);
        this.#partial[stream] = "";
      }
    }
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const lines = this.#lines;
    this.#lines = [];
    return lines;
  }
}
