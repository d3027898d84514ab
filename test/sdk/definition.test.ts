import { beforeEach, describe, expect, it } from "vitest";
import { takeDefinedDags } from "../../src/sdk/dag.js";
import { bash, branch, chain, dag, group, task, type AnyTaskRef } from "../../src/sdk/index.js";
import { define, expectUpdraftError, sorted, taskOf } from "./helpers.js";

const start = task({ id: "start", run: () => 1 });
const step = task({ id: "step", run: (n: number) => n + 1 });
const combine = task({ id: "combine", run: (input: { a: number; list: number[]; fixed: string }) => input.a + input.list.length + input.fixed.length });

beforeEach(() => {
  takeDefinedDags();
});

describe("dag() registration", () => {
  it("registers every dag() call, in order, and takeDefinedDags hands them over once", () => {
    const first = dag({ id: "first" }, () => {
      start();
    });
    dag({ id: "second", schedule: "@daily" }, () => {
      step(start());
    });
    expect(first).toEqual({ id: "first", taskIds: ["start"] });
    const defined = takeDefinedDags();
    expect(defined.map((d) => d.dagId)).toEqual(["first", "second"]);
    expect(defined[1]!.options.schedule).toBe("@daily");
    expect(takeDefinedDags()).toEqual([]);
  });

  it("applies the DAG-level defaults", () => {
    const d = define({ id: "plain" }, () => {
      start();
    });
    expect(d.options).toMatchObject({
      schedule: null,
      timezone: "UTC",
      startDate: null,
      endDate: null,
      catchup: false,
      maxActiveRuns: 16,
      maxActiveTasks: 16,
      params: {},
      tags: [],
      owner: "updraft",
    });
  });

  it("rejects a DAG body that returns a promise, and registers nothing", () => {
    expectUpdraftError(
      () =>
        dag({ id: "async_body" }, (async () => {
          start();
        }) as unknown as () => void),
      "UPDRAFT_E_DAG_DEFINITION",
      /returned a promise/,
    );
    expect(takeDefinedDags()).toEqual([]);
  });

  it("rejects dag() inside another DAG body", () => {
    expectUpdraftError(
      () =>
        dag({ id: "outer" }, () => {
          dag({ id: "inner" }, () => {});
        }),
      "UPDRAFT_E_DAG_DEFINITION",
      /inside the body/,
    );
  });

  it("rejects invalid maxActiveRuns and tags", () => {
    expectUpdraftError(() => dag({ id: "x", maxActiveRuns: 0 }, () => {}), "UPDRAFT_E_DAG_DEFINITION", /maxActiveRuns/);
    expectUpdraftError(() => dag({ id: "x", tags: [1] as unknown as string[] }, () => {}), "UPDRAFT_E_DAG_DEFINITION", /tags/);
  });
});

describe("task ids", () => {
  it("names repeated uses of one task function step, step__1, step__2", () => {
    const d = define({ id: "ids" }, () => {
      step(step(step(start())));
    });
    expect([...d.tasks.keys()]).toEqual(["start", "step", "step__1", "step__2"]);
    expect(sorted(taskOf(d, "step__2").upstream)).toEqual(["step__1"]);
  });

  it("lets the call override the id", () => {
    const d = define({ id: "override" }, () => {
      step(start(), { id: "x" });
      step(start(undefined, { id: "start_2" }));
    });
    expect([...d.tasks.keys()]).toEqual(["start", "x", "start_2", "step"]);
    expect(sorted(taskOf(d, "x").upstream)).toEqual(["start"]);
    expect(sorted(taskOf(d, "step").upstream)).toEqual(["start_2"]);
  });

  it("rejects an explicit id used twice", () => {
    expectUpdraftError(
      () =>
        dag({ id: "dup" }, () => {
          start(undefined, { id: "same" });
          start(undefined, { id: "same" });
        }),
      "UPDRAFT_E_DUPLICATE_TASK_ID",
      /'same'.*DAG 'dup'/,
    );
  });

  it("rejects an explicit id that collides with an automatic one", () => {
    expectUpdraftError(
      () =>
        dag({ id: "dup2" }, () => {
          start();
          start(undefined, { id: "start" });
        }),
      "UPDRAFT_E_DUPLICATE_TASK_ID",
    );
  });

  it("rejects bad ids with UPDRAFT_E_INVALID_ID", () => {
    expectUpdraftError(() => task({ id: "has.dot", run: () => 1 }), "UPDRAFT_E_INVALID_ID");
    expectUpdraftError(() => task({ id: "", run: () => 1 }), "UPDRAFT_E_INVALID_ID");
    expectUpdraftError(() => task({ id: "with space", run: () => 1 }), "UPDRAFT_E_INVALID_ID");
    expectUpdraftError(() => task({ id: "x".repeat(201), run: () => 1 }), "UPDRAFT_E_INVALID_ID");
    expectUpdraftError(() => dag({ id: "bad id" }, () => {}), "UPDRAFT_E_INVALID_ID");
    expectUpdraftError(() => dag({ id: "" }, () => {}), "UPDRAFT_E_INVALID_ID");
    for (const dots of [".", "..", "..."]) expectUpdraftError(() => dag({ id: dots }, () => {}), "UPDRAFT_E_INVALID_ID");
    expect(dag({ id: "a.b..c" }, () => {}).id).toBe("a.b..c");
    expectUpdraftError(
      () =>
        dag({ id: "call_id" }, () => {
          start(undefined, { id: "a/b" });
        }),
      "UPDRAFT_E_INVALID_ID",
    );
    expectUpdraftError(
      () =>
        dag({ id: "group_id" }, () => {
          group("g.h", () => start());
        }),
      "UPDRAFT_E_INVALID_ID",
    );
    expectUpdraftError(
      () =>
        dag({ id: "bash_id" }, () => {
          bash({ id: "b!", command: "true" });
        }),
      "UPDRAFT_E_INVALID_ID",
    );
    // dots are fine in DAG ids
    expect(define({ id: "team.etl-v2_1" }, () => {}).dagId).toBe("team.etl-v2_1");
  });
});

describe("groups", () => {
  it("prefixes task ids with the group id, nested groups with a.b., and records the groups", () => {
    const d = define({ id: "groups" }, () => {
      const raw = start();
      const cleaned = group("a", () => {
        const one = step(raw);
        return group("b", () => step(one));
      });
      step(cleaned);
    });
    expect([...d.tasks.keys()]).toEqual(["start", "a.step", "a.b.step", "step"]);
    expect(taskOf(d, "a.step").group).toBe("a");
    expect(taskOf(d, "a.b.step").group).toBe("a.b");
    expect(taskOf(d, "step").group).toBeNull();
    expect(sorted(taskOf(d, "a.b.step").upstream)).toEqual(["a.step"]);
    expect(sorted(taskOf(d, "step").upstream)).toEqual(["a.b.step"]);
    expect([...d.groups.values()]).toEqual([
      { groupId: "a", parent: null },
      { groupId: "a.b", parent: "a" },
    ]);
  });

  it("counts automatic ids per group", () => {
    const d = define({ id: "group_counts" }, () => {
      group("g", () => {
        start();
        start();
      });
      start();
    });
    expect([...d.tasks.keys()]).toEqual(["g.start", "g.start__1", "start"]);
  });

  it("rejects a group id used twice", () => {
    expectUpdraftError(
      () =>
        dag({ id: "group_dup" }, () => {
          group("g", () => start());
          group("g", () => start());
        }),
      "UPDRAFT_E_DUPLICATE_TASK_ID",
    );
  });
});

describe("edges", () => {
  it("infers data edges from refs nested in objects and arrays", () => {
    const d = define({ id: "data_edges" }, () => {
      const a = start();
      const b = start();
      const c = start();
      combine({ a, list: [b, 2, c], fixed: "x" });
    });
    const t = taskOf(d, "combine");
    expect(sorted(t.dataUpstream)).toEqual(["start", "start__1", "start__2"]);
    expect(sorted(t.upstream)).toEqual(["start", "start__1", "start__2"]);
    expect(t.input).toEqual({
      kind: "object",
      entries: {
        a: { kind: "ref", taskId: "start" },
        list: { kind: "array", items: [{ kind: "ref", taskId: "start__1" }, { kind: "value", value: 2 }, { kind: "ref", taskId: "start__2" }] },
        fixed: { kind: "value", value: "x" },
      },
    });
  });

  it("keeps an input without refs as a plain value with no upstream", () => {
    const d = define({ id: "no_refs" }, () => {
      combine({ a: 1, list: [1, 2], fixed: "y" });
    });
    const t = taskOf(d, "combine");
    expect(t.upstream.size).toBe(0);
    expect(t.input).toEqual({ kind: "value", value: { a: 1, list: [1, 2], fixed: "y" } });
  });

  it("adds control-only edges with after(), which returns the ref", () => {
    let returned: unknown;
    let ref: AnyTaskRef | undefined;
    const d = define({ id: "after" }, () => {
      const a = start();
      const b = start();
      ref = step(a);
      returned = ref.after(b, [start()]);
    });
    expect(returned).toBe(ref);
    const t = taskOf(d, "step");
    expect(sorted(t.upstream)).toEqual(["start", "start__1", "start__2"]);
    expect(sorted(t.dataUpstream)).toEqual(["start"]);
  });

  it("chain(a, b, [c, d], e) links a → b → c, d → e with control edges", () => {
    const d = define({ id: "chain" }, () => {
      const [a, b, c, dd, e] = ["a", "b", "c", "d", "e"].map((id) => start(undefined, { id }));
      chain(a!, b!, [c!, dd!], e!);
    });
    const ups = Object.fromEntries([...d.tasks.values()].map((t) => [t.taskId, sorted(t.upstream)]));
    expect(ups).toEqual({ a: [], b: ["a"], c: ["b"], d: ["b"], e: ["c", "d"] });
    for (const t of d.tasks.values()) expect(t.dataUpstream.size).toBe(0);
  });

  it("chain() links two adjacent lists of equal length pairwise", () => {
    const d = define({ id: "chain_pairs" }, () => {
      const [a1, a2, b1, b2] = ["a1", "a2", "b1", "b2"].map((id) => start(undefined, { id }));
      chain([a1!, a2!], [b1!, b2!]);
    });
    expect(sorted(taskOf(d, "b1").upstream)).toEqual(["a1"]);
    expect(sorted(taskOf(d, "b2").upstream)).toEqual(["a2"]);
  });

  it("chain() rejects adjacent lists of unequal length", () => {
    expectUpdraftError(
      () =>
        dag({ id: "chain_bad" }, () => {
          chain([start(), start()], [start(), start(), start()]);
        }),
      "UPDRAFT_E_DAG_DEFINITION",
      /lengths 2 and 3/,
    );
  });

  it("rejects a ref from another DAG (input, after() and chain())", () => {
    let foreign: AnyTaskRef | undefined;
    dag({ id: "owner_dag" }, () => {
      foreign = start();
    });
    expectUpdraftError(
      () =>
        dag({ id: "thief" }, () => {
          step(foreign!);
        }),
      "UPDRAFT_E_UNKNOWN_REF",
      /'start' of DAG 'owner_dag'/,
    );
    expectUpdraftError(
      () =>
        dag({ id: "thief2" }, () => {
          start().after(foreign!);
        }),
      "UPDRAFT_E_UNKNOWN_REF",
    );
    expectUpdraftError(
      () =>
        dag({ id: "thief3" }, () => {
          chain(start(), foreign!);
        }),
      "UPDRAFT_E_UNKNOWN_REF",
    );
    expectUpdraftError(
      () =>
        dag({ id: "fake" }, () => {
          start().after({ taskId: "start" } as unknown as AnyTaskRef);
        }),
      "UPDRAFT_E_UNKNOWN_REF",
    );
    expect(takeDefinedDags().map((d) => d.dagId)).toEqual(["owner_dag"]);
  });

  it("rejects a task function, group or chain called outside a DAG body", () => {
    expectUpdraftError(() => start(), "UPDRAFT_E_OUTSIDE_DAG", /'start'.*outside a DAG body/);
    expectUpdraftError(() => group("g", () => {}), "UPDRAFT_E_OUTSIDE_DAG");
    expectUpdraftError(() => chain(), "UPDRAFT_E_OUTSIDE_DAG");
    expectUpdraftError(() => bash({ id: "b", command: "true" }), "UPDRAFT_E_OUTSIDE_DAG");
  });

  it("rejects a cycle made with after(), naming the path", () => {
    expectUpdraftError(
      () =>
        dag({ id: "cyclic" }, () => {
          const a = start();
          const b = step(a);
          const c = step(b);
          a.after(c);
        }),
      "UPDRAFT_E_DAG_CYCLE",
      /DAG 'cyclic' has a cycle: start -> step -> step__1 -> start/,
    );
    expectUpdraftError(
      () =>
        dag({ id: "self" }, () => {
          const a = start();
          a.after(a);
        }),
      "UPDRAFT_E_DAG_CYCLE",
      /start -> start/,
    );
    expect(takeDefinedDags()).toEqual([]);
  });
});

describe("options", () => {
  it("rejects unknown keys in dag(), task(), branch() and bash() options", () => {
    expectUpdraftError(() => dag({ id: "typo", schedul: "@daily" } as never, () => {}), "UPDRAFT_E_DAG_DEFINITION", /unknown option 'schedul'/);
    expectUpdraftError(() => task({ id: "t", run: () => 1, retriez: 1 } as never), "UPDRAFT_E_DAG_DEFINITION", /unknown option 'retriez'/);
    expectUpdraftError(() => branch({ id: "b", run: () => "x", retriez: 1 } as never), "UPDRAFT_E_DAG_DEFINITION", /unknown option 'retriez'/);
    expectUpdraftError(
      () =>
        dag({ id: "bash_typo" }, () => {
          bash({ id: "b", command: "true", comand: "x" } as never);
        }),
      "UPDRAFT_E_DAG_DEFINITION",
      /unknown option 'comand'/,
    );
  });

  it("rejects unknown keys in call-site overrides", () => {
    // A JavaScript DAG file has no type check: a typo must not pass silently.
    expectUpdraftError(
      () =>
        dag({ id: "call_typo" }, () => {
          start(undefined, { retriez: 2 } as never);
        }),
      "UPDRAFT_E_DAG_DEFINITION",
      /retriez/,
    );
  });

  it("rejects unknown keys in the DAG's defaults", () => {
    expectUpdraftError(() => dag({ id: "defaults_typo", defaults: { retriez: 2 } as never }, () => {}), "UPDRAFT_E_DAG_DEFINITION", /retriez/);
  });

  it("rejects invalid option values", () => {
    const inDag = (options: object) => () =>
      dag({ id: "bad_value" }, () => {
        start(undefined, options as never);
      });
    expectUpdraftError(inDag({ retries: -1 }), "UPDRAFT_E_DAG_DEFINITION", /retries/);
    expectUpdraftError(inDag({ triggerRule: "all_good" }), "UPDRAFT_E_DAG_DEFINITION", /triggerRule/);
    expectUpdraftError(inDag({ weightRule: "sideways" }), "UPDRAFT_E_DAG_DEFINITION", /weightRule/);
    expectUpdraftError(inDag({ poolSlots: 0 }), "UPDRAFT_E_DAG_DEFINITION", /poolSlots/);
    expectUpdraftError(inDag({ retryDelay: "soon" }), "UPDRAFT_E_INVALID_DURATION", /retryDelay/);
    expectUpdraftError(inDag({ executionTimeout: "0s" }), "UPDRAFT_E_DAG_DEFINITION", /executionTimeout/);
    for (const bad of ["linear", 0, -2, Infinity, 1000]) expectUpdraftError(inDag({ retryBackoff: bad }), "UPDRAFT_E_DAG_DEFINITION", /retryBackoff/);
  });

  it("compiles retryBackoff: a factor (Airflow's retry_exponential_backoff as a number), 1 is fixed", () => {
    const options = (retryBackoff: unknown) =>
      taskOf(define({ id: "backoff" }, () => { start(undefined, { retryBackoff } as never); }), "start").options;
    expect(options("exponential")).toMatchObject({ retryBackoff: "exponential", retryBackoffMultiplier: 2 });
    expect(options(1.5)).toMatchObject({ retryBackoff: "exponential", retryBackoffMultiplier: 1.5 });
    expect(options(1)).toMatchObject({ retryBackoff: "fixed" });
    expect(options(1)).not.toHaveProperty("retryBackoffMultiplier");
  });

  it("compiles defaults when nothing is set", () => {
    const d = define({ id: "compiled_defaults", owner: "team-a" }, () => {
      start();
    });
    expect(taskOf(d, "start").options).toEqual({
      retries: 0,
      retryDelayMs: 5 * 60_000,
      retryBackoff: "fixed",
      maxRetryDelayMs: 86_400_000,
      executionTimeoutMs: null,
      triggerRule: "all_success",
      pool: "default_pool",
      poolSlots: 1,
      priorityWeight: 1,
      weightRule: "downstream",
      queue: "default",
      owner: "team-a",
      doc: null,
    });
  });

  it("layers DAG defaults < task options < call overrides", () => {
    const layered = task({ id: "layered", run: () => 1, retries: 3, executionTimeout: "1m", pool: "task_pool", priorityWeight: 7 });
    const d = define(
      { id: "layers", defaults: { retries: 1, retryDelay: "30s", pool: "dag_pool", triggerRule: "all_done", queue: "q1", maxRetryDelay: "2h" } },
      () => {
        layered(undefined, { id: "called", retries: 5, retryDelay: 2, triggerRule: "one_success" });
        layered();
        start();
      },
    );
    expect(taskOf(d, "called").options).toMatchObject({
      retries: 5, // call
      retryDelayMs: 2_000, // call, a number is seconds
      triggerRule: "one_success", // call
      executionTimeoutMs: 60_000, // task
      pool: "task_pool", // task
      priorityWeight: 7, // task
      queue: "q1", // defaults
      maxRetryDelayMs: 7_200_000, // defaults
    });
    expect(taskOf(d, "layered").options).toMatchObject({ retries: 3, retryDelayMs: 30_000, triggerRule: "all_done", pool: "task_pool" });
    expect(taskOf(d, "start").options).toMatchObject({ retries: 1, retryDelayMs: 30_000, triggerRule: "all_done", pool: "dag_pool", executionTimeoutMs: null, priorityWeight: 1 });
  });

  it("an override does not leak into other calls of the same task function", () => {
    const d = define({ id: "no_leak" }, () => {
      start(undefined, { retries: 4, id: "one" });
      start();
    });
    expect(taskOf(d, "one").options.retries).toBe(4);
    expect(taskOf(d, "start").options.retries).toBe(0);
  });
});

describe("branch() and bash()", () => {
  it("defines a branch task and bash tasks with their display", () => {
    const pick = branch({ id: "pick", run: (n: number) => (n > 1 ? "loud" : "quiet") });
    const d = define({ id: "operators" }, () => {
      const choice = pick(start());
      const loud = bash({ id: "loud", command: "echo LOUD", retries: 2, env: { A: "1" } });
      const quiet = bash({ id: "quiet", command: (ctx) => `echo ${ctx.ds}` });
      chain(choice, [loud, quiet]);
    });
    expect(taskOf(d, "pick").kind).toBe("branch");
    expect(sorted(taskOf(d, "pick").dataUpstream)).toEqual(["start"]);
    const loud = taskOf(d, "loud");
    expect(loud.kind).toBe("bash");
    expect(loud.display).toEqual({ command: "echo LOUD" });
    expect(loud.options.retries).toBe(2);
    expect(loud.input).toBeUndefined();
    expect(sorted(loud.upstream)).toEqual(["pick"]);
    expect(taskOf(d, "quiet").display).toEqual({});
    expect(taskOf(d, "start").kind).toBe("task");
  });

  it("rejects a bash command that is neither a string nor a function", () => {
    expectUpdraftError(
      () =>
        dag({ id: "bash_bad" }, () => {
          bash({ id: "b", command: 42 as never });
        }),
      "UPDRAFT_E_DAG_DEFINITION",
      /command/,
    );
  });

  it("rejects a task without a run function", () => {
    expectUpdraftError(() => task({ id: "norun" } as never), "UPDRAFT_E_DAG_DEFINITION", /no run function/);
  });
});
