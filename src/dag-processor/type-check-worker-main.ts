/**
 * The type-check worker: a subprocess that type-checks DAG files, one at a time, keeping a
 * language service per DAGs folder warm between checks. It runs no author code, but a hostile
 * file can still make the checker slow or hungry: the parent kills this process at its timeout,
 * and its heap is capped.
 */
import { errorMessage } from "../errors/index.js";
import { FolderChecker } from "./type-check.js";
import type { TypeCheckRequest, TypeCheckResponse } from "./type-check-protocol.js";

const checkers = new Map<string, FolderChecker>();

function handle(request: TypeCheckRequest): TypeCheckResponse {
  try {
    let checker = checkers.get(request.dagsFolder);
    if (!checker) {
      checker = new FolderChecker(request.dagsFolder);
      checkers.set(request.dagsFolder, checker);
    }
    return { type: "result", id: request.id, diagnostics: checker.check(request.file, request.source) };
  } catch (error) {
    // A checker that threw may hold a broken program: start afresh next time.
    checkers.get(request.dagsFolder)?.dispose();
    checkers.delete(request.dagsFolder);
    return { type: "failed", id: request.id, message: `the type checker failed: ${errorMessage(error)}` };
  }
}

process.on("message", (request: TypeCheckRequest) => process.send!(handle(request)));
process.on("disconnect", () => process.exit(0));
process.send!({ type: "ready" });
