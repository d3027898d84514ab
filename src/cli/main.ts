/** The `updraft` command. */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { isUpdraftError, errorMessage } from "../errors/index.js";
import { CliUsageError } from "./context.js";
import { registerConfigCommands } from "./commands/config.js";
import { registerDagsCommands } from "./commands/dags.js";
import { registerDbCommands } from "./commands/db.js";
import { registerInitCommand } from "./commands/init.js";
import { registerPoolsCommands } from "./commands/pools.js";
import { registerServerCommands } from "./commands/server.js";
import { registerTasksCommands } from "./commands/tasks.js";
import { registerUsersCommands } from "./commands/users.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

export function buildProgram(): Command {
  const program = new Command("updraft")
    .description("Updraft: workflows as DAGs in TypeScript, scheduled in milliseconds")
    .version(pkg.version, "-V, --version")
    .option("--home <dir>", "where Updraft keeps its state (UPDRAFT_HOME, default ./.updraft)")
    .option("--dags-folder <dir>", "folder of DAG files (UPDRAFT_DAGS_FOLDER, default ./dags)")
    .option("--database-url <url>", "metadata database (UPDRAFT_DATABASE_URL, default SQLite in the home)")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerServerCommands(program);
  registerDbCommands(program);
  registerDagsCommands(program);
  registerTasksCommands(program);
  registerPoolsCommands(program);
  registerConfigCommands(program);
  registerUsersCommands(program);
  registerInitCommand(program);
  program.commands.forEach(function override(c: Command) {
    c.exitOverride();
    c.commands.forEach(override);
  });
  return program;
}

/** Usage errors and errors the user can fix exit with 2; anything else with 1. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    if (error instanceof CliUsageError) {
      process.stderr.write(`error: ${error.message}\n${error.hint ? `  hint: ${error.hint}\n` : ""}`);
      process.exitCode = 2;
      return;
    }
    if (isUpdraftError(error)) {
      process.stderr.write(`error [${error.code}]: ${error.describe()}\n`);
      process.exitCode = error.status < 500 ? 2 : 1;
      return;
    }
    process.stderr.write(`error: ${errorMessage(error)}\n`);
    if (process.env.UPDRAFT_DEBUG) process.stderr.write(`${(error as Error).stack ?? ""}\n`);
    process.exitCode = 1;
  }
}

await main(process.argv);
