/**
 * Another process using the same database (spawned by multiprocess.test.ts with
 * `node --import tsx test/store/store-child.ts <database url>`). Reads one JSON command per line
 * on stdin and answers one JSON line on stdout.
 *   { op: "trigger", dagId, prefix, count, holdMs? }  count manual runs with run ids prefix0…; after
 *        each, a transaction that inserts pool row `${prefix}${i}` and holds the write lock holdMs
 *   { op: "migrate" }  migrates the database (the child opens it without migrating)
 *   { op: "exit" }
 */
import { createInterface } from "node:readline";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { openStore } from "../../src/store/connect.js";
import { migrate } from "../../src/store/migrate.js";

interface Command {
  op: "trigger" | "migrate" | "exit";
  dagId?: string;
  prefix?: string;
  count?: number;
  holdMs?: number;
}

const url = process.argv[2];
if (!url) throw new Error("usage: store-child.ts <database url>");
const store = await openStore({ url });
const send = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

send({ ready: true, pid: process.pid });
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as Command;
  if (command.op === "exit") break;
  if (command.op === "migrate") {
    await migrate(store).then(
      (report) => send({ ok: true, applied: report.applied }),
      (error: unknown) => send({ ok: false, error: String(error), code: (error as { code?: unknown }).code ?? null }),
    );
    continue;
  }
  try {
    const ids: number[] = [];
    for (let i = 0; i < (command.count ?? 1); i++) {
      const name = `${command.prefix ?? "child_"}${i}`;
      ids.push((await triggerDagRun(store, command.dagId!, { runId: name })).id);
      if (command.holdMs !== undefined) {
        await store.transaction(async (trx) => {
          await trx.insertInto("pool").values({ name, slots: 1, description: "child", include_deferred: 0 }).execute();
          await sleep(command.holdMs!);
        });
      }
    }
    send({ ok: true, ids });
  } catch (error) {
    send({ ok: false, error: String(error), code: (error as { code?: unknown }).code ?? null });
  }
}
await store.close();
process.exit(0);
