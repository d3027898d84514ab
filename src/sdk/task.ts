import { UpdraftError } from "../errors/index.js";
import type { Builder } from "./builder.js";
import { addTask, allocateTaskId, checkTaskId, currentBuilder, inputTemplate } from "./builder.js";
import type { CompiledTaskOptions, TaskDefinition, TaskKind } from "./definition.js";
import { compileTaskOptions, pickTaskOptions, rejectUnknownKeys } from "./options.js";
import type { AnyTaskRef, TaskCallOptions, TaskContext, TaskFunction, TaskSpec } from "./types.js";

/** Adds one task to the DAG being built. Shared by task(), branch() and the operators. */
export function defineTask(
  builder: Builder,
  spec: {
    id: string;
    explicitId: boolean;
    kind: TaskKind;
    input: unknown;
    hasInput: boolean;
    options: object[];
    run: (input: unknown, ctx: TaskContext) => unknown;
    display?: Record<string, string>;
  },
): AnyTaskRef {
  const taskId = allocateTaskId(builder, spec.id, spec.explicitId);
  const where = `task '${taskId}' of DAG '${builder.dag.dagId}'`;
  const dataUpstream = new Set<string>();
  const input = spec.hasInput ? inputTemplate(builder, spec.input, dataUpstream, where) : undefined;
  const compile = () => compileTaskOptions(where, [builder.defaults, ...spec.options.map(pickTaskOptions)], builder.dag.options.owner);
  // Checked at once where DAGs are defined; in a task runner only if something reads them.
  let options: CompiledTaskOptions | null = builder.checked ? compile() : null;
  const definition: TaskDefinition = {
    taskId,
    kind: spec.kind,
    group: builder.groupStack.at(-1) ?? null,
    dataUpstream,
    upstream: new Set(dataUpstream),
    input,
    get options() {
      return (options ??= compile());
    },
    display: spec.display ?? {},
    run: spec.run,
  };
  return addTask(builder, definition);
}

function makeTaskFunction<I, O>(kind: TaskKind, spec: TaskSpec<I, O>, what: string): TaskFunction<I, O> {
  if (typeof spec !== "object" || spec === null) {
    throw new UpdraftError("UPDRAFT_E_DAG_DEFINITION", `${what}() needs an options object`, {
      hint: `${what}({ id: "my_task", run: (input, ctx) => ... })`,
    });
  }
  checkTaskId(spec.id);
  if (typeof spec.run !== "function") {
    throw new UpdraftError("UPDRAFT_E_DAG_DEFINITION", `${what} '${spec.id}' has no run function`, {
      hint: `${what}({ id: "${spec.id}", run: (input, ctx) => ... })`,
    });
  }
  rejectUnknownKeys(`${what} '${spec.id}'`, spec, ["id", "run"]);
  const fn = (...args: [unknown?, TaskCallOptions?]) => {
    const builder = currentBuilder(`task function '${spec.id}'`);
    const overrides = args[1] ?? {};
    if (typeof overrides !== "object" || overrides === null) {
      throw new UpdraftError("UPDRAFT_E_DAG_DEFINITION", `task '${spec.id}': the second argument must be an options object`, { hint: `${spec.id}(input, { id: "other_id", retries: 2 })` });
    }
    rejectUnknownKeys(`task '${spec.id}' (call options)`, overrides, ["id"]);
    if (overrides.id !== undefined) checkTaskId(overrides.id);
    return defineTask(builder, {
      id: overrides.id ?? spec.id,
      explicitId: overrides.id !== undefined,
      kind,
      input: args[0],
      hasInput: args.length > 0 && args[0] !== undefined,
      options: [spec, overrides],
      run: spec.run as (input: unknown, ctx: TaskContext) => unknown,
    });
  };
  Object.defineProperty(fn, "id", { value: spec.id, enumerable: true });
  return fn as unknown as TaskFunction<I, O>;
}

/**
 * Declares a task. Calling the returned function inside a DAG body adds the task; its input may
 * hold refs to other tasks, which become its upstream and hand over their outputs.
 * @example
 *   const summarize = task({ id: "summarize", run: (sales: Sale[]) => ({ total: sum(sales) }) });
 *   dag({ id: "sales" }, () => { summarize(extract()); });
 */
export function task<I = void, O = unknown>(spec: TaskSpec<I, O>): TaskFunction<I, Awaited<O>> {
  return makeTaskFunction("task", spec, "task") as unknown as TaskFunction<I, Awaited<O>>;
}

/**
 * What a branch returns: the id(s) of direct downstream tasks (or groups) to follow; none skips all.
 * @example
 *   const pick = branch({ id: "pick", run: (n: number): BranchChoice => (n === 0 ? null : n > 100 ? ["big", "audit"] : "small") });
 */
export type BranchChoice = string | readonly string[] | null | undefined;

/**
 * Declares a branch: it returns the id(s) of its direct downstream tasks to follow; the others
 * are skipped and the skip flows on through trigger rules.
 * @example
 *   const pick = branch({ id: "pick", run: (n: number) => (n > 100 ? "big_load" : "small_load") });
 *   const choice = pick(count()); bigLoad().after(choice); smallLoad().after(choice);
 */
export function branch<I = void, O extends BranchChoice = BranchChoice>(spec: TaskSpec<I, O>): TaskFunction<I, string[]> {
  // The branch's output (what downstream tasks receive) is the sorted list of task ids it follows.
  return makeTaskFunction("branch", spec, "branch") as unknown as TaskFunction<I, string[]>;
}
