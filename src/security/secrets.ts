/**
 * Secrets at rest: AES-256-GCM under a keyring of named keys. The first key encrypts; any key of
 * the ring decrypts (so keys can be rotated: add a new key first, run `updraft rotate-secret-key`,
 * then drop the old one). A ciphertext is "v1:<key id>:<iv>:<tag>:<data>" (base64url parts).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { UpdraftError } from "../errors/index.js";

export interface SecretKey {
  id: string;
  key: Buffer;
}

export interface Keyring {
  /** The key new ciphertexts are made with. */
  readonly current: SecretKey;
  encrypt(plaintext: string): string;
  decrypt(ciphertext: string): string;
  /** Whether a ciphertext was made with the current key. */
  isCurrent(ciphertext: string): boolean;
}

const KEY_ID_RE = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * Parses a keyring: comma-separated entries "id:key", the key 32 bytes as base64 or hex; the
 * first entry is the current key. A bare key (no id) gets an id derived from it.
 */
export function parseKeyring(text: string, source = "UPDRAFT_SECRET_KEY"): SecretKey[] {
  const entries = text.split(",").map((e) => e.trim()).filter(Boolean);
  if (entries.length === 0) throw keyError(`${source} is empty`);
  const keys = entries.map((entry) => {
    const colon = entry.indexOf(":");
    const id = colon > 0 ? entry.slice(0, colon) : null;
    const material = colon > 0 ? entry.slice(colon + 1) : entry;
    const key = /^[0-9a-f]{64}$/i.test(material) ? Buffer.from(material, "hex") : Buffer.from(material, "base64");
    if (key.length !== 32) throw keyError(`${source}: a key must be 32 bytes, base64 or hex (got ${key.length} bytes)`);
    const keyId = id ?? createHash("sha256").update(key).digest("hex").slice(0, 8);
    if (!KEY_ID_RE.test(keyId)) throw keyError(`${source}: key id '${keyId}' may hold only letters, digits, "_" and "-"`);
    return { id: keyId, key };
  });
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw keyError(`${source}: two keys have the same id`);
  return keys;
}

function keyError(message: string): UpdraftError {
  return new UpdraftError("UPDRAFT_E_SECRET_KEY", message, {
    hint: 'generate one with `openssl rand -base64 32`; several as "new:<key>,old:<key>" (the first encrypts)',
  });
}

export function generateKey(): string {
  return randomBytes(32).toString("base64");
}

export function createKeyring(keys: SecretKey[]): Keyring {
  const byId = new Map(keys.map((k) => [k.id, k]));
  const current = keys[0]!;
  return {
    current,
    encrypt(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", current.key, iv);
      cipher.setAAD(Buffer.from(current.id));
      const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return ["v1", current.id, iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), data.toString("base64url")].join(":");
    },
    decrypt(ciphertext) {
      const parts = ciphertext.split(":");
      if (parts.length !== 5 || parts[0] !== "v1") throw new UpdraftError("UPDRAFT_E_SECRET_KEY", "a stored secret is not in a known format");
      const key = byId.get(parts[1]!);
      if (!key) {
        throw new UpdraftError("UPDRAFT_E_SECRET_KEY", `a stored secret was encrypted with key '${parts[1]}', which is not in the keyring`, {
          hint: "add that key to UPDRAFT_SECRET_KEY (after the current one) until `updraft rotate-secret-key` re-encrypted everything",
        });
      }
      try {
        const decipher = createDecipheriv("aes-256-gcm", key.key, Buffer.from(parts[2]!, "base64url"));
        decipher.setAAD(Buffer.from(key.id));
        decipher.setAuthTag(Buffer.from(parts[3]!, "base64url"));
        return Buffer.concat([decipher.update(Buffer.from(parts[4]!, "base64url")), decipher.final()]).toString("utf8");
      } catch {
        throw new UpdraftError("UPDRAFT_E_SECRET_KEY", `a stored secret does not decrypt with key '${key.id}': the key is wrong or the data was changed`, {
          hint: "check UPDRAFT_SECRET_KEY",
        });
      }
    },
    isCurrent(ciphertext) {
      return ciphertext.split(":")[1] === current.id;
    },
  };
}
