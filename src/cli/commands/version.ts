/** `updraft version`: Updraft's version, and with --json the runtime it runs on. */
import type { Command } from "commander";
import { API_VERSION } from "../../api/version.js";
import { isJson, printJson } from "../context.js";

export function versionInfo() {
  return { version: API_VERSION, node: process.versions.node, platform: process.platform, arch: process.arch };
}

export function registerVersionCommand(program: Command): void {
  program
    .command("version")
    .description("Print Updraft's version (--json: with the Node.js version, platform and architecture)")
    .option("--json", "print JSON")
    .action((_opts: unknown, command: Command) => {
      const info = versionInfo();
      if (isJson(command)) printJson(info);
      else process.stdout.write(`${info.version}\n`);
    });
}
