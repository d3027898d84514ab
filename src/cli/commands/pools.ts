import type { Command } from "commander";
import { auditedCli } from "../../api/audit.js";
import { deletePool, listPools, setPool } from "../../store/pools.js";
import { CliUsageError, isJson, loadCliConfig, printJson, printTable, withStore } from "../context.js";

export function registerPoolsCommands(program: Command): void {
  const pools = program.command("pools").description("Pools limit how many task instances run at once");
  pools
    .command("list")
    .option("--json", "print JSON")
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const rows = (await listPools(store.db)).map((p) => ({ name: p.name, slots: p.slots, occupied: p.occupied, running: p.running, queued: p.queued, description: p.description }));
        if (isJson(command)) printJson(rows);
        else printTable(rows, ["name", "slots", "occupied", "running", "queued", "description"]);
      });
    });
  pools
    .command("set <name> <slots>")
    .description("Create a pool or change its slots")
    .option("--description <text>", "what the pool is for")
    .action(async (name: string, slots: string, opts: { description?: string }, command: Command) => {
      const n = Number(slots);
      if (!Number.isInteger(n) || n < 0) throw new CliUsageError(`slots '${slots}' is not an integer ≥ 0`, "updraft pools set my_pool 4");
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        // The API's names: pool.create for a new pool, pool.update for one that exists.
        const exists = await store.db.selectFrom("pool").select("name").where("name", "=", name).executeTakeFirst();
        const audit = { action: exists ? "pool.update" : "pool.create", command: "updraft pools set", objectType: "pool", objectId: name, details: { slots: n, ...(opts.description !== undefined ? { description: opts.description } : {}) } };
        await auditedCli(store.db, audit, () => setPool(store.db, name, n, opts.description));
        await store.notify();
        process.stdout.write(`pool ${name}: ${n} slots\n`);
      });
    });
  pools
    .command("delete <name>")
    .action(async (name: string, _opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        await auditedCli(store.db, { action: "pool.delete", command: "updraft pools delete", objectType: "pool", objectId: name }, () => deletePool(store.db, name));
        await store.notify();
        process.stdout.write(`pool ${name} deleted\n`);
      });
    });
}
