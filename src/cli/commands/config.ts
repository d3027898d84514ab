import type { Command } from "commander";
import { describeConfig } from "../../config/index.js";
import { isJson, loadCliConfig, printJson, printTable } from "../context.js";

export function registerConfigCommands(program: Command): void {
  const config = program.command("config").description("Show the configuration");
  config
    .command("list")
    .description("Every setting, its value (secrets redacted) and where it came from")
    .option("--json", "print JSON")
    .action((_opts: unknown, command: Command) => {
      const rows = describeConfig(loadCliConfig(command));
      if (isJson(command)) printJson(rows);
      else printTable(rows, ["key", "value", "source", "env"]);
    });
}
