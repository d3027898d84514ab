import type { SerializedDag } from "../dag/model.js";

export interface ImportRequest {
  type: "import";
  id: number;
  bundlePath: string;
  /** The DAG file relative to the DAGs folder. */
  fileloc: string;
  dagsFolder: string;
}

export interface ImportFailure {
  /** UPDRAFT_E_* code. */
  code: string;
  message: string;
  location: string | null;
  line: number | null;
  column: number | null;
  stack: string | null;
}

export type ImportResponse =
  | { type: "result"; id: number; dags: SerializedDag[]; errors: ImportFailure[] }
  | { type: "ready" };
