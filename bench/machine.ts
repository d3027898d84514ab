/**
 * The machine's own speed, printed with every bench so that figures of different runs (or of a
 * shared VM in a slow spell) can be told apart from changes of Updraft. Each probe is what a
 * chain task pays for beside Updraft's own code (see docs/BENCHMARKS.md, "what bounds the chain"):
 * - a message to a child process and its answer, back to back and after 400 µs of work (a
 *   scheduler tick): a CPU left idle for long is halted by the guest, and waking it is dear;
 * - a WAL frame's two writes (a 24-byte header and a 4 KiB page, appended), as SQLite commits;
 * - plain JavaScript: JSON of a try's payload, there and back.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface MachineProbe {
  name: string;
  micros: number;
  detail: string;
}

const ECHO = `process.on("message", (m) => process.send(m));`;

/** Median microseconds per round trip with `workMicros` of busy work before each message. */
async function pingPong(rounds: number, workMicros: number): Promise<number> {
  const child = spawn(process.execPath, ["-e", ECHO], { serialization: "json", stdio: ["ignore", "ignore", "ignore", "ipc"] });
  try {
    const message = { t: "run", payloads: [{ tryId: "0123456789ab.1.1", dagId: "chain", taskId: "t", inputs: {}, params: "{}" }] };
    const times: number[] = [];
    await new Promise<void>((resolve, reject) => {
      let sentAt = 0;
      const send = () => {
        const until = performance.now() + workMicros / 1000;
        while (performance.now() < until); // the tick's work, on this CPU
        sentAt = performance.now();
        child.send(message);
      };
      child.on("message", () => {
        times.push((performance.now() - sentAt) * 1000);
        if (times.length < rounds) send();
        else resolve();
      });
      child.on("error", reject);
      child.on("exit", (code) => reject(new Error(`the echo process exited (${code})`)));
      send();
    });
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  } finally {
    child.removeAllListeners("exit");
    child.kill();
  }
}

/** Microseconds per appended frame (header and page written apart, as SQLite's WAL does). */
function walFrames(frames: number): number {
  const dir = mkdtempSync(join(tmpdir(), "updraft-bench-io-"));
  const fd = openSync(join(dir, "frames"), "w");
  try {
    const header = Buffer.alloc(24, 1);
    const page = Buffer.alloc(4096, 2);
    const t0 = performance.now();
    for (let i = 0; i < frames; i++) {
      writeSync(fd, header, 0, header.length, i * 4120);
      writeSync(fd, page, 0, page.length, i * 4120 + 24);
    }
    return ((performance.now() - t0) * 1000) / frames;
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Microseconds per JSON round of a try's payload. */
function json(rounds: number): number {
  const payload = { tryId: "0123456789ab.12345.1", tiId: 12345, dagRunId: 42, dagId: "chain", runId: "manual__2026-12-03T00:00:00+00:00", taskId: "t_17", tryNumber: 1, maxTries: 1, bundleHash: "a".repeat(64), params: "{}", conf: "{}", inputs: { up: '{"n":1}' } };
  let size = 0;
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) size += (JSON.parse(JSON.stringify({ t: "run", payloads: [payload], i })) as { i: number }).i;
  if (size < 0) throw new Error("unreachable");
  return ((performance.now() - t0) * 1000) / rounds;
}

export async function probeMachine(): Promise<MachineProbe[]> {
  json(2_000); // warm the JIT
  const tight = await pingPong(2_000, 0);
  const afterWork = await pingPong(500, 400);
  return [
    { name: "IPC round trip, back to back", micros: tight, detail: "median of 2,000 messages to a child process and back" },
    { name: "IPC round trip after 400 µs of work", micros: afterWork, detail: "median of 500; a CPU idle longer than the guest polls is halted, and waking it costs the round trip" },
    { name: "WAL frame write (24 B + 4 KiB, appended)", micros: walFrames(5_000), detail: "mean of 5,000 pairs of writes, as SQLite writes each frame of a commit" },
    { name: "JSON of a try's payload, there and back", micros: json(20_000), detail: "mean of 20,000 (plain JavaScript speed)" },
  ];
}
