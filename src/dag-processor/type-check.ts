/**
 * Type checking DAG files with the TypeScript compiler API. `import … from "updraft"` always
 * means the SDK of the running Updraft (its declaration files, or its sources when Updraft runs
 * from them), wherever the DAGs folder is and whatever its node_modules hold, just as the bundle
 * shim binds it at run time. The options are Updraft's defaults for DAG files, overlaid with those
 * of the nearest tsconfig.json at or above the DAGs folder (the one an editor would use).
 *
 * This module loads TypeScript (~10 MB of JavaScript): only `updraft dags check` and the type-check
 * worker subprocess import it, never the processes that schedule or serve.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { UpdraftError } from "../errors/index.js";
import { DAG_COMPILER_OPTIONS, type TypeDiagnostic } from "./type-check-config.js";

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const TS_FILE = /\.[mc]?ts$/;
const JS_FILE = /\.[mc]?js$/;

/**
 * The file `"updraft"` resolves to: the package's `types` (dist/sdk/index.d.ts) from a build, the
 * SDK's sources when Updraft itself runs from its sources (tests, `node --import tsx`).
 */
export function sdkTypesEntry(): string {
  let entry: string;
  if (FROM_SOURCE) entry = join(PACKAGE_ROOT, "src/sdk/index.ts");
  else {
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { types?: string };
    entry = join(PACKAGE_ROOT, pkg.types ?? "dist/sdk/index.d.ts");
  }
  if (!existsSync(entry)) {
    throw new UpdraftError("UPDRAFT_E_TYPE_CHECK_FAILED", `Updraft's type declarations are missing (${entry})`, { hint: "build Updraft (npm run build) or reinstall it" });
  }
  return entry;
}

/** Files of Updraft itself: never reported, whatever options the folder's tsconfig sets. */
function isUpdraftFile(file: string): boolean {
  return file.startsWith(join(PACKAGE_ROOT, "src") + sep) || file.startsWith(join(PACKAGE_ROOT, "dist") + sep);
}

export interface CheckSettings {
  options: ts.CompilerOptions;
  /** The tsconfig.json whose options were added, if any. */
  configFile: string | null;
  /** Problems of that tsconfig.json itself. */
  configDiagnostics: TypeDiagnostic[];
}

/** Updraft's @types folder: Node's types for folders that have none of their own. */
function ownTypeRoot(): string | null {
  try {
    return dirname(dirname(createRequire(import.meta.url).resolve("@types/node/package.json")));
  } catch {
    return null;
  }
}

function typeRootsFrom(dir: string): string[] {
  const roots: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    const candidate = join(d, "node_modules", "@types");
    if (existsSync(candidate)) roots.push(candidate);
    if (dirname(d) === d) break;
  }
  const own = ownTypeRoot();
  if (own && !roots.includes(own)) roots.push(own);
  return roots;
}

/** The compiler options for the DAG files of `dagsFolder`. */
export function checkSettings(dagsFolder: string): CheckSettings {
  const defaults = ts.convertCompilerOptionsFromJson(DAG_COMPILER_OPTIONS, dagsFolder).options;
  const configFile = ts.findConfigFile(dagsFolder, ts.sys.fileExists, "tsconfig.json") ?? null;
  let own: ts.CompilerOptions = {};
  const configDiagnostics: TypeDiagnostic[] = [];
  if (configFile) {
    const read = ts.readConfigFile(configFile, ts.sys.readFile);
    if (read.error) configDiagnostics.push(toDiagnostic(read.error));
    else {
      const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, dirname(configFile), undefined, configFile);
      own = parsed.options;
      // Its file list does not matter here (the DAG files are checked), so neither does an empty one.
      for (const d of parsed.errors) if (d.code !== 18003) configDiagnostics.push(toDiagnostic(d));
    }
  }
  const options: ts.CompilerOptions = { ...defaults, ...own };
  // `module` and `moduleResolution` go together: a tsconfig that sets one gets TypeScript's pairing.
  if (own.module !== undefined || own.moduleResolution !== undefined) {
    if (own.module === undefined) delete options.module;
    if (own.moduleResolution === undefined) delete options.moduleResolution;
  }
  options.typeRoots ??= typeRootsFrom(configFile ? dirname(configFile) : dagsFolder);
  // Checking only: nothing is written, and build-mode options would only raise option errors.
  options.noEmit = true;
  for (const key of ["emitDeclarationOnly", "declaration", "declarationMap", "composite", "incremental", "tsBuildInfoFile", "outFile"] as const) delete options[key];
  delete options.configFilePath;
  return { options, configFile, configDiagnostics };
}

/** Whether `file` (a DAG file) is checked under `options`: TypeScript always, JavaScript with checkJs. */
export function isCheckable(file: string, options: ts.CompilerOptions): boolean {
  return TS_FILE.test(file) || (JS_FILE.test(file) && options.checkJs === true && options.allowJs === true);
}

function toDiagnostic(d: ts.Diagnostic): TypeDiagnostic {
  const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
  if (d.file && d.start !== undefined) {
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return { file: resolve(d.file.fileName), line: line + 1, column: character + 1, code: d.code, message };
  }
  return { file: d.file ? resolve(d.file.fileName) : null, line: null, column: null, code: d.code, message };
}

function errorsOnly(list: readonly ts.Diagnostic[]): TypeDiagnostic[] {
  return list.filter((d) => d.category === ts.DiagnosticCategory.Error).map(toDiagnostic);
}

/** Local sources of a program: the author's files, not libraries, not Updraft's own. */
function authorFiles(program: ts.Program): ts.SourceFile[] {
  return program.getSourceFiles().filter((sf) => {
    const file = resolve(sf.fileName);
    return !sf.isDeclarationFile && !file.split(sep).includes("node_modules") && !isUpdraftFile(file);
  });
}

function byPosition(a: TypeDiagnostic, b: TypeDiagnostic): number {
  return (a.file ?? "").localeCompare(b.file ?? "") || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);
}

/** Module resolution with `"updraft"` bound to the running Updraft's SDK. */
function resolverFor(sdk: string, host: ts.ModuleResolutionHost) {
  const sdkModule: ts.ResolvedModuleWithFailedLookupLocations = {
    resolvedModule: { resolvedFileName: sdk, extension: sdk.endsWith(".d.ts") ? ts.Extension.Dts : ts.Extension.Ts, isExternalLibraryImport: false },
  };
  return (literals: readonly ts.StringLiteralLike[], containingFile: string, redirected: ts.ResolvedProjectReference | undefined, options: ts.CompilerOptions, sourceFile: ts.SourceFile) =>
    literals.map((literal) =>
      literal.text === "updraft"
        ? sdkModule
        : ts.resolveModuleName(literal.text, containingFile, options, host, undefined, redirected, ts.getModeForUsageLocation(sourceFile, literal, options)),
    );
}

export interface FolderCheckResult extends CheckSettings {
  /** The DAG files checked (absolute). */
  files: string[];
  diagnostics: TypeDiagnostic[];
}

/** Checks `files` (DAG files of `dagsFolder`, absolute) in one program: `updraft dags check`. */
export function checkFiles(dagsFolder: string, files: readonly string[]): FolderCheckResult {
  const settings = checkSettings(dagsFolder);
  const roots = files.filter((f) => isCheckable(f, settings.options));
  const host = ts.createCompilerHost(settings.options, true);
  host.resolveModuleNameLiterals = resolverFor(sdkTypesEntry(), host);
  const program = ts.createProgram({ rootNames: roots, options: settings.options, host });
  const diagnostics = [...settings.configDiagnostics, ...errorsOnly(program.getOptionsDiagnostics()), ...errorsOnly(program.getGlobalDiagnostics())];
  for (const sf of authorFiles(program)) diagnostics.push(...errorsOnly(program.getSyntacticDiagnostics(sf)), ...errorsOnly(program.getSemanticDiagnostics(sf)));
  return { ...settings, files: roots, diagnostics: dedupe(diagnostics).sort(byPosition) };
}

function dedupe(list: TypeDiagnostic[]): TypeDiagnostic[] {
  const seen = new Set<string>();
  return list.filter((d) => {
    const key = `${d.file}:${d.line}:${d.column}:${d.code}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * A long-lived checker for one DAGs folder (the type-check worker keeps one per folder): a
 * language service whose parsed files (the lib, Node's types, the SDK, unchanged DAG files) are
 * reused from one check to the next, so a check after the first costs tens of milliseconds
 * instead of seconds.
 */
export class FolderChecker {
  readonly #dagsFolder: string;
  readonly #sdk = sdkTypesEntry();
  readonly #registry = ts.createDocumentRegistry();
  #settings: CheckSettings | null = null;
  #settingsKey = "";
  #root = "";
  /** The root file's text as the caller read it (that text, not the disk's, is what is checked). */
  #rootText: string | null = null;
  #version = 0;
  readonly #service: ts.LanguageService;

  constructor(dagsFolder: string) {
    this.#dagsFolder = dagsFolder;
    const files = ts.sys;
    const host: ts.LanguageServiceHost = {
      getProjectVersion: () => String(this.#version),
      getScriptFileNames: () => (this.#root ? [this.#root] : []),
      getScriptVersion: (file) => {
        if (file === this.#root && this.#rootText !== null) return `text:${createHash("sha1").update(this.#rootText).digest("hex")}`;
        try {
          const st = statSync(file);
          return `${st.mtimeMs}:${st.size}`;
        } catch {
          return "missing";
        }
      },
      getScriptSnapshot: (file) => {
        if (file === this.#root && this.#rootText !== null) return ts.ScriptSnapshot.fromString(this.#rootText);
        const text = files.readFile(file);
        return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
      },
      getCurrentDirectory: () => dagsFolder,
      getCompilationSettings: () => this.#currentSettings().options,
      getDefaultLibFileName: (options) => ts.getDefaultLibFilePath(options),
      fileExists: files.fileExists,
      readFile: files.readFile,
      readDirectory: files.readDirectory,
      directoryExists: files.directoryExists,
      getDirectories: files.getDirectories,
      realpath: files.realpath,
      useCaseSensitiveFileNames: () => files.useCaseSensitiveFileNames,
    };
    host.resolveModuleNameLiterals = resolverFor(this.#sdk, host);
    this.#service = ts.createLanguageService(host, this.#registry);
  }

  /** The settings, read again when the tsconfig.json that applies (or its content) changed. */
  #currentSettings(): CheckSettings {
    const configFile = ts.findConfigFile(this.#dagsFolder, ts.sys.fileExists, "tsconfig.json") ?? "";
    let key = configFile;
    if (configFile) {
      try {
        const st = statSync(configFile);
        key += `:${st.mtimeMs}:${st.size}`;
      } catch {
        key += ":missing";
      }
    }
    if (!this.#settings || key !== this.#settingsKey) {
      this.#settings = checkSettings(this.#dagsFolder);
      this.#settingsKey = key;
    }
    return this.#settings;
  }

  /**
   * Type errors of `file` (absolute) and of the local files it imports, `file` read as `text`
   * when given. A JavaScript file without checkJs has none.
   */
  check(file: string, text?: string): TypeDiagnostic[] {
    this.#version++;
    this.#root = file;
    this.#rootText = text ?? null;
    const settings = this.#currentSettings();
    if (!isCheckable(file, settings.options)) return [];
    const program = this.#service.getProgram();
    if (!program) return [];
    const diagnostics = [...settings.configDiagnostics, ...errorsOnly(this.#service.getCompilerOptionsDiagnostics())];
    for (const sf of authorFiles(program)) {
      diagnostics.push(...errorsOnly(this.#service.getSyntacticDiagnostics(sf.fileName)), ...errorsOnly(this.#service.getSemanticDiagnostics(sf.fileName)));
    }
    return dedupe(diagnostics).sort(byPosition);
  }

  dispose(): void {
    this.#service.dispose();
  }
}
