/** `updraft users …`, `updraft roles list` and `updraft rotate-secret-key`. */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Command } from "commander";
import { auditedCli } from "../../api/audit.js";
import type { Config } from "../../config/index.js";
import { UpdraftError } from "../../errors/index.js";
import { configuredKeyring } from "../../runtime/index.js";
import type { Keyring } from "../../security/secrets.js";
import type { Store } from "../../store/connect.js";
import { checkKeyring, rotateSecrets } from "../../store/secrets.js";
import { addUserRole, createUser, deleteUser, ensureBuiltinRoles, listRoles, listUsers, removeUserRole, updateUser } from "../../store/users.js";
import { CliUsageError, isJson, iso, loadCliConfig, printJson, printTable, withStore } from "../context.js";

const collect = (value: string, previous: string[]) => [...previous, value];

interface PasswordOptions {
  passwordStdin?: boolean;
  randomPassword?: boolean;
}

/** Opens the store with the built-in roles in place (every command here needs them). */
function withRoles<T>(config: Config, fn: (store: Store) => Promise<T>): Promise<T> {
  return withStore(config, async (store) => {
    await ensureBuiltinRoles(store.db);
    return fn(store);
  });
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new CliUsageError("--password-stdin reads the password from a pipe, not a terminal", "printf '%s' \"$PASSWORD\" | updraft users … --password-stdin, or use --random-password");
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The password of a create or set-password: from stdin (one trailing newline dropped) or made up. */
async function passwordOf(opts: PasswordOptions): Promise<{ password: string; generated: boolean }> {
  if (Boolean(opts.passwordStdin) === Boolean(opts.randomPassword)) {
    throw new CliUsageError("give exactly one of --password-stdin and --random-password", "a password is never taken as a plain flag (it would stay in the shell history)");
  }
  if (opts.randomPassword) return { password: randomBytes(18).toString("base64url"), generated: true };
  const text = (await readStdin()).replace(/\r?\n$/, "");
  if (text.length === 0) throw new CliUsageError("no password on stdin", "printf '%s' \"$PASSWORD\" | updraft users … --password-stdin");
  return { password: text, generated: false };
}

function printGenerated(username: string, password: string): void {
  process.stdout.write(`password for ${username}: ${password}\n(shown this once; it is stored only as a hash)\n`);
}

/** The keyring as the API server would have it: UPDRAFT_SECRET_KEY, or standalone's $UPDRAFT_HOME/secret_key. */
export function cliKeyring(config: Config): Keyring {
  const keyring = configuredKeyring(config);
  if (!keyring) {
    throw new UpdraftError("UPDRAFT_E_SECRET_KEY", `UPDRAFT_SECRET_KEY is not set (and there is no ${join(config.home, "secret_key")})`, {
      hint: 'set it to the keyring the API server uses; to rotate, with the new key first: UPDRAFT_SECRET_KEY="new:<key>,old:<key>"',
    });
  }
  return keyring;
}

export function registerUsersCommands(program: Command): void {
  const users = program.command("users").description("Manage users of the API and UI");

  users
    .command("create")
    .description("Create a user")
    .requiredOption("--username <name>", "the login name")
    .option("--role <role>", "a role (repeat for several): Viewer, User, Op, Admin or a custom one", collect, [])
    .option("--email <email>", "e-mail address")
    .option("--first-name <name>", "first name")
    .option("--last-name <name>", "last name")
    .option("--password-stdin", "read the password from stdin")
    .option("--random-password", "make up a password and print it once")
    .action(async (opts: PasswordOptions & { username: string; role: string[]; email?: string; firstName?: string; lastName?: string }, command: Command) => {
      if (opts.role.length === 0) throw new CliUsageError("give the user at least one --role", "updraft users create --username ada --role Admin --random-password");
      const { password, generated } = await passwordOf(opts);
      const { config } = loadCliConfig(command);
      await withRoles(config, async (store) => {
        const audit = { action: "user.create", command: "updraft users create", objectType: "user", objectId: opts.username, details: { roles: opts.role } };
        const user = await auditedCli(store.db, audit, () =>
          createUser(store.db, {
            username: opts.username,
            password,
            roles: opts.role,
            email: opts.email ?? null,
            firstName: opts.firstName ?? null,
            lastName: opts.lastName ?? null,
          }),
        );
        process.stdout.write(`created user ${user.username} (roles: ${user.roles.join(", ")})\n`);
        if (generated) printGenerated(user.username, password);
      });
    });

  users
    .command("list")
    .description("Users and their roles")
    .option("--json", "print JSON")
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withRoles(config, async (store) => {
        const { users: rows } = await listUsers(store.db, { limit: 1_000_000, offset: 0 });
        const shown = rows.map((u) => ({
          username: u.username,
          email: u.email,
          firstName: u.first_name,
          lastName: u.last_name,
          roles: u.roles,
          active: u.active === 1,
          createdAt: iso(Number(u.created_at)),
          lastLoginAt: iso(u.last_login_at === null ? null : Number(u.last_login_at)),
        }));
        if (isJson(command)) printJson(shown);
        else printTable(shown.map((u) => ({ ...u, roles: u.roles.join(", ") })), ["username", "roles", "email", "active", "lastLoginAt"]);
      });
    });

  users
    .command("delete <username>")
    .description("Delete a user, with their sessions and API tokens")
    .action(async (username: string, _opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withRoles(config, async (store) => {
        const audit = { action: "user.delete", command: "updraft users delete", objectType: "user", objectId: username };
        await auditedCli(store.db, audit, () => deleteUser(store, username));
        process.stdout.write(`user ${username} deleted\n`);
      });
    });

  users
    .command("set-password <username>")
    .description("Set a user's password (ends all their sessions and API tokens)")
    .option("--password-stdin", "read the password from stdin")
    .option("--random-password", "make up a password and print it once")
    .action(async (username: string, opts: PasswordOptions, command: Command) => {
      const { password, generated } = await passwordOf(opts);
      const { config } = loadCliConfig(command);
      await withRoles(config, async (store) => {
        const audit = { action: "user.update", command: "updraft users set-password", objectType: "user", objectId: username, details: { fields: ["password"] } };
        await auditedCli(store.db, audit, () => updateUser(store, username, { password }));
        process.stdout.write(`password of ${username} changed; their sessions and API tokens were revoked\n`);
        if (generated) printGenerated(username, password);
      });
    });

  users
    .command("add-role <username> <role>")
    .description("Give a user a role")
    .action(async (username: string, role: string, _opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withRoles(config, async (store) => {
        const audit = { action: "user.update", command: "updraft users add-role", objectType: "user", objectId: username, details: { fields: ["roles"], added_role: role } };
        const added = await auditedCli(store.db, audit, () => addUserRole(store, username, role));
        process.stdout.write(added ? `${username} now has the role ${role}\n` : `${username} already has the role ${role}\n`);
      });
    });

  users
    .command("remove-role <username> <role>")
    .description("Take a role away from a user (ends all their sessions and API tokens)")
    .action(async (username: string, role: string, _opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withRoles(config, async (store) => {
        const audit = { action: "user.update", command: "updraft users remove-role", objectType: "user", objectId: username, details: { fields: ["roles"], removed_role: role } };
        const removed = await auditedCli(store.db, audit, () => removeUserRole(store, username, role));
        process.stdout.write(removed ? `${username} no longer has the role ${role}; their sessions and API tokens were revoked\n` : `${username} does not have the role ${role}\n`);
      });
    });

  const roles = program.command("roles").description("Roles: sets of permissions");
  roles
    .command("list")
    .description("Roles, their permissions and how many users have them")
    .option("--json", "print JSON")
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      await withRoles(config, async (store) => {
        const { roles: rows } = await listRoles(store.db);
        const shown = rows.map((r) => ({ name: r.name, description: r.description, permissions: JSON.parse(r.permissions) as string[], builtin: r.builtin === 1, users: r.userCount }));
        if (isJson(command)) printJson(shown);
        else printTable(shown.map((r) => ({ ...r, permissions: r.permissions.join(" ") })), ["name", "users", "builtin", "permissions"]);
      });
    });

  program
    .command("rotate-secret-key")
    .description('Re-encrypt every stored secret with the first key of UPDRAFT_SECRET_KEY (e.g. "new:<key>,old:<key>")')
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      const keyring = cliKeyring(config);
      await withRoles(config, async (store) => {
        // The keyring must read what is stored before anything is rewritten.
        const audit = { action: "secrets.rotate", command: "updraft rotate-secret-key", objectType: "keyring", objectId: keyring.current.id };
        const count = await auditedCli(store.db, audit, async () => {
          await checkKeyring(store.db, keyring);
          return rotateSecrets(store.db, keyring);
        });
        process.stdout.write(`re-encrypted ${count} secret${count === 1 ? "" : "s"} with key '${keyring.current.id}'\n`);
        process.stdout.write(`once every Updraft process runs with the new keyring, the old keys can be left out of UPDRAFT_SECRET_KEY\n`);
      });
    });
}
