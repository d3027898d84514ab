/** Finds where in a DAG file an error happened, from a (source-mapped) stack trace. */
import { isAbsolute, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

export interface SourceLocation {
  /** Path relative to the DAGs folder, then line and column: "etl.ts:12:5". */
  location: string;
  file: string;
  line: number;
  column: number;
}

const FRAME_RE = /\(?((?:file:\/\/)?\/[^():]+|[A-Za-z]:\\[^():]+):(\d+):(\d+)\)?\s*$/;

/** The first stack frame inside the DAGs folder (outside node_modules), if any. */
export function locateInDagsFolder(stack: string | undefined, dagsFolder: string): SourceLocation | null {
  if (!stack) return null;
  for (const line of stack.split("\n")) {
    if (!line.trimStart().startsWith("at ")) continue;
    const match = FRAME_RE.exec(line);
    if (!match) continue;
    let path = match[1]!;
    if (path.startsWith("file://")) {
      try {
        path = fileURLToPath(path);
      } catch {
        continue;
      }
    }
    const rel = relative(dagsFolder, path);
    if (rel.startsWith("..") || isAbsolute(rel) || rel.split(sep).includes("node_modules")) continue;
    const file = rel.split(sep).join("/");
    const lineNo = Number(match[2]);
    const column = Number(match[3]);
    return { location: `${file}:${lineNo}:${column}`, file, line: lineNo, column };
  }
  return null;
}
