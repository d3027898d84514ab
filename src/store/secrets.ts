/**
 * The keyring against the database: a stored ciphertext proves the key is the right one (a wrong
 * or missing key fails at start, not at the first secret read), and rotation re-encrypts every
 * secret with the current key.
 */
import type { Kysely } from "kysely";
import { UpdraftError } from "../errors/index.js";
import type { Keyring } from "../security/secrets.js";
import type { Database } from "./schema.js";

const CHECK_KEY = "secret_key_check";
const CHECK_TEXT = "updraft secret key check";

export async function checkKeyring(db: Kysely<Database>, keyring: Keyring): Promise<void> {
  const row = await db.selectFrom("updraft_meta").select("value").where("key", "=", CHECK_KEY).executeTakeFirst();
  if (!row) {
    await db.insertInto("updraft_meta").values({ key: CHECK_KEY, value: keyring.encrypt(CHECK_TEXT) }).onConflict((oc) => oc.column("key").doNothing()).execute();
    return;
  }
  let plain: string;
  try {
    plain = keyring.decrypt(row.value);
  } catch (error) {
    throw new UpdraftError("UPDRAFT_E_SECRET_KEY", `the secret key does not match this database: ${(error as Error).message}`, {
      hint: "set UPDRAFT_SECRET_KEY to the keyring the secrets were stored with (new keys go first, old ones after)",
    });
  }
  if (plain !== CHECK_TEXT) throw new UpdraftError("UPDRAFT_E_SECRET_KEY", "the secret key does not match this database");
}

/** Re-encrypts every secret (and the check value) with the keyring's current key; returns how many. */
export async function rotateSecrets(db: Kysely<Database>, keyring: Keyring): Promise<number> {
  let changed = 0;
  const again = (value: string | null) => (value === null || keyring.isCurrent(value) ? value : keyring.encrypt(keyring.decrypt(value)));
  await db.transaction().execute(async (trx) => {
    for (const c of await trx.selectFrom("connection").select(["conn_id", "password_enc", "extra_enc"]).execute()) {
      const password = again(c.password_enc);
      const extra = again(c.extra_enc);
      if (password !== c.password_enc || extra !== c.extra_enc) {
        await trx.updateTable("connection").set({ password_enc: password, extra_enc: extra }).where("conn_id", "=", c.conn_id).execute();
        changed++;
      }
    }
    for (const v of await trx.selectFrom("variable").select(["key", "value_enc"]).where("value_enc", "is not", null).execute()) {
      const value = again(v.value_enc);
      if (value !== v.value_enc) {
        await trx.updateTable("variable").set({ value_enc: value }).where("key", "=", v.key).execute();
        changed++;
      }
    }
    const check = await trx.selectFrom("updraft_meta").select("value").where("key", "=", CHECK_KEY).executeTakeFirst();
    if (check && !keyring.isCurrent(check.value)) await trx.updateTable("updraft_meta").set({ value: again(check.value)! }).where("key", "=", CHECK_KEY).execute();
  });
  return changed;
}

/**
 * The keyring, to decrypt `what` for a task. A scheduler may run without one (`updraft scheduler`
 * without UPDRAFT_SECRET_KEY): plain values still reach tasks, and a secret one fails the read
 * with this error, which names the setting.
 */
export function requireKeyring(keyring: Keyring | null, what: string): Keyring {
  if (keyring) return keyring;
  throw new UpdraftError("UPDRAFT_E_SECRET_KEY", `${what} is stored encrypted, and this process has no secrets keyring to decrypt it`, {
    hint: "give the scheduler (updraft scheduler, dags test, tasks test) UPDRAFT_SECRET_KEY, the keyring the API server uses (standalone keeps it in $UPDRAFT_HOME/secret_key)",
  });
}
