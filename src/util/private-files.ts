/**
 * Files only Updraft's own account may read: DAG code is as private as the database that holds
 * it, so the bundle cache is 0700 with 0600 files.
 */
import { chmod, mkdir, rename, rm, writeFile } from "node:fs/promises";

/** Creates `dir` (and missing parents) readable by the owner only; tightens it if it exists. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/**
 * Writes a file (0600) under a temporary name and renames it into place, so a reader never sees
 * a part of it: a full disk leaves no truncated file behind that would pass for the real one.
 */
export async function writePrivateFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => {});
    throw error;
  }
}
