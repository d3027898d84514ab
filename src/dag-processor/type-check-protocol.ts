import type { TypeDiagnostic } from "./type-check-config.js";

export interface TypeCheckRequest {
  type: "check";
  id: number;
  dagsFolder: string;
  /** The DAG file, absolute. */
  file: string;
  /** The file's text as the DAG processor read (and stored) it. */
  source: string;
}

export type TypeCheckResponse =
  | { type: "result"; id: number; diagnostics: TypeDiagnostic[] }
  | { type: "failed"; id: number; message: string }
  | { type: "ready" };
