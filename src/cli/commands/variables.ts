/**
 * `updraft variables set|get|list|delete|import|export`, after Airflow's. Secret values (marked
 * secret, or a key naming a password, token, …) are shown as *** unless --show-secrets or
 * --include-secrets asks for them, which is audited like the changes are.
 */
import type { Command } from "commander";
import { auditedCli } from "../../api/audit.js";
import type { Config } from "../../config/index.js";
import { UpdraftError } from "../../errors/index.js";
import type { Keyring } from "../../security/secrets.js";
import type { Store } from "../../store/connect.js";
import { checkKeyring } from "../../store/secrets.js";
import { deleteVariable, exportVariables, importVariables, listVariables, requireVariable, variableForTask, type VariableImport } from "../../store/variables.js";
import { CliUsageError, isJson, iso, loadCliConfig, printJson, printTable, readJsonFile, readStdinText, withStore, writePrivateFile } from "../context.js";
import { cliKeyring } from "./users.js";

/** The keyring, checked against the database before anything is encrypted with it. */
async function checkedKeyring(config: Config, store: Store): Promise<Keyring> {
  const keyring = cliKeyring(config);
  await checkKeyring(store.db, keyring);
  return keyring;
}

/** Airflow's file format: {key: value}; a value that is not a string is stored as its JSON text. */
function variablesOfFile(parsed: unknown, file: string): VariableImport[] {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CliUsageError(`${file} must hold a JSON object of variables`, '{"region": "eu", "limits": {"rows": 100}}');
  }
  return Object.entries(parsed).map(([key, value]) => ({ key, value: typeof value === "string" ? value : JSON.stringify(value) }));
}

export function registerVariablesCommands(program: Command): void {
  const variables = program.command("variables").description("Variables: settings tasks read with ctx.variable()");

  variables
    .command("set <key> [value]")
    .description("Create a variable or change its value (a secret one stays secret)")
    .option("--value-stdin", "read the value from stdin (keeps a secret out of the shell history)")
    .option("--secret", "store it encrypted and show it as *** (implied by a key naming a password, token, …)")
    .option("--description <text>", "what the variable is for")
    .action(async (key: string, value: string | undefined, opts: { valueStdin?: boolean; secret?: boolean; description?: string }, command: Command) => {
      if ((value === undefined) === !opts.valueStdin) throw new CliUsageError("give the value as an argument or with --value-stdin (one of them)", "updraft variables set region eu");
      const text = value ?? (await readStdinText("--value-stdin"));
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const keyring = await checkedKeyring(config, store);
        const exists = await requireVariable(store.db, key).then(() => true, () => false);
        const audit = { action: exists ? "variable.update" : "variable.create", command: "updraft variables set", objectType: "variable", objectId: key, details: { is_secret: opts.secret ?? false } };
        await auditedCli(store.db, audit, () =>
          store.transaction((trx) => importVariables(trx, keyring, [{ key, value: text, ...(opts.secret ? { isSecret: true } : {}), ...(opts.description !== undefined ? { description: opts.description } : {}) }], { overwrite: true })),
        );
        const shown = await requireVariable(store.db, key);
        process.stdout.write(`variable ${key} ${exists ? "changed" : "created"}${shown.isSecret ? " (secret)" : ""}\n`);
      });
    });

  variables
    .command("get <key>")
    .description("A variable's value (*** for a secret one, unless --show-secrets)")
    .option("--default <value>", "print this when the variable does not exist")
    .option("--show-secrets", "print a secret value too (audited)")
    .option("--json", "print JSON")
    .action(async (key: string, opts: { default?: string; showSecrets?: boolean }, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        let variable;
        try {
          variable = await requireVariable(store.db, key);
        } catch (error) {
          if (opts.default === undefined || !(error instanceof UpdraftError) || error.code !== "UPDRAFT_E_VARIABLE_NOT_FOUND") throw error;
          return void process.stdout.write(isJson(command) ? `${JSON.stringify({ key, value: opts.default, isSecret: false, description: null, default: true })}\n` : `${opts.default}\n`);
        }
        let value = variable.value;
        if (variable.isSecret && opts.showSecrets) {
          const keyring = cliKeyring(config);
          const audit = { action: "variable.reveal", command: "updraft variables get --show-secrets", objectType: "variable", objectId: key };
          value = (await auditedCli(store.db, audit, () => variableForTask(store.db, keyring, key)))!.value;
        } else if (variable.isSecret) {
          process.stderr.write(`variable ${key} is secret: --show-secrets prints its value\n`);
        }
        if (isJson(command)) printJson({ key, value, isSecret: variable.isSecret, description: variable.description, updatedAt: iso(variable.updatedAt) });
        else process.stdout.write(`${value}\n`);
      });
    });

  variables
    .command("list")
    .description("Variables, secret values as ***")
    .option("--json", "print JSON")
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const { variables: rows } = await listVariables(store.db, { limit: 1_000_000, offset: 0 });
        const shown = rows.map((v) => ({ key: v.key, value: v.value, isSecret: v.isSecret, description: v.description, updatedAt: iso(v.updatedAt) }));
        if (isJson(command)) printJson(shown);
        else printTable(shown, ["key", "value", "isSecret", "description", "updatedAt"]);
      });
    });

  variables
    .command("delete <key>")
    .description("Delete a variable")
    .action(async (key: string, _opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        await auditedCli(store.db, { action: "variable.delete", command: "updraft variables delete", objectType: "variable", objectId: key }, () => deleteVariable(store.db, key));
        process.stdout.write(`variable ${key} deleted\n`);
      });
    });

  variables
    .command("import <file>")
    .description('Create variables from a JSON file in Airflow\'s format, {"key": "value", …} ("-": stdin)')
    .option("-a, --action-on-existing-key <action>", "overwrite, skip or fail when a key exists (Airflow's default: overwrite)", "overwrite")
    .action(async (file: string, opts: { actionOnExistingKey: string }, command: Command) => {
      const action = opts.actionOnExistingKey;
      if (!["overwrite", "skip", "fail"].includes(action)) throw new CliUsageError(`--action-on-existing-key ${action} is not one of overwrite, skip, fail`);
      const entries = variablesOfFile(await readJsonFile(file), file);
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const keyring = await checkedKeyring(config, store);
        const audit = { action: "variable.import", command: "updraft variables import", objectType: "variable", objectId: null, details: { keys: entries.length, action } };
        const summary = await auditedCli(store.db, audit, () =>
          store.transaction(async (trx) => {
            const result = await importVariables(trx, keyring, entries, { overwrite: action === "overwrite" });
            if (action === "fail" && result.skipped.length > 0) {
              throw new UpdraftError("UPDRAFT_E_CONFLICT", `${result.skipped.length} variable(s) exist already: ${result.skipped.slice(0, 10).join(", ")}; nothing was imported`, { hint: "use --action-on-existing-key overwrite or skip" });
            }
            return result;
          }),
        );
        process.stdout.write(`${summary.created.length} created, ${summary.updated.length} overwritten, ${summary.skipped.length} skipped (existing)\n`);
      });
    });

  variables
    .command("export <file>")
    .description('Write the variables to a JSON file in Airflow\'s format, {"key": "value", …} ("-": stdout; the file is readable by you only)')
    .option("--include-secrets", "also write secret values, decrypted (audited); without it they are left out")
    .action(async (file: string, opts: { includeSecrets?: boolean }, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const keyring = opts.includeSecrets ? cliKeyring(config) : null;
        const audit = { action: "variable.export", command: "updraft variables export", objectType: "variable", objectId: null, details: { include_secrets: opts.includeSecrets ?? false } };
        const rows = await auditedCli(store.db, audit, () => exportVariables(store.db, keyring));
        const written = rows.filter((r) => r.value !== null);
        writePrivateFile(file, `${JSON.stringify(Object.fromEntries(written.map((r) => [r.key, r.value])), null, 2)}\n`);
        const left = rows.length - written.length;
        process.stderr.write(`exported ${written.length} variable(s)${file === "-" ? "" : ` to ${file}`}${left > 0 ? `; ${left} secret one(s) left out (--include-secrets writes them)` : ""}\n`);
      });
    });
}
