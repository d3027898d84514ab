/** `updraft dags check`: type-checks the DAG files of a folder, as an editor or CI would. */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { UpdraftError } from "../../errors/index.js";
import { discoverDagFiles } from "../../dag-processor/discover.js";
import { displayPath, formatDiagnostic } from "../../dag-processor/type-check-config.js";
import { isJson, loadCliConfig, printJson } from "../context.js";

export function registerDagsCheckCommand(dags: Command): void {
  dags
    .command("check")
    .description("Type-check the DAG files of the DAGs folder against Updraft's types (exit 1 on type errors)")
    .option("--json", "print JSON")
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      const folder = config.dagsFolder;
      if (!existsSync(folder) || !statSync(folder).isDirectory()) {
        throw new UpdraftError("UPDRAFT_E_USAGE", `the DAGs folder ${folder} does not exist`, {
          hint: "pass --dags-folder DIR (or set UPDRAFT_DAGS_FOLDER); `updraft init DIR` creates a DAGs project",
        });
      }
      // TypeScript is loaded only here, so that no other command pays for it.
      const { checkFiles } = await import("../../dag-processor/type-check.js");
      const result = checkFiles(folder, discoverDagFiles(folder).map((f) => join(folder, f)));
      const count = result.diagnostics.length;
      process.exitCode = count > 0 ? 1 : 0;
      if (isJson(command)) {
        printJson({
          dagsFolder: folder,
          tsconfig: result.configFile,
          files: result.files.map((f) => displayPath(f, folder)),
          errorCount: count,
          diagnostics: result.diagnostics.map((d) => ({ ...d, file: d.file === null ? null : displayPath(d.file, folder), code: `TS${d.code}` })),
        });
        return;
      }
      const cwd = process.cwd();
      for (const d of result.diagnostics) process.stdout.write(`${formatDiagnostic(d, cwd).replace(/\n/g, "\n  ")}\n`);
      const checked = `${result.files.length} DAG file${result.files.length === 1 ? "" : "s"} checked${result.configFile ? ` (with the options of ${displayPath(result.configFile, cwd)})` : ""}`;
      if (count === 0) process.stdout.write(`${checked}: no type errors\n`);
      else {
        const files = new Set(result.diagnostics.map((d) => d.file)).size;
        process.stdout.write(`\nFound ${count} type error${count === 1 ? "" : "s"} in ${files} file${files === 1 ? "" : "s"}; ${checked}\n`);
      }
    });
}
