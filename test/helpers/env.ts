/**
 * A throw-away Updraft environment for a test: a temporary home and DAGs folder, a config, and
 * a migrated store on SQLite (a file in the home) or PostgreSQL (a schema of its own).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { loadConfig, type Config } from "../../src/config/index.js";
import { openConfiguredStore } from "../../src/runtime/index.js";
import type { Store } from "../../src/store/connect.js";
import { createPgSchema } from "./services.js";

export type TestDialect = "sqlite" | "postgres";

export interface TestEnv {
  config: Config;
  store: Store;
  home: string;
  dagsFolder: string;
  /** Writes (or replaces) a file in the DAGs folder. */
  writeDag(relativePath: string, source: string): string;
  cleanup(): Promise<void>;
}

export async function createTestEnv(options: { dialect?: TestDialect; dags?: Record<string, string>; config?: Partial<Record<keyof Config, unknown>> } = {}): Promise<TestEnv> {
  const root = mkdtempSync(join(tmpdir(), "updraft-test-"));
  const home = join(root, "home");
  const dagsFolder = join(root, "dags");
  mkdirSync(dagsFolder, { recursive: true });
  const pgSchema = options.dialect === "postgres" ? await createPgSchema() : null;
  const { config } = loadConfig(
    {
      home,
      dagsFolder,
      dagsArePausedAtCreation: false,
      warmRunners: 1,
      // Type checking has tests of its own; elsewhere it would only cost a TypeScript per processor.
      typeCheck: "off",
      ...(pgSchema ? { databaseUrl: pgSchema.url } : {}),
      ...options.config,
    },
    {},
  );
  let store: Store;
  try {
    store = await openConfiguredStore(config, { migrate: true });
  } catch (error) {
    await pgSchema?.drop();
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  const writeDag = (relativePath: string, source: string) => {
    const file = join(dagsFolder, relativePath);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, source);
    return file;
  };
  for (const [path, source] of Object.entries(options.dags ?? {})) writeDag(path, source);
  return {
    config,
    store,
    home,
    dagsFolder,
    writeDag,
    async cleanup() {
      await store.close().catch(() => {});
      await pgSchema?.drop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
