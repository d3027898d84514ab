/**
 * A DAG import worker: a subprocess that imports bundled DAG files, one at a time, and sends back
 * their serialized DAGs. Author code runs here and nowhere else in the DAG processor; the parent
 * kills this process when an import takes too long and validates everything it sends.
 */
import { pathToFileURL } from "node:url";
import { errorMessage, isUpdraftError, UpdraftError } from "../errors/index.js";
import { serializeDag } from "../dag/serialize.js";
import { validateDag } from "../dag/validate.js";
import type { SerializedDag } from "../dag/model.js";
import { installSdk } from "../sdk/global.js";
import * as sdk from "../sdk/index.js";
import { takeDefinedDags } from "../sdk/dag.js";
import { locateInDagsFolder } from "./locate.js";
import type { ImportFailure, ImportRequest, ImportResponse } from "./import-protocol.js";

installSdk(sdk);

function failure(error: unknown, dagsFolder: string, at?: Error): ImportFailure {
  const stack = error instanceof Error ? error.stack : undefined;
  const where = locateInDagsFolder(stack, dagsFolder) ?? locateInDagsFolder(at?.stack, dagsFolder);
  const hint = typeof error === "object" && error !== null && "hint" in error && typeof error.hint === "string" ? error.hint : undefined;
  return {
    code: isUpdraftError(error) ? error.code : "UPDRAFT_E_IMPORT_FAILED",
    message: errorMessage(error) + (hint ? ` (hint: ${hint})` : ""),
    location: where?.location ?? null,
    line: where?.line ?? null,
    column: where?.column ?? null,
    stack: stack ?? null,
  };
}

async function handle(request: ImportRequest): Promise<ImportResponse> {
  takeDefinedDags(); // nothing left over from an earlier file
  const dags: SerializedDag[] = [];
  const errors: ImportFailure[] = [];
  try {
    await import(`${pathToFileURL(request.bundlePath).href}?import=${request.id}`);
  } catch (error) {
    takeDefinedDags();
    return { type: "result", id: request.id, dags, errors: [failure(error, request.dagsFolder)] };
  }
  for (const definition of takeDefinedDags()) {
    try {
      const serialized = serializeDag(definition, request.fileloc);
      const problems = validateDag(serialized);
      if (problems.length > 0) throw new UpdraftError("UPDRAFT_E_DAG_DEFINITION", `DAG '${definition.dagId}': ${problems.join("; ")}`);
      dags.push(serialized);
    } catch (error) {
      errors.push(failure(error, request.dagsFolder, definition.callSite));
    }
  }
  return { type: "result", id: request.id, dags, errors };
}

process.on("message", (request: ImportRequest) => {
  void handle(request).then(
    (response) => process.send!(response),
    (error: unknown) => process.send!({ type: "result", id: request.id, dags: [], errors: [failure(error, request.dagsFolder)] }),
  );
});
// The DAG processor is gone: take down this process group (what DAG files started included).
process.on("disconnect", () => {
  try {
    process.kill(-process.pid, "SIGKILL");
  } catch {
    process.exit(0);
  }
});
process.send!({ type: "ready" });
