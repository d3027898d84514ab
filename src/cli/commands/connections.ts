/**
 * `updraft connections add|get|list|delete|import|export`, after Airflow's, with its URI and JSON
 * forms. A password and an extra (stored encrypted) are shown as *** unless --show-secrets or
 * --include-secrets asks for them, which is audited like the changes are.
 */
import type { Command } from "commander";
import { auditedCli } from "../../api/audit.js";
import { UpdraftError } from "../../errors/index.js";
import { connectionForTask, deleteConnection, exportConnections, importConnections, listConnections, requireConnection } from "../../store/connections.js";
import { checkKeyring } from "../../store/secrets.js";
import { formatConnectionUri, parseConnectionJson, parseConnectionUri, type ConnectionParts } from "../../util/connection-uri.js";
import { MASK } from "../../util/sensitive.js";
import { CliUsageError, isJson, iso, loadCliConfig, parseJsonOption, printJson, printTable, readJsonFile, readStdinText, withStore, writePrivateFile } from "../context.js";
import { cliKeyring } from "./users.js";

interface AddOptions {
  connUri?: string;
  connJson?: string;
  connType?: string;
  connHost?: string;
  connLogin?: string;
  connPassword?: string;
  connPasswordStdin?: boolean;
  connSchema?: string;
  connPort?: string;
  connExtra?: string;
  connDescription?: string;
}

const FIELD_FLAGS = ["connType", "connHost", "connLogin", "connPassword", "connSchema", "connPort"] as const;

/** The connection `connections add` was given: a URI, JSON, or one flag per field (Airflow's rules). */
async function partsOf(opts: AddOptions): Promise<ConnectionParts> {
  const fieldFlags = FIELD_FLAGS.filter((f) => opts[f] !== undefined);
  if (opts.connUri !== undefined && opts.connJson !== undefined) throw new CliUsageError("give --conn-uri or --conn-json, not both");
  if ((opts.connUri !== undefined || opts.connJson !== undefined) && fieldFlags.length > 0) {
    throw new CliUsageError(`--conn-uri and --conn-json cannot be mixed with ${fieldFlags.map((f) => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ")}`, "give every field in the URI or JSON, or every field as a flag");
  }
  if (opts.connJson !== undefined && (opts.connExtra !== undefined || opts.connDescription !== undefined)) throw new CliUsageError("with --conn-json, put the extra and the description in the JSON");
  if (opts.connPassword !== undefined && opts.connPasswordStdin) throw new CliUsageError("give --conn-password or --conn-password-stdin, not both");
  let parts: ConnectionParts;
  if (opts.connUri !== undefined) parts = parseConnectionUri(opts.connUri, "--conn-uri");
  else if (opts.connJson !== undefined) parts = parseConnectionJson(opts.connJson, "--conn-json");
  else {
    if (opts.connType === undefined) throw new CliUsageError("give --conn-type (or --conn-uri or --conn-json)", "updraft connections add warehouse --conn-type postgres --conn-host db --conn-login etl --conn-password-stdin");
    const port = opts.connPort === undefined ? null : Number(opts.connPort);
    if (port !== null && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new CliUsageError(`--conn-port ${opts.connPort} is not a port number`, "--conn-port 5432");
    parts = { connType: opts.connType, description: null, host: opts.connHost ?? null, schema: opts.connSchema ?? null, login: opts.connLogin ?? null, password: opts.connPassword ?? null, port, extra: null };
  }
  if (opts.connExtra !== undefined) parts.extra = parseJsonOption(opts.connExtra, "--conn-extra");
  if (opts.connDescription !== undefined) parts.description = opts.connDescription;
  if (opts.connPasswordStdin) parts.password = await readStdinText("--conn-password-stdin");
  return parts;
}

/** Airflow's file format: {"id": {"conn_type": …, …}} or {"id": "conn-type://…"}. */
function connectionsOfFile(parsed: unknown, file: string): Array<{ connId: string } & ConnectionParts> {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CliUsageError(`${file} must hold a JSON object of connections`, '{"warehouse": {"conn_type": "postgres", "host": "db", "login": "etl", "password": "…"}}');
  }
  return Object.entries(parsed).map(([connId, value]) => {
    const what = `connection '${connId.slice(0, 250)}' in ${file}`;
    if (typeof value === "string") return { connId, ...parseConnectionUri(value, what) };
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return { connId, ...parseConnectionJson(value as Record<string, unknown>, what) };
    throw new UpdraftError("UPDRAFT_E_VALIDATION", `${what}: give an object of fields or a URI`);
  });
}

/** Airflow's JSON form of a connection, as export writes it. */
function airflowJson(c: ConnectionParts, withSecrets: boolean) {
  return {
    conn_type: c.connType,
    description: c.description,
    host: c.host,
    login: c.login,
    ...(withSecrets ? { password: c.password } : {}),
    schema: c.schema,
    port: c.port,
    ...(withSecrets ? { extra: c.extra } : {}),
  };
}

export function registerConnectionsCommands(program: Command): void {
  const connections = program.command("connections").description("Connections: how tasks reach other systems (ctx.connection())");

  connections
    .command("add <conn_id>")
    .description("Add a connection, as an Airflow URI (--conn-uri), JSON (--conn-json) or one flag per field")
    .option("--conn-uri <uri>", "conn-type://login:password@host:port/schema?extra_key=value (parts percent-encoded)")
    .option("--conn-json <json>", '{"conn_type": "postgres", "host": …, "login": …, "password": …, "schema": …, "port": …, "extra": {…}}')
    .option("--conn-type <type>", "e.g. postgres, http, aws")
    .option("--conn-host <host>", "host (with a protocol if the type needs one: https://example.com)")
    .option("--conn-login <login>", "login")
    .option("--conn-password <password>", "password (stored encrypted; --conn-password-stdin keeps it out of the shell history)")
    .option("--conn-password-stdin", "read the password from stdin")
    .option("--conn-schema <schema>", "schema: the database, for most database types")
    .option("--conn-port <port>", "port")
    .option("--conn-extra <json>", "extra settings, a JSON object (stored encrypted)")
    .option("--conn-description <text>", "what the connection is for")
    .action(async (connId: string, opts: AddOptions, command: Command) => {
      const parts = await partsOf(opts);
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const keyring = cliKeyring(config);
        await checkKeyring(store.db, keyring);
        const fields = (Object.keys(parts) as Array<keyof ConnectionParts>).filter((k) => parts[k] !== null).map((k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
        const audit = { action: "connection.create", command: "updraft connections add", objectType: "connection", objectId: connId, details: { fields } };
        await auditedCli(store.db, audit, async () => {
          const { skipped } = await store.transaction((trx) => importConnections(trx, keyring, [{ connId, ...parts }], { overwrite: false }));
          if (skipped.length > 0) throw new UpdraftError("UPDRAFT_E_CONFLICT", `connection '${connId}' already exists`, { hint: `delete it first (updraft connections delete ${connId}), or replace it with updraft connections import --overwrite` });
        });
        process.stdout.write(`connection ${connId} added (${parts.connType})\n`);
      });
    });

  connections
    .command("get <conn_id>")
    .description("A connection, with its password and extra as *** unless --show-secrets")
    .option("--show-secrets", "show the password and extra too (audited)")
    .option("--json", "print JSON")
    .action(async (connId: string, opts: { showSecrets?: boolean }, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const info = await requireConnection(store.db, connId);
        let parts: ConnectionParts;
        if (opts.showSecrets && (info.passwordSet || info.extraSet)) {
          const keyring = cliKeyring(config);
          const audit = { action: "connection.reveal", command: "updraft connections get --show-secrets", objectType: "connection", objectId: connId };
          parts = (await auditedCli(store.db, audit, () => connectionForTask(store.db, keyring, connId)))!;
        } else {
          parts = { connType: info.connType, description: info.description, host: info.host, schema: info.schema, login: info.login, port: info.port, password: null, extra: null };
        }
        const masked = !opts.showSecrets;
        const password = masked ? (info.passwordSet ? MASK : null) : parts.password;
        const extra = masked ? (info.extraSet ? MASK : null) : parts.extra;
        // Shown masked, the URI carries *** for the password and leaves the extra out.
        const uri = formatConnectionUri({ ...parts, password: masked && info.passwordSet ? "\u0000" : parts.password }).replace("%00", MASK);
        const shown = { connId, connType: info.connType, description: info.description, host: info.host, schema: info.schema, login: info.login, port: info.port, password, extra, uri, createdAt: iso(info.createdAt), updatedAt: iso(info.updatedAt) };
        if (isJson(command)) return printJson(shown);
        for (const [key, value] of Object.entries(shown)) process.stdout.write(`${key}: ${value === null ? "" : typeof value === "object" ? JSON.stringify(value) : String(value)}\n`);
      });
    });

  connections
    .command("list")
    .description("Connections (never their passwords or extras)")
    .option("--json", "print JSON")
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const { connections: rows } = await listConnections(store.db, { limit: 1_000_000, offset: 0 });
        const shown = rows.map((c) => ({ connId: c.connId, connType: c.connType, host: c.host, port: c.port, schema: c.schema, login: c.login, passwordSet: c.passwordSet, extraSet: c.extraSet, description: c.description }));
        if (isJson(command)) printJson(shown);
        else printTable(shown, ["connId", "connType", "host", "port", "schema", "login", "passwordSet", "extraSet", "description"]);
      });
    });

  connections
    .command("delete <conn_id>")
    .description("Delete a connection")
    .action(async (connId: string, _opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        await auditedCli(store.db, { action: "connection.delete", command: "updraft connections delete", objectType: "connection", objectId: connId }, () => deleteConnection(store.db, connId));
        process.stdout.write(`connection ${connId} deleted\n`);
      });
    });

  connections
    .command("import <file>")
    .description('Add connections from a JSON file in Airflow\'s format, {"id": {"conn_type": …, …} or "uri", …} ("-": stdin)')
    .option("--overwrite", "replace connections that exist (else they are skipped)")
    .action(async (file: string, opts: { overwrite?: boolean }, command: Command) => {
      const entries = connectionsOfFile(await readJsonFile(file), file);
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const keyring = cliKeyring(config);
        await checkKeyring(store.db, keyring);
        const audit = { action: "connection.import", command: "updraft connections import", objectType: "connection", objectId: null, details: { connections: entries.length, overwrite: opts.overwrite ?? false } };
        const summary = await auditedCli(store.db, audit, () => store.transaction((trx) => importConnections(trx, keyring, entries, { overwrite: opts.overwrite ?? false })));
        for (const id of summary.skipped) process.stderr.write(`connection ${id} exists already: skipped (--overwrite replaces it)\n`);
        process.stdout.write(`${summary.created.length} created, ${summary.updated.length} overwritten, ${summary.skipped.length} skipped (existing)\n`);
      });
    });

  connections
    .command("export <file>")
    .description('Write the connections to a JSON file in Airflow\'s format, {"id": {"conn_type": …, …}, …} ("-": stdout; the file is readable by you only)')
    .option("--include-secrets", "also write passwords and extras, decrypted (audited); without it they are left out")
    .action(async (file: string, opts: { includeSecrets?: boolean }, command: Command) => {
      const { config } = loadCliConfig(command);
      await withStore(config, async (store) => {
        const keyring = opts.includeSecrets ? cliKeyring(config) : null;
        const audit = { action: "connection.export", command: "updraft connections export", objectType: "connection", objectId: null, details: { include_secrets: opts.includeSecrets ?? false } };
        const rows = await auditedCli(store.db, audit, () => exportConnections(store.db, keyring));
        writePrivateFile(file, `${JSON.stringify(Object.fromEntries(rows.map((c) => [c.connId, airflowJson(c, keyring !== null)])), null, 2)}\n`);
        process.stderr.write(`exported ${rows.length} connection(s)${file === "-" ? "" : ` to ${file}`}${keyring ? "" : "; passwords and extras left out (--include-secrets writes them)"}\n`);
      });
    });
}
