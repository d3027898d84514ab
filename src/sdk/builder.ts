/**
 * The state of the DAG body being evaluated. A DAG body runs synchronously inside `dag()`, so
 * "the current DAG" is a module-level slot set for the duration of that call, never longer.
 */
import { UpdraftError } from "../errors/index.js";
import type { DagDefinition, InputTemplate, TaskDefinition } from "./definition.js";
import type { AnyTaskRef, TaskOptions } from "./types.js";

export interface Builder {
  readonly dag: DagDefinition;
  /** The DAG's `defaults`: task options applied under each task's own. */
  readonly defaults: TaskOptions;
  /** How often each automatic id was used, for Airflow's `step`, `step__1`, … naming. */
  readonly autoIds: Map<string, number>;
  readonly groupStack: string[];
  /**
   * False in a task runner: task options are compiled only if read (the DAG processor checked
   * them when it stored the version, and a runner reads the options from its try).
   */
  readonly checked: boolean;
}

let current: Builder | null = null;

export function currentBuilder(what: string): Builder {
  if (!current) {
    throw new UpdraftError("UPDRAFT_E_OUTSIDE_DAG", `${what} was called outside a DAG body`, {
      hint: "call task functions and operators inside the body function of dag({ ... }, () => { ... })",
    });
  }
  return current;
}

export function withBuilder<T>(builder: Builder, body: () => T): T {
  if (current) {
    throw new UpdraftError("UPDRAFT_E_DAG_DEFINITION", `dag('${builder.dag.dagId}') was called inside the body of dag('${current.dag.dagId}')`, {
      hint: "define each DAG at the top level of a file",
    });
  }
  current = builder;
  try {
    return body();
  } finally {
    current = null;
  }
}

const TASK_ID_RE = /^[A-Za-z0-9_-]{1,200}$/;

export function checkTaskId(id: unknown, what = "task id"): string {
  if (typeof id !== "string" || !TASK_ID_RE.test(id)) {
    throw new UpdraftError("UPDRAFT_E_INVALID_ID", `${what} ${JSON.stringify(id)} is not valid`, {
      hint: 'use 1–200 letters, digits, "_" or "-" (dots are reserved for groups)',
    });
  }
  return id;
}

// ---- task refs ------------------------------------------------------------------------------

const refOwner = new WeakMap<object, Builder>();

export function makeRef(builder: Builder, taskId: string): AnyTaskRef {
  const ref = {
    taskId,
    after(...upstream: Array<AnyTaskRef | readonly AnyTaskRef[]>) {
      const task = builder.dag.tasks.get(taskId)!;
      for (const item of upstream.flat()) task.upstream.add(ownRef(builder, item, `${taskId}.after()`));
      return ref;
    },
    toString: () => `TaskRef(${taskId})`,
  };
  refOwner.set(ref, builder);
  return ref as unknown as AnyTaskRef;
}

export function isRef(value: unknown): value is AnyTaskRef {
  return typeof value === "object" && value !== null && refOwner.has(value);
}

/** The task id of a ref that belongs to this DAG; throws for foreign or fake refs. */
export function ownRef(builder: Builder, value: unknown, where: string): string {
  const owner = typeof value === "object" && value !== null ? refOwner.get(value) : undefined;
  if (!owner) {
    throw new UpdraftError("UPDRAFT_E_UNKNOWN_REF", `${where} was given ${describe(value)}, not a task ref`, {
      hint: "pass the value a task function call returned inside this DAG body",
    });
  }
  if (owner !== builder) {
    throw new UpdraftError("UPDRAFT_E_UNKNOWN_REF", `${where} was given a ref to '${(value as AnyTaskRef).taskId}' of DAG '${owner.dag.dagId}', not of DAG '${builder.dag.dagId}'`, {
      hint: "a task can depend only on tasks of its own DAG",
    });
  }
  return (value as AnyTaskRef).taskId;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** Turns a task's input into a template, collecting the refs it holds. */
export function inputTemplate(builder: Builder, value: unknown, refs: Set<string>, where: string): InputTemplate {
  if (isRef(value)) {
    const taskId = ownRef(builder, value, where);
    refs.add(taskId);
    return { kind: "ref", taskId };
  }
  if (Array.isArray(value)) {
    const items = value.map((item) => inputTemplate(builder, item, refs, where));
    return items.some((item) => item.kind !== "value") ? { kind: "array", items } : { kind: "value", value };
  }
  if (typeof value === "object" && value !== null) {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      const entries: Record<string, InputTemplate> = {};
      let hasRef = false;
      for (const [key, item] of Object.entries(value)) {
        entries[key] = inputTemplate(builder, item, refs, where);
        hasRef ||= entries[key].kind !== "value";
      }
      return hasRef ? { kind: "object", entries } : { kind: "value", value };
    }
  }
  return { kind: "value", value };
}

/** Builds a task's input from its template and the outputs of its upstream tasks. */
export function resolveInput(template: InputTemplate | undefined, outputs: ReadonlyMap<string, unknown>): unknown {
  if (!template) return undefined;
  switch (template.kind) {
    case "value":
      return template.value;
    case "ref":
      return outputs.get(template.taskId);
    case "array":
      return template.items.map((item) => resolveInput(item, outputs));
    case "object":
      return Object.fromEntries(Object.entries(template.entries).map(([k, v]) => [k, resolveInput(v, outputs)]));
  }
}

export function addTask(builder: Builder, task: TaskDefinition): AnyTaskRef {
  builder.dag.tasks.set(task.taskId, task);
  return makeRef(builder, task.taskId);
}

/** The full id of a new task: group prefix, then Airflow's `__N` suffix for a reused automatic id. */
export function allocateTaskId(builder: Builder, id: string, explicit: boolean): string {
  const prefix = builder.groupStack.length ? `${builder.groupStack.at(-1)}.` : "";
  let full = prefix + id;
  if (!explicit) {
    const used = builder.autoIds.get(full) ?? 0;
    builder.autoIds.set(full, used + 1);
    if (used > 0) full = `${full}__${used}`;
  }
  if (builder.dag.tasks.has(full)) {
    throw new UpdraftError("UPDRAFT_E_DUPLICATE_TASK_ID", `task id '${full}' is used twice in DAG '${builder.dag.dagId}'`, {
      hint: "give one of the calls another id: myTask(input, { id: 'other_id' })",
    });
  }
  return full;
}

export type { TaskDefinition };
