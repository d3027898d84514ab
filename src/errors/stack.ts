/**
 * A failed try's stack trace as its author wants to read it: the frames of their own code, without
 * the frames of Updraft's runner (`run-try.ts`, `runner-main.ts`, the SDK) and of Node.js
 * (`node:internal/…`) that every stack ends with. The full stack is what is stored; this split is
 * made when it is shown (the try's log line, the API's tries answer, the CLI), so a better rule
 * applies to old tries too.
 *
 * Like the rest of `errors/`, this imports nothing.
 */

/** This installation's root: `src/errors/stack.ts` and `dist/errors/stack.js` both sit two levels down. */
const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** Updraft's own files: its sources and build here, and Updraft installed as a package anywhere. */
const OWN_PREFIXES = ["src/", "dist/", "bin/"].map((dir) => `${ROOT}${dir}`);
const OWN_PACKAGE = "/node_modules/updraft/";

export interface SplitStack {
  /** The header (`Error: message`) and the user's frames. */
  user: string;
  /** How many frames were left out. */
  hidden: number;
}

type FrameKind = "own" | "file" | "other";

/** The location a frame line names: `at fn (LOCATION)` or `at LOCATION`. */
function locationOf(frame: string): string {
  const body = frame.trim().slice(3);
  const open = body.indexOf(" (");
  return open >= 0 && body.endsWith(")") ? body.slice(open + 2, -1) : body;
}

function kindOf(frame: string, ownPrefixes: readonly string[]): FrameKind {
  let location = locationOf(frame);
  if (location.startsWith("node:")) return "own";
  if (location.startsWith("file://")) {
    try {
      location = decodeURIComponent(new URL(location).pathname);
    } catch {
      return "other";
    }
  }
  if (!location.startsWith("/")) return "other"; // <anonymous>, native, index 0, eval
  if (location.includes(OWN_PACKAGE) || ownPrefixes.some((p) => location.startsWith(p))) return "own";
  return "file";
}

const FRAME = /^\s+at /;

/**
 * Keeps the header and every frame outside Updraft's files and Node's internals. Frames that name
 * no file (`Array.map (<anonymous>)`, `async Promise.all (index 0)`) stay where the user's frames
 * surround them, and go where they only lead into Updraft's.
 */
export function splitStack(stack: string, ownPrefixes: readonly string[] = OWN_PREFIXES): SplitStack {
  const lines = stack.split("\n");
  const firstFrame = lines.findIndex((l) => FRAME.test(l));
  if (firstFrame < 0) return { user: stack, hidden: 0 };
  const header = lines.slice(0, firstFrame);
  const frames = lines.slice(firstFrame).filter((l) => FRAME.test(l));
  const kept = frames.map((f) => ({ f, kind: kindOf(f, ownPrefixes) })).filter((x) => x.kind !== "own");
  while (kept.length > 0 && kept[kept.length - 1]!.kind === "other") kept.pop();
  return { user: [...header, ...kept.map((x) => x.f)].join("\n"), hidden: frames.length - kept.length };
}

/** The user's part of a stack, with a line saying how many frames were left out (for logs and the CLI). */
export function userStack(stack: string): string {
  const { user, hidden } = splitStack(stack);
  if (hidden === 0) return user;
  return `${user}\n    … ${hidden} frame${hidden === 1 ? "" : "s"} of Updraft and Node.js not shown (the try's full stack is in the API and the UI)`;
}
