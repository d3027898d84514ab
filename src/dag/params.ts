/**
 * DAG params: a JSON-Schema subset, validated with Ajv. A run's params are the defaults with the
 * run's conf laid over them, every conf key included (Airflow's dag_run_conf_overrides_params);
 * declared params are validated against their spec.
 */
import { createRequire } from "node:module";
import type * as AjvModule from "ajv";
import type { Ajv as AjvInstance, ErrorObject, ValidateFunction } from "ajv";
import type { FormatsPlugin } from "ajv-formats";
import { UpdraftError } from "../errors/index.js";
import type { ParamSpec } from "../sdk/types.js";
import { checkJsonDepth } from "../util/json-depth.js";

const require = createRequire(import.meta.url);
let shared: AjvInstance | null = null;

/**
 * Ajv, loaded and set up on first use (~50 ms): a DAG without params, and every process that
 * checks none (CLI commands, import workers), never pays for it.
 */
function ajv(): AjvInstance {
  if (!shared) {
    const { Ajv } = require("ajv") as typeof AjvModule;
    shared = new Ajv({ allErrors: true, strict: false });
    // Airflow checks `format` (date, date-time, time, email, uri, …) as JSON Schema says; so does Updraft.
    (require("ajv-formats") as { default: FormatsPlugin }).default(shared);
  }
  return shared;
}
const PARAM_KEYS = new Set(["type", "default", "enum", "description", "title", "minimum", "maximum", "minLength", "maxLength", "pattern", "format", "items"]);
const TYPES = new Set(["string", "number", "integer", "boolean", "array", "object", "null"]);

// Keyed by the schema's text: every version of a DAG parses its params into a new object, but
// they rarely change, and compiling a schema costs milliseconds.
const compiled = new Map<string, ValidateFunction>();

function schemaOf(params: Record<string, ParamSpec>): object {
  const properties: Record<string, object> = {};
  const required: string[] = [];
  for (const [name, spec] of Object.entries(params)) {
    const { description: _d, title: _t, ...rest } = spec;
    properties[name] = rest;
    if (spec.default === undefined) required.push(name);
  }
  return { type: "object", properties, required };
}

function validatorFor(params: Record<string, ParamSpec>): ValidateFunction {
  const schema = schemaOf(params);
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv().compile(schema);
    if (compiled.size > 1000) compiled.clear();
    compiled.set(key, validate);
  }
  return validate;
}

const FORMAT_EXAMPLES: Record<string, string> = {
  date: "2026-03-01",
  "date-time": "2026-03-01T03:00:00Z",
  time: "03:00:00Z",
  email: "ada@example.com",
  uri: "https://example.com/path",
};

function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const name = e.instancePath.replace(/^\//, "").replace(/\//g, ".");
    if (e.keyword === "required") return `param '${(e.params as { missingProperty: string }).missingProperty}' is required (it has no default)`;
    if (e.keyword === "enum") return `param '${name}' must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}`;
    if (e.keyword === "format") return `param '${name}' must be a ${(e.params as { format: string }).format}${FORMAT_EXAMPLES[(e.params as { format: string }).format] ? ` such as ${FORMAT_EXAMPLES[(e.params as { format: string }).format]}` : ""}`;
    return `param '${name}' ${e.message ?? "is not valid"}`;
  });
}

/** Problems with the param declarations themselves (checked when a DAG is processed). */
export function checkParamSpecs(params: Record<string, ParamSpec>, scheduled: boolean): string[] {
  const problems: string[] = [];
  if (Object.keys(params).length === 0) return problems;
  for (const [name, spec] of Object.entries(params)) {
    if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
      problems.push(`param '${name}' must be an object such as { type: "string", default: "eu" }`);
      continue;
    }
    try {
      checkJsonDepth(spec, `param '${name}'`);
    } catch (error) {
      problems.push((error as Error).message);
      continue;
    }
    if (spec.format !== undefined && (typeof spec.format !== "string" || !ajv().formats[spec.format])) {
      problems.push(`param '${name}' has unknown format ${JSON.stringify(spec.format)}; known: ${Object.keys(ajv().formats).join(", ")}`);
    }
    for (const key of Object.keys(spec)) if (!PARAM_KEYS.has(key)) problems.push(`param '${name}' has unknown key '${key}'`);
    const types = spec.type === undefined ? [] : Array.isArray(spec.type) ? spec.type : [spec.type];
    for (const t of types) if (!TYPES.has(t)) problems.push(`param '${name}' has unknown type '${String(t)}'`);
    if (spec.enum !== undefined && !Array.isArray(spec.enum)) problems.push(`param '${name}': enum must be an array`);
    if (spec.default === undefined && scheduled) problems.push(`param '${name}' has no default, but the DAG is scheduled: scheduled runs have no conf to take it from`);
  }
  if (problems.length > 0) return problems;
  try {
    // The defaults alone must satisfy the schema of the params that have one.
    const withDefaults = Object.fromEntries(Object.entries(params).filter(([, s]) => s.default !== undefined));
    const validate = validatorFor(params) && validatorFor(withDefaults);
    const defaults = Object.fromEntries(Object.entries(withDefaults).map(([n, s]) => [n, s.default]));
    if (!validate(defaults)) problems.push(...describeErrors(validate.errors).map((p) => `default value: ${p}`));
  } catch (error) {
    problems.push(`params do not form a valid schema: ${(error as Error).message}`);
  }
  return problems;
}

/** The params a run sees: the defaults with the conf laid over them; throws UPDRAFT_E_PARAMS_INVALID. */
export function resolveParams(params: Record<string, ParamSpec>, conf: Record<string, unknown>): Record<string, unknown> {
  checkJsonDepth(conf, "the run's conf");
  const resolved: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(params)) if (spec.default !== undefined) resolved[name] = structuredClone(spec.default);
  Object.assign(resolved, structuredClone(conf));
  // No params declared: any conf object goes (its keys are the run's params).
  if (Object.keys(params).length === 0) return resolved;
  const validate = validatorFor(params);
  if (!validate(resolved)) {
    const problems = describeErrors(validate.errors);
    throw new UpdraftError("UPDRAFT_E_PARAMS_INVALID", `the run's conf does not fit the DAG's params: ${problems.join("; ")}`, {
      hint: `declared params: ${Object.keys(params).join(", ") || "(none)"}`,
      details: problems,
    });
  }
  return resolved;
}
