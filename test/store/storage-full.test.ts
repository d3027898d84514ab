/**
 * The store on a disk that fills up, on both dialects: a real SQLITE_FULL (the database file on a
 * small tmpfs) and a real PostgreSQL disk_full (53100: a database whose tablespace is a small
 * tmpfs; its WAL stays on the server's own disk, so the server itself carries on). A failed write
 * puts the store in the `full` state, listeners hear of it, nothing committed is lost, and the
 * state clears by itself once space is back. Mounting needs root: elsewhere the test skips.
 */
import { execFileSync } from "node:child_process";
import { chownSync, closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { isStorageFull } from "../../src/errors/index.js";
import { openStore, type Store } from "../../src/store/connect.js";
import { migrate } from "../../src/store/migrate.js";
import type { StorageFull } from "../../src/store/storage.js";
import { waitFor } from "../scheduler/support.js";
import { DIALECTS } from "../helpers/dialects.js";
import { PG_BASE_URL } from "../helpers/services.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch {
      // best effort
    }
  }
});

function mountTmpfs(mb: number): string | null {
  const dir = mkdtempSync(join(tmpdir(), "updraft-storage-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${mb}m`, "tmpfs", dir], { stdio: "pipe" });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    console.warn(`skipping a disk-full test: cannot mount a tmpfs here (${(error as Error).message.split("\n")[0]})`);
    return null;
  }
  cleanups.push(() => {
    execFileSync("umount", ["-l", dir], { stdio: "pipe" });
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

async function writeEvent(store: Store, payload: string): Promise<void> {
  await store.transaction(async (trx) => {
    await trx.insertInto("event").values({ ts: Date.now(), kind: "test", dag_id: null, payload }).execute();
  });
}

/** Writes events of `size` characters until the store refuses; the error it refused with. */
async function fillThroughStore(store: Store): Promise<unknown> {
  const big = "x".repeat(64 * 1024);
  for (let i = 0; i < 10_000; i++) {
    try {
      await writeEvent(store, big);
    } catch (error) {
      return error;
    }
  }
  throw new Error("the disk never filled");
}

async function expectFullThenRecovers(store: Store, disk: { fill: () => Promise<void>; free: () => Promise<void> }): Promise<void> {
  const heard: Array<StorageFull | null> = [];
  store.storage.onChange((full) => heard.push(full));
  await writeEvent(store, "before");
  await disk.fill();
  const error = await fillThroughStore(store);
  expect(isStorageFull(error)).toBe(true);
  expect(store.storage.full?.message).toBeTruthy();
  expect(heard).toHaveLength(1);
  expect(store.storage.error()).toMatchObject({ code: "UPDRAFT_E_STORAGE_FULL", status: 503 });
  // Reads work while the disk is full, and what was committed is there.
  const before = await store.db.selectFrom("event").select("payload").where("payload", "=", "before").execute();
  expect(before).toHaveLength(1);

  await disk.free();
  await waitFor("the store to write again", () => store.storage.full === null, 30_000);
  expect(heard.at(-1)).toBeNull();
  await writeEvent(store, "after");
  expect(await store.db.selectFrom("event").select("payload").where("payload", "in", ["before", "after"]).execute()).toHaveLength(2);
}

describe("a full disk under the store", () => {
  it("sqlite: SQLITE_FULL puts the store in the full state until space is back", async (ctx) => {
    const dir = mountTmpfs(12);
    if (!dir) return ctx.skip();
    const store = await openStore({ url: `sqlite://${join(dir, "updraft.db")}` });
    cleanups.push(() => store.close());
    await migrate(store);
    // A filler file takes most of the disk; the store's own writes take the rest.
    const filler = join(dir, "filler");
    await expectFullThenRecovers(store, {
      fill: async () => {
        const fd = openSync(filler, "w");
        try {
          for (;;) writeSync(fd, Buffer.alloc(64 * 1024));
        } catch (error) {
          expect((error as NodeJS.ErrnoException).code).toBe("ENOSPC");
        } finally {
          closeSync(fd);
        }
      },
      free: async () => unlinkSync(filler),
    });
  });

  it("postgres: disk_full (53100) puts the store in the full state until space is back", async (ctx) => {
    if (!DIALECTS.includes("postgres")) return ctx.skip();
    const dir = mountTmpfs(12);
    if (!dir) return ctx.skip();
    chownSync(dir, Number(execFileSync("id", ["-u", "postgres"]).toString()), Number(execFileSync("id", ["-g", "postgres"]).toString()));
    const name = `updraft_full_${Date.now().toString(36)}_${process.pid}`;
    const admin = new pg.Client({ connectionString: PG_BASE_URL });
    await admin.connect();
    cleanups.push(() => admin.end());
    await admin.query(`create tablespace ${name} location '${dir}'`);
    cleanups.push(async () => {
      await admin.query(`drop tablespace if exists ${name}`);
    });
    await admin.query(`create database ${name} tablespace ${name}`);
    cleanups.push(async () => {
      await admin.query(`drop database if exists ${name} with (force)`);
    });
    const url = new URL(PG_BASE_URL);
    url.pathname = `/${name}`;
    const store = await openStore({ url: url.toString() });
    cleanups.push(() => store.close());
    await migrate(store);
    // A table of the test's own takes what the database leaves.
    const filler = new pg.Client({ connectionString: url.toString() });
    await filler.connect();
    cleanups.push(() => filler.end());
    await expectFullThenRecovers(store, {
      fill: async () => {
        await filler.query("create table filler (data text)");
        try {
          for (;;) await filler.query("insert into filler select string_agg(md5(random()::text), '') from generate_series(1, 2000)");
        } catch (error) {
          expect((error as { code?: string }).code).toBe("53100");
        }
      },
      free: async () => {
        await filler.query("drop table filler");
      },
    });
  });
});
