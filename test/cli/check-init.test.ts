/**
 * Type checking a user can get: `updraft init` scaffolds a DAGs project, `updraft dags check`
 * type-checks a folder (exit 0 clean, 1 with type errors, 2 for usage errors), an editor's `tsc`
 * in the scaffold sees the same errors, and `dags list-import-errors` shows type warnings.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CLI_TEST_TIMEOUT_MS, createCliEnv, REPO_ROOT, runCli, type CliEnv } from "./cli.js";

/** Several CLI processes and cold TypeScripts per test: room for a busy machine. */
const SLOW = 180_000;

let root: string;
let env: CliEnv | undefined;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "updraft-init-"));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
  env?.cleanup();
  env = undefined;
});

const SCAFFOLD = ["package.json", "tsconfig.json", ".gitignore", "README.md", "dags/hello.ts"];

/** The example DAG with a call whose input does not fit: shout takes a Greeting. */
function breakExample(project: string): number {
  const file = join(project, "dags/hello.ts");
  const lines = readFileSync(file, "utf8").split("\n");
  const at = lines.findIndex((l) => l.includes("const greeting = greet();")) + 1;
  lines.splice(at, 0, '    shout({ text: "hi" });');
  writeFileSync(file, lines.join("\n"));
  return at + 1;
}

async function init(project: string) {
  const result = await runCli(["init", project]);
  expect(result.code, result.stderr).toBe(0);
  return result;
}

describe("updraft init", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("scaffolds a DAGs project that type-checks clean, and refuses to overwrite it", async () => {
    const project = join(root, "my-dags");
    const { stdout } = await init(project);
    for (const f of SCAFFOLD) expect(existsSync(join(project, f)), f).toBe(true);
    expect(stdout).toContain("Next steps:");
    expect(stdout).toContain("npx updraft dags check");
    // From a checkout, the install line points at it.
    expect(stdout).toContain("npm install");
    const pkg = JSON.parse(readFileSync(join(project, "package.json"), "utf8")) as { name: string; type: string; dependencies: Record<string, string> };
    // Run from a checkout, the dependency is that checkout (the registry's "updraft" is another package).
    expect(pkg).toMatchObject({ name: "my-dags", type: "module", dependencies: { updraft: `file:${realpathSync(REPO_ROOT).replace(/\/$/, "")}` } });
    const tsconfig = JSON.parse(readFileSync(join(project, "tsconfig.json"), "utf8")) as { compilerOptions: Record<string, unknown> };
    expect(tsconfig.compilerOptions).toMatchObject({ strict: true, module: "preserve", moduleResolution: "bundler", noEmit: true });

    const check = await runCli(["dags", "check", "--dags-folder", join(project, "dags")]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/^1 DAG file checked \(with the options of .*my-dags\/tsconfig\.json\): no type errors$/m);

    writeFileSync(join(project, "README.md"), "mine\n");
    const again = await runCli(["init", project]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("UPDRAFT_E_INIT_EXISTS");
    expect(again.stderr).toContain("hint:");
    expect(readFileSync(join(project, "README.md"), "utf8")).toBe("mine\n");
  }, SLOW);

  it("an editor's tsc in the scaffold, with updraft linked to this build, finds a type error", async () => {
    const types = join(REPO_ROOT, "dist/sdk/index.d.ts");
    if (!existsSync(types)) throw new Error(`${types} is missing: run npm run build first`);
    const project = join(root, "editor");
    await init(project);
    // What `npm install /path/to/updraft` leaves: links into node_modules.
    mkdirSync(join(project, "node_modules/@types"), { recursive: true });
    symlinkSync(REPO_ROOT, join(project, "node_modules/updraft"));
    symlinkSync(join(REPO_ROOT, "node_modules/@types/node"), join(project, "node_modules/@types/node"));
    const tsc = (): Promise<{ code: number; stdout: string }> =>
      new Promise((resolve) => {
        execFile(process.execPath, [join(REPO_ROOT, "node_modules/typescript/bin/tsc"), "--noEmit", "-p", project], { cwd: project, timeout: 120_000 }, (error, stdout) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }),
        );
      });
    const clean = await tsc();
    expect(clean.stdout).toBe("");
    expect(clean.code).toBe(0);

    const line = breakExample(project);
    const broken = await tsc();
    expect(broken.code).not.toBe(0);
    expect(broken.stdout).toMatch(new RegExp(`dags/hello\\.ts\\(${line},\\d+\\): error TS2345: `));
  }, SLOW);
});

describe("updraft dags check", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("prints file:line:col - error TSxxxx, exits 1 with type errors, 2 for a folder that is not there", async () => {
    const project = join(root, "p");
    await init(project);
    const line = breakExample(project);
    const dags = join(project, "dags");

    const text = await runCli(["dags", "check", "--dags-folder", dags]);
    expect(text.code, text.stderr).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`^${dags}/hello\\.ts:${line}:\\d+ - error TS2345: Argument of type`, "m"));
    expect(text.stdout).toMatch(/^Found 1 type error in 1 file; 1 DAG file checked/m);

    const json = await runCli(["dags", "check", "--dags-folder", dags, "--json"]);
    expect(json.code).toBe(1);
    const parsed = JSON.parse(json.stdout) as { errorCount: number; files: string[]; tsconfig: string; diagnostics: Array<{ file: string; line: number; code: string }> };
    expect(parsed).toMatchObject({ errorCount: 1, files: ["hello.ts"], tsconfig: join(project, "tsconfig.json") });
    expect(parsed.diagnostics).toMatchObject([{ file: "hello.ts", line, code: "TS2345" }]);

    const missing = await runCli(["dags", "check", "--dags-folder", join(root, "nope")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("UPDRAFT_E_USAGE");
  }, SLOW);

  it("the built CLI checks against the shipped declaration files", async () => {
    if (!existsSync(join(REPO_ROOT, "dist/cli/main.js"))) throw new Error("run npm run build first");
    const project = join(root, "built");
    await init(project);
    const ok = await runCli(["dags", "check", "--dags-folder", join(project, "dags")], { script: "bin/updraft.js" });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    breakExample(project);
    const bad = await runCli(["dags", "check", "--dags-folder", join(project, "dags"), "--json"], { script: "bin/updraft.js" });
    expect(bad.code).toBe(1);
    expect((JSON.parse(bad.stdout) as { diagnostics: Array<{ code: string }> }).diagnostics.map((d) => d.code)).toEqual(["TS2345"]);
  }, SLOW);
});

describe("type warnings in the CLI", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("reserialize waits for the checks; list-import-errors shows warnings, marked", async () => {
    env = createCliEnv({
      "typed.ts": [
        'import { dag, task } from "updraft";',
        'const two = task({ id: "two", run: () => 2 });',
        'const upper = task({ id: "upper", run: (s: string) => s.toUpperCase() });',
        'export default dag({ id: "typed" }, () => { upper(two()); });',
        "",
      ].join("\n"),
      "broken.ts": 'import { dag } from "updraft";\nexport default dag({ id: "broken" }, () => { ( });\n',
    });
    const byDefault = { env: { UPDRAFT_TYPE_CHECK: undefined } }; // warn
    const summary = await env.json<{ files: number; errors: number; warnings: number }>(["dags", "reserialize", "--json"], byDefault);
    expect(summary).toMatchObject({ files: 2, errors: 1, warnings: 1 });
    const listed = await env.json<Array<{ severity: string; fileloc: string; code: string; line: number }>>(["dags", "list-import-errors", "--json"]);
    expect(listed.map((e) => [e.fileloc, e.severity, e.code])).toEqual([
      ["broken.ts", "error", "UPDRAFT_E_BUNDLE_FAILED"],
      ["typed.ts", "warning", "UPDRAFT_E_TYPE_ERRORS"],
    ]);
    expect(listed[1]!.line).toBe(4);
    const text = await env.run(["dags", "list-import-errors"]);
    expect(text.stdout).toMatch(/^typed\.ts \[UPDRAFT_E_TYPE_ERRORS\] warning \(its DAGs are registered\)$/m);
    expect(text.stdout).toMatch(/^ {2}typed\.ts:4:\d+ - error TS2345: /m);
    const dags = await env.json<Array<{ dagId: string }>>(["dags", "list", "--json"]);
    expect(dags.map((d) => d.dagId)).toEqual(["typed"]);

    // With typeCheck off, a reserialize clears it.
    await env.json(["dags", "reserialize", "--json"], { env: { UPDRAFT_TYPE_CHECK: "off" } });
    const after = await env.json<Array<{ severity: string }>>(["dags", "list-import-errors", "--json"]);
    expect(after.map((e) => e.severity)).toEqual(["error"]);
  }, SLOW);
});
