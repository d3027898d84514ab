import { UpdraftError } from "../errors/index.js";
import type { Builder } from "./builder.js";
import { currentBuilder, checkTaskId, ownRef, withBuilder } from "./builder.js";
import type { DagDefinition } from "./definition.js";
import { pickTaskOptions, rejectUnknownKeys } from "./options.js";
import type { AnyTaskRef, Dag, DagOptions } from "./types.js";

// Not made of dots only: ".." in a path means something else.
const DAG_ID_RE = /^(?!\.+$)[A-Za-z0-9_.-]{1,250}$/;
const DAG_OPTION_KEYS = new Set([
  "id", "schedule", "timezone", "startDate", "endDate", "catchup", "maxActiveRuns", "maxActiveTasks",
  "defaults", "params", "tags", "description", "docMd", "owner", "access",
]);

/** DAGs defined since the last `takeDefinedDags()`, in definition order. */
let defined: DagDefinition[] = [];

/**
 * A DAG whose body has not run yet: a task runner builds only the DAG of the try it runs, once,
 * and without the checks the DAG processor already made when it stored the version (cycles,
 * task options). `build` throws what the body throws.
 */
export interface DeferredDag {
  readonly dagId: string;
  build(): DagDefinition;
}

let deferring = false;
let deferred: DeferredDag[] = [];

/** From now on `dag()` keeps each body for later instead of building it (a task runner calls this once). */
export function deferDagBodies(): void {
  deferring = true;
}

/** Hands over (and forgets) the DAGs `dag()` kept since the last call, in definition order. */
export function takeDeferredDags(): DeferredDag[] {
  const taken = deferred;
  deferred = [];
  return taken;
}

/** Hands over (and forgets) the DAGs defined so far; the DAG processor and the runner call it after an import. */
export function takeDefinedDags(): DagDefinition[] {
  const taken = defined;
  defined = [];
  return taken;
}

function dagOptionError(id: string, message: string, hint: string): never {
  throw new UpdraftError("UPDRAFT_E_DAG_DEFINITION", `DAG '${id}': ${message}`, { hint });
}

/**
 * Defines a DAG: its options, and a body that adds tasks by calling task functions. The body
 * runs once, synchronously, each time the file is imported: it declares tasks, it does no work.
 * A file may define several DAGs; export each (the default export or named ones).
 * @example
 *   export default dag({ id: "daily_sales", schedule: "0 3 * * *", timezone: "Europe/Berlin" }, () => {
 *     store(summarize(extract()));
 *   });
 */
export function dag(options: DagOptions, body: () => void): Dag {
  if (typeof options !== "object" || options === null) {
    throw new UpdraftError("UPDRAFT_E_DAG_DEFINITION", "dag() needs an options object as its first argument", {
      hint: 'dag({ id: "my_dag", schedule: "@daily" }, () => { ... })',
    });
  }
  const id = options.id;
  if (typeof id !== "string" || !DAG_ID_RE.test(id)) {
    throw new UpdraftError("UPDRAFT_E_INVALID_ID", `DAG id ${JSON.stringify(id)} is not valid`, {
      hint: 'use 1–250 letters, digits, "_", "-" or "." (not dots alone)',
    });
  }
  if (typeof body !== "function") dagOptionError(id, "the second argument must be the DAG body, a function", "dag({ id }, () => { ... })");
  for (const key of Object.keys(options)) {
    if (!DAG_OPTION_KEYS.has(key)) dagOptionError(id, `unknown option '${key}'`, `known options: ${[...DAG_OPTION_KEYS].join(", ")}`);
  }
  const positive = (key: "maxActiveRuns" | "maxActiveTasks", fallback: number): number => {
    const value = options[key] ?? fallback;
    if (!Number.isInteger(value) || value < 1) dagOptionError(id, `${key} ${JSON.stringify(value)} is not valid`, `${key} must be an integer ≥ 1`);
    return value;
  };
  const tags = options.tags ?? [];
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string")) dagOptionError(id, "tags must be an array of strings", 'tags: ["finance", "daily"]');
  const defaults = options.defaults ?? {};
  if (typeof defaults !== "object" || defaults === null || Array.isArray(defaults)) dagOptionError(id, "defaults must be an object of task options", 'defaults: { retries: 2, retryDelay: "1m" }');
  rejectUnknownKeys(`DAG '${id}' defaults`, defaults, []);
  const params = options.params ?? {};
  if (typeof params !== "object" || params === null || Array.isArray(params)) dagOptionError(id, "params must be an object", 'params: { region: { type: "string", default: "eu" } }');
  const access = options.access ?? null;
  if (access !== null) {
    const ok = typeof access === "object" && !Array.isArray(access) && Object.values(access).every((rights) => Array.isArray(rights) && rights.every((r) => r === "read" || r === "edit"));
    if (!ok) dagOptionError(id, "access must map role names to lists of \"read\" and \"edit\"", 'access: { "team-a": ["read", "edit"] }');
  }
  const date = (value: DagOptions["startDate"]): string | number | null =>
    value === undefined || value === null ? null : value instanceof Date ? value.getTime() : value;

  const definition: DagDefinition = {
    dagId: id,
    options: {
      schedule: options.schedule === undefined ? null : options.schedule,
      timezone: options.timezone ?? "UTC",
      startDate: date(options.startDate),
      endDate: date(options.endDate),
      catchup: options.catchup ?? false,
      maxActiveRuns: positive("maxActiveRuns", 16),
      maxActiveTasks: positive("maxActiveTasks", 16),
      params,
      tags: [...tags],
      description: options.description ?? null,
      docMd: options.docMd ?? null,
      owner: options.owner ?? "updraft",
      access: access === null ? null : Object.fromEntries(Object.entries(access).map(([role, rights]) => [role, [...new Set(rights)].sort()])),
    },
    tasks: new Map(),
    groups: new Map(),
    callSite: new Error(`DAG '${id}' is defined here`),
  };
  const builder: Builder = {
    dag: definition,
    autoIds: new Map(),
    groupStack: [],
    defaults: pickTaskOptions(defaults),
    checked: !deferring,
  };
  if (deferring) {
    // The body runs once: what it built, or what it threw, is the answer from then on.
    let outcome: { built: DagDefinition } | { error: unknown } | null = null;
    const build = (): DagDefinition => {
      if (!outcome) {
        try {
          runBody(builder, body);
          outcome = { built: definition };
        } catch (error) {
          outcome = { error };
        }
      }
      if ("error" in outcome) throw outcome.error;
      return outcome.built;
    };
    deferred.push({ dagId: id, build });
    return {
      id,
      get taskIds() {
        return [...build().tasks.keys()];
      },
    };
  }
  runBody(builder, body);
  const cycle = findCycle(definition);
  if (cycle) {
    throw new UpdraftError("UPDRAFT_E_DAG_CYCLE", `DAG '${id}' has a cycle: ${cycle.join(" -> ")}`, {
      hint: "remove one of the .after()/chain() edges on that path",
    });
  }
  defined.push(definition);
  return { id, taskIds: [...definition.tasks.keys()] };
}

function runBody(builder: Builder, body: () => void): void {
  const id = builder.dag.dagId;
  const result = withBuilder(builder, body) as unknown;
  if (result !== null && typeof result === "object" && typeof (result as { then?: unknown }).then === "function") {
    dagOptionError(id, "the DAG body returned a promise", "a DAG body must be synchronous: define tasks, do not await work in it");
  }
}

function findCycle(definition: DagDefinition): string[] | null {
  const state = new Map<string, 1 | 2>(); // 1 = on the stack, 2 = done
  const stack: string[] = [];
  const visit = (taskId: string): string[] | null => {
    state.set(taskId, 1);
    stack.push(taskId);
    for (const up of definition.tasks.get(taskId)?.upstream ?? []) {
      const seen = state.get(up);
      if (seen === 1) return [...stack.slice(stack.indexOf(up)), up].reverse();
      if (seen === undefined) {
        const found = visit(up);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(taskId, 2);
    return null;
  };
  for (const taskId of definition.tasks.keys()) {
    if (!state.has(taskId)) {
      const found = visit(taskId);
      if (found) return found;
    }
  }
  return null;
}

/**
 * Groups tasks: ids of tasks added in the body get the prefix `id.`; returns what the body returns.
 * @example
 *   const cleaned = group("clean", () => dedupe(normalize(raw)));
 */
export function group<T>(id: string, body: () => T): T {
  const builder = currentBuilder(`group('${id}')`);
  checkTaskId(id, "group id");
  const parent = builder.groupStack.at(-1) ?? null;
  const groupId = parent ? `${parent}.${id}` : id;
  if (builder.dag.groups.has(groupId) || builder.dag.tasks.has(groupId)) {
    throw new UpdraftError("UPDRAFT_E_DUPLICATE_TASK_ID", `group id '${groupId}' is used twice in DAG '${builder.dag.dagId}'`, {
      hint: "give each group and task a distinct id",
    });
  }
  builder.dag.groups.set(groupId, { groupId, parent });
  builder.groupStack.push(groupId);
  try {
    return body();
  } finally {
    builder.groupStack.pop();
  }
}

/**
 * Adds control edges in sequence: chain(a, b, [c, d], e) makes a → b → (c, d) → e.
 * Two adjacent lists must be of equal length and are linked pairwise, as in Airflow.
 * @example
 *   chain(start, [load_a, load_b], finish);
 */
export function chain(...items: Array<AnyTaskRef | readonly AnyTaskRef[]>): void {
  const builder = currentBuilder("chain()");
  for (let i = 1; i < items.length; i++) {
    const up = items[i - 1]!;
    const down = items[i]!;
    const ups = Array.isArray(up) ? up : [up as AnyTaskRef];
    const downs = Array.isArray(down) ? down : [down as AnyTaskRef];
    if (Array.isArray(up) && Array.isArray(down)) {
      if (ups.length !== downs.length) {
        throw new UpdraftError("UPDRAFT_E_DAG_DEFINITION", `chain(): adjacent lists have lengths ${ups.length} and ${downs.length}`, {
          hint: "adjacent lists in chain() are linked pairwise and must be of equal length",
        });
      }
      ups.forEach((u, j) => link(builder, u, downs[j]!));
    } else {
      for (const u of ups) for (const d of downs) link(builder, u, d);
    }
  }
}

function link(builder: Builder, up: AnyTaskRef, down: AnyTaskRef): void {
  const upId = ownRef(builder, up, "chain()");
  const downId = ownRef(builder, down, "chain()");
  builder.dag.tasks.get(downId)!.upstream.add(upId);
}
