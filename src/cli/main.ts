/** The `updraft` command. */
import { Command, CommanderError } from "commander";
import { API_VERSION } from "../api/version.js";
import { isUpdraftError, isStorageFull, errorMessage, UpdraftError } from "../errors/index.js";
import { CliUsageError } from "./context.js";
import { registerConfigCommands } from "./commands/config.js";
import { registerConnectionsCommands } from "./commands/connections.js";
import { registerDagsCommands } from "./commands/dags.js";
import { registerDbCommands } from "./commands/db.js";
import { registerInitCommand } from "./commands/init.js";
import { registerPoolsCommands } from "./commands/pools.js";
import { registerServerCommands } from "./commands/server.js";
import { registerTasksCommands } from "./commands/tasks.js";
import { registerUsersCommands } from "./commands/users.js";
import { registerVariablesCommands } from "./commands/variables.js";
import { registerVersionCommand } from "./commands/version.js";
import { registerWorkerCommand } from "./commands/worker.js";

export function buildProgram(): Command {
  const program = new Command("updraft")
    .description("Updraft: workflows as DAGs in TypeScript, scheduled in milliseconds")
    .version(API_VERSION, "-V, --version")
    .option("--home <dir>", "where Updraft keeps its state (UPDRAFT_HOME, default ./.updraft)")
    .option("--dags-folder <dir>", "folder of DAG files (UPDRAFT_DAGS_FOLDER, default ./dags)")
    .option("--database-url <url>", "metadata database (UPDRAFT_DATABASE_URL, default SQLite in the home)")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerServerCommands(program);
  registerWorkerCommand(program);
  registerDbCommands(program);
  registerDagsCommands(program);
  registerTasksCommands(program);
  registerPoolsCommands(program);
  registerVariablesCommands(program);
  registerConnectionsCommands(program);
  registerConfigCommands(program);
  registerUsersCommands(program);
  registerInitCommand(program);
  registerVersionCommand(program);
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
  } catch (thrown) {
    const error = !isUpdraftError(thrown) && isStorageFull(thrown)
      ? new UpdraftError("UPDRAFT_E_STORAGE_FULL", `the change could not be stored: the disk is full (${errorMessage(thrown)})`, {
          hint: "free space on the disk of UPDRAFT_HOME (or of the database server), then run the command again",
        })
      : thrown;
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

// Output that cannot be written (a closed pipe, a full disk) must not end a long-running process
// with an unhandled stream error; a one-shot command just loses the rest of its output.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});

await main(process.argv);
