/**
 * `updraft init [dir]`: a DAGs project an editor understands: package.json with Updraft as a
 * dependency, a tsconfig.json for DAG files, an example DAG, so that type errors show as one types.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { UpdraftError } from "../../errors/index.js";
import { DAG_COMPILER_OPTIONS } from "../../dag-processor/type-check-config.js";

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

function versionOf(packageJson: string): string {
  return (JSON.parse(readFileSync(packageJson, "utf8")) as { version: string }).version;
}

function dependencyVersion(name: string, fallback: string): string {
  try {
    return versionOf(createRequire(import.meta.url).resolve(`${name}/package.json`));
  } catch {
    return fallback;
  }
}

/** An npm package name made from a folder name. */
function packageName(dir: string): string {
  const name = basename(dir).toLowerCase().replace(/[^a-z0-9._~-]+/g, "-").replace(/^[._-]+/, "").slice(0, 214);
  return name || "updraft-dags";
}

/** Whether this Updraft runs from a checkout (not from an installed package). */
function fromCheckout(): boolean {
  return !realpathSync(PACKAGE_ROOT).split(sep).includes("node_modules");
}

const EXAMPLE_DAG = `import { bash, dag, task } from "updraft";

interface Greeting {
  text: string;
  day: string;
}

// A task's input is the type of run's first parameter (void: none), its output what run returns.
const greet = task({
  id: "greet",
  run: (_: void, ctx): Greeting => ({ text: \`hello from \${ctx.dagId}\`, day: ctx.ds }),
});

const shout = task({
  id: "shout",
  retries: 2,
  retryDelay: "10s",
  run: (greeting: Greeting, ctx) => {
    ctx.log.info(\`the greeting of \${greeting.day}\`);
    return greeting.text.toUpperCase();
  },
});

export default dag(
  { id: "hello", schedule: "@daily", startDate: "2026-01-01", catchup: false, tags: ["example"] },
  () => {
    const greeting = greet(); // TaskRef<Greeting>
    // shout("hi") or shout(otherRef) would not compile: shout takes a Greeting.
    shout(greeting).after(bash({ id: "say_when", command: (ctx) => \`echo "run \${ctx.runId}"\` }));
  },
);
`;

function readme(name: string, installLine: string): string {
  return `# ${name}

DAGs for Updraft, the workflow orchestrator: workflows as DAGs of TypeScript tasks.

\`\`\`sh
${installLine}
npx updraft dags check            # type-check the DAG files (exit 1 on type errors)
npx updraft dags test hello       # run the example DAG once, in the foreground
npx updraft standalone            # scheduler, DAG processor, API and UI on http://localhost:8080
\`\`\`

- DAG files live in \`dags/\`; each \`export default dag(...)\` is a DAG. Updraft's processor picks up
  a saved file within about a second.
- \`tsconfig.json\` holds the options Updraft checks DAG files with, so your editor shows the same
  type errors as \`updraft dags check\` (and \`npm run typecheck\`, plain \`tsc\`).
- State (the SQLite database) goes to \`.updraft/\`, which git ignores.
`;
}

export function registerInitCommand(program: Command): void {
  program
    .command("init [dir]")
    .description("Create a DAGs project: package.json, tsconfig.json, an example DAG in dags/ (never overwrites a file)")
    .action((dirArg: string | undefined) => {
      const dir = resolve(dirArg ?? ".");
      if (existsSync(dir) && !statSync(dir).isDirectory()) {
        throw new UpdraftError("UPDRAFT_E_USAGE", `${dir} exists and is not a folder`, { hint: "name a new or existing folder: updraft init my-dags" });
      }
      const name = packageName(dir);
      const updraftVersion = versionOf(join(PACKAGE_ROOT, "package.json"));
      const checkout = fromCheckout();
      // From a checkout the dependency points at it: the registry's "updraft" is another package.
      const dependency = checkout ? `file:${realpathSync(PACKAGE_ROOT)}` : `^${updraftVersion}`;
      const tsVersion = dependencyVersion("typescript", "6.0.0").split(".");
      const files: Record<string, string> = {
        "package.json": `${JSON.stringify(
          {
            name,
            private: true,
            type: "module",
            scripts: { check: "updraft dags check", typecheck: "tsc --noEmit -p .", start: "updraft standalone" },
            dependencies: { updraft: dependency },
            devDependencies: { "@types/node": `^${dependencyVersion("@types/node", "20.19.0")}`, typescript: `~${tsVersion[0]}.${tsVersion[1]}.0` },
          },
          null,
          2,
        )}\n`,
        "tsconfig.json": `${JSON.stringify({ compilerOptions: DAG_COMPILER_OPTIONS, include: ["dags"] }, null, 2)}\n`,
        ".gitignore": "node_modules/\n.updraft/\n",
        "README.md": readme(name, "npm install"),
        [join("dags", "hello.ts")]: EXAMPLE_DAG,
      };
      const taken = Object.keys(files).filter((f) => existsSync(join(dir, f)));
      if (taken.length > 0) {
        throw new UpdraftError("UPDRAFT_E_INIT_EXISTS", `${dir} already has ${taken.join(", ")}; nothing was written`, {
          hint: "updraft init never overwrites a file: pick a new folder (updraft init my-dags) or move these files away",
        });
      }
      mkdirSync(join(dir, "dags"), { recursive: true });
      // "wx": a file that appeared meanwhile is still not overwritten.
      for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text, { flag: "wx" });
      const rel = relative(process.cwd(), dir);
      const shown = rel === "" ? "." : rel.startsWith("..") ? dir : rel;
      const out = [
        `Created a DAGs project in ${dir}: ${Object.keys(files).join(", ")}`,
        "",
        "Next steps:",
        ...(shown === "." ? [] : [`  cd ${shown.includes(" ") ? JSON.stringify(shown) : shown}`]),
        checkout ? "  npm install                     # updraft comes from this checkout (file: in package.json)" : "  npm install",
        "  npx updraft dags check          # type-check the DAG files; your editor shows the same errors",
        "  npx updraft dags test hello     # run the example DAG once",
        "  npx updraft standalone          # scheduler, API and UI on http://localhost:8080",
      ];
      process.stdout.write(`${out.join("\n")}\n`);
    });
}
