/** First start of `standalone`: an Admin account with a random password, shown once. */
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import type { Config } from "../config/index.js";
import { randomPassword } from "../security/password.js";
import type { Store } from "../store/connect.js";
import { createUser, ensureBuiltinRoles } from "../store/users.js";

export async function ensureStandaloneAdmin(store: Store, config: Config): Promise<{ username: string; password: string; file: string } | null> {
  await ensureBuiltinRoles(store.db);
  const any = await store.db.selectFrom("app_user").select("id").limit(1).executeTakeFirst();
  if (any) return null;
  const password = randomPassword();
  const username = "admin";
  await createUser(store.db, { username, password, roles: ["Admin"] });
  const file = join(config.home, "standalone_admin_password.txt");
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return { username, password, file };
}
