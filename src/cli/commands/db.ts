import type { Command } from "commander";
import { auditedCli } from "../../api/audit.js";
import { redactUrl } from "../../store/connect.js";
import { openConfiguredStore } from "../../runtime/index.js";
import { migrate, resetDatabase } from "../../store/migrate.js";
import { CliUsageError, loadCliConfig } from "../context.js";

export function registerDbCommands(program: Command): void {
  const db = program.command("db").description("Manage the metadata database");
  db.command("migrate")
    .description("Create or upgrade the schema (safe to run again)")
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      const store = await openConfiguredStore(config);
      try {
        const { applied } = await migrate(store);
        process.stdout.write(applied.length ? `applied: ${applied.join(", ")}\n` : `the database is up to date (${redactUrl(config.databaseUrl)})\n`);
      } finally {
        await store.close();
      }
    });
  db.command("reset")
    .description("Drop every Updraft table and create them again: ALL metadata is lost")
    .option("-y, --yes", "confirm that everything stored may be deleted")
    .action(async (opts: { yes?: boolean }, command: Command) => {
      const { config } = loadCliConfig(command);
      if (!opts.yes) throw new CliUsageError(`db reset deletes all metadata in ${redactUrl(config.databaseUrl)}`, "run `updraft db reset --yes` to confirm");
      const store = await openConfiguredStore(config);
      try {
        // The audit log goes with everything else; its first record says who reset it.
        await auditedCli(store.db, { action: "db.reset", command: "updraft db reset", objectType: "database", objectId: null }, () => resetDatabase(store));
        process.stdout.write("the database was reset\n");
      } finally {
        await store.close();
      }
    });
}
