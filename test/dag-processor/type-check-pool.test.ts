/**
 * The type-check worker, seen from the parent: checks in order, a waiting check replaced by a
 * newer one of the same file, a check over its time limit (the worker is replaced), closing.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TypeCheckPool } from "../../src/dag-processor/type-check-pool.js";

let dir: string;
let pool: TypeCheckPool | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "updraft-tc-"));
  mkdirSync(dir, { recursive: true });
});
afterEach(async () => {
  await pool?.close();
  pool = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, source: string): { dagsFolder: string; file: string; source: string } {
  writeFileSync(join(dir, name), source);
  return { dagsFolder: dir, file: join(dir, name), source };
}

const bad = (n: number) => `export const x${n}: number = "not a number";\n`;

/** Cold TypeScript workers cost seconds of CPU: room for a busy machine. */
const SLOW = 180_000;

describe("type-check pool", () => {
  it("answers every check, one after another, with the errors of each", async () => {
    pool = new TypeCheckPool({ timeoutMs: 60_000, memoryLimitMb: 1024 });
    const outcomes = [];
    // One after another: each is asked for once the previous one answered.
    for (let n = 0; n < 3; n++) outcomes.push(await pool.check(`f${n}.ts`, file(`f${n}.ts`, bad(n))));
    for (const [n, outcome] of outcomes.entries()) {
      expect(outcome.kind).toBe("checked");
      if (outcome.kind !== "checked") continue;
      expect(outcome.diagnostics).toEqual([{ file: join(dir, `f${n}.ts`), line: 1, column: 14, code: 2322, message: "Type 'string' is not assignable to type 'number'." }]);
    }
    // And side by side: the three calls of one tick are all answered.
    const together = await Promise.all([0, 1, 2].map((n) => pool!.check(`g${n}.ts`, file(`g${n}.ts`, n === 1 ? "export const ok = 1;\n" : bad(n)))));
    expect(together.map((o) => (o.kind === "checked" ? o.diagnostics.length : o.kind))).toEqual([1, 0, 1]);
  }, SLOW);

  it("a newer check of the same file replaces the waiting one", async () => {
    pool = new TypeCheckPool({ timeoutMs: 60_000, memoryLimitMb: 1024 });
    const first = pool.check("a.ts", file("a.ts", bad(1))); // runs
    const waiting = pool.check("b.ts", file("b.ts", bad(2)));
    const newer = pool.check("b.ts", file("b.ts", "export const fine = 2;\n"));
    expect((await first).kind).toBe("checked");
    expect(await waiting).toEqual({ kind: "cancelled" });
    expect(await newer).toMatchObject({ kind: "checked", diagnostics: [] });
  }, SLOW);

  it("a check over its time limit fails and the next one gets a new worker", async () => {
    // Long enough for a cold check of a small file on a busy machine; the hostile one takes minutes.
    pool = new TypeCheckPool({ timeoutMs: 15_000, memoryLimitMb: 1024 });
    const hostile = [
      "type Perm<T extends string, U extends string = T> = [T] extends [never] ? [] : T extends T ? [T, ...Perm<Exclude<U, T>>] : never;",
      'export const p: Perm<"a" | "b" | "c" | "d" | "e" | "f" | "g" | "h" | "i"> = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];',
      "",
    ].join("\n");
    const slow = await pool.check("slow.ts", file("slow.ts", hostile));
    expect(slow).toMatchObject({ kind: "failed" });
    expect((slow as { message: string }).message).toMatch(/took longer than 15s/);
    expect(pool.pid).toBeUndefined();
    const after = await pool.check("ok.ts", file("ok.ts", bad(3)));
    expect(after).toMatchObject({ kind: "checked", diagnostics: [{ code: 2322 }] });
    expect(pool.pid).toBeGreaterThan(0);
  }, SLOW);

  it("closing cancels what waits and what runs", async () => {
    pool = new TypeCheckPool({ timeoutMs: 60_000, memoryLimitMb: 1024 });
    const running = pool.check("a.ts", file("a.ts", bad(1)));
    const waiting = pool.check("b.ts", file("b.ts", bad(2)));
    await pool.close();
    expect(await running).toEqual({ kind: "cancelled" });
    expect(await waiting).toEqual({ kind: "cancelled" });
    expect(await pool.check("c.ts", file("c.ts", bad(3)))).toEqual({ kind: "cancelled" });
  }, SLOW);
});
