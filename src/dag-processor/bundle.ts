/**
 * Bundles a DAG file with esbuild: its imports are inlined (resolved as Node would, from the file's
 * folder) except `updraft`, which is bound at import time to the SDK of the running Updraft, so a
 * DAGs folder needs no node_modules of its own for it. Bundling runs no author code.
 */
import { createHash } from "node:crypto";
import { relative, resolve } from "node:path";
import * as esbuild from "esbuild";
import { SDK_GLOBAL } from "../sdk/global.js";
import * as sdk from "../sdk/index.js";

export interface Bundle {
  code: string;
  hash: string;
  /** Absolute paths of the files the bundle was built from (the DAG file first). */
  inputs: string[];
}

export interface BundleFailure {
  message: string;
  file: string | null;
  line: number | null;
  column: number | null;
}

const SDK_SHIM = [
  `const sdk = globalThis[Symbol.for(${JSON.stringify(SDK_GLOBAL.description)})];`,
  `if (!sdk) throw new Error("the Updraft SDK is not loaded in this process");`,
  ...Object.keys(sdk).map((name) => `export const ${name} = sdk.${name};`),
].join("\n");

const sdkPlugin: esbuild.Plugin = {
  name: "updraft-sdk",
  setup(build) {
    build.onResolve({ filter: /^updraft$/ }, () => ({ path: "updraft", namespace: "updraft-sdk" }));
    build.onLoad({ filter: /.*/, namespace: "updraft-sdk" }, () => ({ contents: SDK_SHIM, loader: "js" }));
  },
};

// ESM output cannot `require` Node's built-ins from bundled CommonJS code without this.
const BANNER = 'import { createRequire as __updraftCreateRequire } from "node:module"; const require = __updraftCreateRequire(import.meta.url);';

/**
 * `bundleDir` is where bundles are written before import; source maps are made relative to it,
 * so stack traces point at the DAG file's own lines.
 */
export async function bundleDagFile(file: string, dagsFolder: string, bundleDir: string): Promise<Bundle | BundleFailure> {
  await service.enter();
  try {
    return await bundle(file, dagsFolder, bundleDir);
  } finally {
    service.leave();
  }
}

/**
 * esbuild's service process (~15 MB) is stopped after a few idle seconds and starts again with
 * the next build (in ~10 ms): DAG files change rarely, and an idle standalone stays small.
 */
const SERVICE_IDLE_MS = 5_000;
const service = new (class {
  #active = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;

  async enter(): Promise<void> {
    clearTimeout(this.#timer);
    this.#active++;
    await this.#stopping;
  }

  leave(): void {
    if (--this.#active > 0) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.stop(), SERVICE_IDLE_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#active > 0) return;
    this.#stopping ??= esbuild.stop().finally(() => (this.#stopping = undefined));
    await this.#stopping;
  }
})();

/** Stops esbuild's service process now if no build is running (the next build starts it again). */
export function stopBundleService(): Promise<void> {
  return service.stop();
}


async function bundle(file: string, dagsFolder: string, bundleDir: string): Promise<Bundle | BundleFailure> {
  let result: esbuild.BuildResult<{ write: false; metafile: true }>;
  try {
    result = await esbuild.build({
      entryPoints: [file],
      absWorkingDir: dagsFolder,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      write: false,
      outfile: `${bundleDir}/bundle.mjs`,
      sourcemap: "inline",
      metafile: true,
      logLevel: "silent",
      banner: { js: BANNER },
      plugins: [sdkPlugin],
    });
  } catch (error) {
    const first = (error as esbuild.BuildFailure).errors?.[0];
    if (!first) return { message: String((error as Error).message ?? error), file: null, line: null, column: null };
    const loc = first.location;
    return {
      message: first.text,
      file: loc ? relative(dagsFolder, resolve(dagsFolder, loc.file)) : null,
      line: loc ? loc.line : null,
      column: loc ? loc.column + 1 : null,
    };
  }
  const code = result.outputFiles[0]!.text;
  const inputs = Object.keys(result.metafile.inputs)
    .filter((p) => !p.startsWith("updraft-sdk:"))
    .map((p) => resolve(dagsFolder, p));
  return { code, hash: createHash("sha256").update(code).digest("hex"), inputs };
}

export function isBundleFailure(value: Bundle | BundleFailure): value is BundleFailure {
  return "message" in value;
}
