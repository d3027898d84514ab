/**
 * DAG bundles do not carry the SDK: their `import … from "updraft"` reads it from this global,
 * which the processes that import bundles (DAG import workers, task runners) set to their SDK.
 */
export const SDK_GLOBAL = Symbol.for("updraft.sdk");

export function installSdk(sdk: object): void {
  (globalThis as Record<symbol, unknown>)[SDK_GLOBAL] = sdk;
}
