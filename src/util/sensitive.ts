/**
 * Which names hold secrets, after Airflow's sensitive field names: a variable whose key, or an
 * entry of a connection's extra whose name, contains one of these parts (case-insensitive) is
 * secret. The store encrypts such variables; the task runner masks their values in logs.
 */

/** Parts of a name that make its value secret (case-insensitive). */
export const SENSITIVE_KEY_PARTS = [
  "password",
  "passwd",
  "secret",
  "token",
  "api_key",
  "apikey",
  "private_key",
  "passphrase",
  "credential",
  "authorization",
  "keyfile_dict",
  "service_account",
] as const;

/** What a secret value is shown as. */
export const MASK = "***";

export function isSensitiveKey(key: string): boolean {
  const lower = key.toLowerCase();
  return SENSITIVE_KEY_PARTS.some((part) => lower.includes(part));
}
