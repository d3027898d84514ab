import { beforeEach, describe, expect, it } from "vitest";
import type { SerializedDag } from "../../src/dag/model.js";
import { resolveParams } from "../../src/dag/params.js";
import { serializeDag } from "../../src/dag/serialize.js";
import { validateDag } from "../../src/dag/validate.js";
import { isUpdraftError } from "../../src/errors/index.js";
import { takeDefinedDags } from "../../src/sdk/dag.js";
import { chain, group, task, type DagOptions, type ParamSpec, type WeightRule } from "../../src/sdk/index.js";
import { define, expectUpdraftError } from "./helpers.js";

const start = task({ id: "start", run: () => 1 });
const step = task({ id: "step", run: (n: number) => n + 1 });

beforeEach(() => {
  takeDefinedDags();
});

function serialized(options: DagOptions, body: () => void, fileloc = "dir/file.ts"): SerializedDag {
  return serializeDag(define(options, body), fileloc);
}

/** A valid serialized DAG to tamper with: a → b → c, with a group and a param. */
function validDag(): SerializedDag {
  return serialized(
    { id: "valid", schedule: "@daily", startDate: "2026-01-01", params: { region: { type: "string", default: "eu", enum: ["eu", "us"] } } },
    () => {
      const a = start(undefined, { id: "a" });
      const b = step(a, { id: "b" });
      group("g", () => step(b, { id: "c" }));
    },
  );
}

const clone = (d: SerializedDag): SerializedDag => JSON.parse(JSON.stringify(d)) as SerializedDag;

describe("serializeDag", () => {
  it("writes the DAG's options and tasks as JSON", () => {
    const d = serialized({ id: "shape", tags: ["x"], description: "about", docMd: "# doc", owner: "ann", maxActiveRuns: 2 }, () => {
      step(start(), { retries: 2 });
    });
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
    expect(d).toMatchObject({
      format: 1,
      dagId: "shape",
      fileloc: "dir/file.ts",
      schedule: null,
      timezone: "UTC",
      tags: ["x"],
      description: "about",
      docMd: "# doc",
      owner: "ann",
      maxActiveRuns: 2,
      maxActiveTasks: 16,
      catchup: false,
      groups: [],
    });
    expect(d.tasks[1]).toMatchObject({ taskId: "step", kind: "task", group: null, upstream: ["start"], dataUpstream: ["start"], display: {} });
    expect(d.tasks[1]!.options).toMatchObject({ retries: 2, owner: "ann" });
    expect(validateDag(d)).toEqual([]);
  });

  it("orders tasks topologically even when after() points at a later task", () => {
    const d = serialized({ id: "topo" }, () => {
      const last = start(undefined, { id: "last" });
      const middle = start(undefined, { id: "middle" });
      const first = start(undefined, { id: "first" });
      last.after(middle);
      middle.after(first);
      step(last, { id: "tail" });
    });
    const order = d.tasks.map((t) => t.taskId);
    expect(order).toEqual(["first", "middle", "last", "tail"]);
    expect(d.tasks.find((t) => t.taskId === "last")).toMatchObject({ upstream: ["middle"], dataUpstream: [] });
    expect(validateDag(d)).toEqual([]);
  });

  it("sorts the upstream lists", () => {
    const d = serialized({ id: "sorted_up" }, () => {
      const z = start(undefined, { id: "z" });
      const a = start(undefined, { id: "a" });
      const m = start(undefined, { id: "m" });
      start(undefined, { id: "down" }).after(z, m, a);
    });
    expect(d.tasks.find((t) => t.taskId === "down")!.upstream).toEqual(["a", "m", "z"]);
  });

  it("normalizes the schedule", () => {
    const schedule = (s: DagOptions["schedule"]) => serialized({ id: "sched", schedule: s }, () => {}).schedule;
    expect(schedule("@daily")).toBe("0 0 * * *");
    expect(schedule("  5   4 * * 1  ")).toBe("5 4 * * 1");
    expect(schedule("@once")).toBe("@once");
    expect(schedule({ every: "15m" })).toEqual({ every: 900_000 });
    expect(schedule({ every: 90 })).toEqual({ every: 90_000 });
    expect(schedule(null)).toBeNull();
    expect(schedule(undefined)).toBeNull();
  });

  it("describes the schedule", () => {
    expect(serialized({ id: "desc", schedule: "@hourly" }, () => {}).scheduleDescription).not.toBe("");
  });

  it("reads startDate and endDate in the DAG's timezone", () => {
    const d = serialized({ id: "berlin", schedule: "@daily", timezone: "Europe/Berlin", startDate: "2026-01-01", endDate: "2026-07-01T12:30" }, () => {});
    expect(d.timezone).toBe("Europe/Berlin");
    expect(d.startDate).toBe(Date.UTC(2025, 11, 31, 23, 0)); // CET = UTC+1
    expect(d.endDate).toBe(Date.UTC(2026, 6, 1, 10, 30)); // CEST = UTC+2
    const withOffset = serialized({ id: "offset", timezone: "Asia/Tokyo", startDate: "2026-01-01T00:00:00Z" }, () => {});
    expect(withOffset.startDate).toBe(Date.UTC(2026, 0, 1));
    const fromDate = serialized({ id: "date_obj", startDate: new Date(Date.UTC(2026, 2, 3)) }, () => {});
    expect(fromDate.startDate).toBe(Date.UTC(2026, 2, 3));
  });

  it("rejects a bad date, schedule or timezone", () => {
    expectUpdraftError(() => serialized({ id: "bad_date", startDate: "2026-02-30" }, () => {}), "UPDRAFT_E_INVALID_DATE", /startDate/);
    expectUpdraftError(() => serialized({ id: "bad_cron", schedule: "61 * * * *" }, () => {}), "UPDRAFT_E_INVALID_SCHEDULE");
    expectUpdraftError(() => serialized({ id: "bad_tz", timezone: "Mars/Olympus" }, () => {}), "UPDRAFT_E_INVALID_TIMEZONE");
  });

  it("records groups", () => {
    const d = serialized({ id: "grouped" }, () => {
      group("outer", () => group("inner", () => start()));
    });
    expect(d.groups).toEqual([
      { groupId: "outer", parent: null },
      { groupId: "outer.inner", parent: "outer" },
    ]);
    expect(d.tasks[0]).toMatchObject({ taskId: "outer.inner.start", group: "outer.inner" });
    expect(validateDag(d)).toEqual([]);
  });

  describe("priority weights", () => {
    /** a → b → c and a → d → c (a diamond), each with its own weight, under one rule. */
    const weights = (rule: WeightRule) => {
      const d = serialized({ id: `w_${rule}`, defaults: { weightRule: rule } }, () => {
        const a = start(undefined, { id: "a", priorityWeight: 1 });
        const b = start(undefined, { id: "b", priorityWeight: 2 });
        const dd = start(undefined, { id: "d", priorityWeight: 4 });
        const c = start(undefined, { id: "c", priorityWeight: 8 });
        chain(a, [b, dd], c);
        start(undefined, { id: "alone", priorityWeight: 3 });
      });
      return Object.fromEntries(d.tasks.map((t) => [t.taskId, t.weight]));
    };

    it("downstream (the default) adds the weights of all downstream tasks, each once", () => {
      expect(weights("downstream")).toEqual({ a: 1 + 2 + 4 + 8, b: 2 + 8, d: 4 + 8, c: 8, alone: 3 });
      const d = serialized({ id: "w_default" }, () => {
        step(step(start()));
      });
      expect(d.tasks.map((t) => t.weight)).toEqual([3, 2, 1]);
    });

    it("upstream adds the weights of all upstream tasks", () => {
      expect(weights("upstream")).toEqual({ a: 1, b: 2 + 1, d: 4 + 1, c: 8 + 2 + 4 + 1, alone: 3 });
    });

    it("absolute keeps the task's own weight", () => {
      expect(weights("absolute")).toEqual({ a: 1, b: 2, d: 4, c: 8, alone: 3 });
    });

    it("mixes rules per task", () => {
      const d = serialized({ id: "w_mixed" }, () => {
        const a = start(undefined, { id: "a", priorityWeight: 10, weightRule: "absolute" });
        step(a, { id: "b", priorityWeight: 5, weightRule: "upstream" });
      });
      expect(Object.fromEntries(d.tasks.map((t) => [t.taskId, t.weight]))).toEqual({ a: 10, b: 15 });
    });
  });
});

describe("validateDag", () => {
  it("finds no problem in a valid DAG", () => {
    expect(validateDag(validDag())).toEqual([]);
  });

  it("reports an upstream that is not a task of the DAG", () => {
    const d = clone(validDag());
    d.tasks[1]!.upstream.push("ghost");
    expect(validateDag(d)).toEqual([expect.stringMatching(/task 'b' depends on 'ghost'.*not a task of this DAG/)]);
  });

  it("reports tasks out of topological order (a cycle)", () => {
    const d = clone(validDag());
    d.tasks[0]!.upstream = ["g.c"]; // a after c, while c (through b) is after a
    expect(validateDag(d).join("\n")).toMatch(/task 'a' depends on 'g\.c'.*cycle/);
  });

  it("reports a data upstream that is not an upstream", () => {
    const d = clone(validDag());
    d.tasks[2]!.dataUpstream = ["a"];
    expect(validateDag(d).join("\n")).toMatch(/data upstream 'a'/);
  });

  it("reports an unknown trigger rule", () => {
    const d = clone(validDag());
    (d.tasks[1]!.options as { triggerRule: string }).triggerRule = "whenever";
    expect(validateDag(d)).toEqual([expect.stringMatching(/task 'b'.*unknown trigger rule 'whenever'/)]);
  });

  it("reports a task defined twice and an invalid task id", () => {
    const d = clone(validDag());
    d.tasks.push({ ...d.tasks[0]! });
    d.tasks.push({ ...d.tasks[0]!, taskId: "bad id" });
    const problems = validateDag(d).join("\n");
    expect(problems).toMatch(/task 'a' is defined twice/);
    expect(problems).toMatch(/task id "bad id" is not valid/);
  });

  it("reports a scheduled DAG with a param that has no default", () => {
    const d = clone(validDag());
    d.params.needed = { type: "string" };
    expect(validateDag(d)).toEqual([expect.stringMatching(/param 'needed' has no default, but the DAG is scheduled/)]);
    d.schedule = null;
    expect(validateDag(d)).toEqual([]);
  });

  it("reports a param default that does not fit its own type or enum", () => {
    const wrongType = clone(validDag());
    wrongType.params.count = { type: "integer", default: "three" };
    expect(validateDag(wrongType).join("\n")).toMatch(/default value: param 'count' must be integer/);
    const wrongEnum = clone(validDag());
    wrongEnum.params.region = { type: "string", enum: ["eu", "us"], default: "asia" };
    expect(validateDag(wrongEnum).join("\n")).toMatch(/default value: param 'region' must be one of "eu", "us"/);
  });

  it("reports unknown param keys and types", () => {
    const d = clone(validDag());
    d.params.region = { type: "text" as never, default: "eu", colour: 1 } as unknown as ParamSpec;
    const problems = validateDag(d).join("\n");
    expect(problems).toMatch(/param 'region' has unknown key 'colour'/);
    expect(problems).toMatch(/param 'region' has unknown type 'text'/);
  });

  it("reports a schedule that is invalid or not normalized, and a bad timezone", () => {
    const notNormal = clone(validDag());
    notNormal.schedule = "@daily";
    expect(validateDag(notNormal).join("\n")).toMatch(/normalized/);
    const invalid = clone(validDag());
    invalid.schedule = "not cron";
    expect(validateDag(invalid)).not.toEqual([]);
    const tz = clone(validDag());
    tz.timezone = "Nowhere/Town";
    expect(validateDag(tz)).not.toEqual([]);
  });

  it("reports bad DAG-level fields", () => {
    const d = clone(validDag()) as unknown as Record<string, unknown>;
    Object.assign(d, { dagId: "bad id!", format: 2, catchup: "yes", maxActiveRuns: 0, endDate: 0 });
    const problems = validateDag(d).join("\n");
    expect(problems).toMatch(/DAG id "bad id!" is not valid/);
    expect(problems).toMatch(/unknown serialization format 2/);
    expect(problems).toMatch(/catchup/);
    expect(problems).toMatch(/maxActiveRuns/);
    expect(problems).toMatch(/endDate is before startDate/);
    expect(validateDag(null)).toEqual(["the DAG is not an object"]);
    expect(validateDag({ ...validDag(), tasks: "nope" }).join("\n")).toMatch(/tasks must be an array/);
  });

  it("reports bad task options", () => {
    const d = clone(validDag());
    Object.assign(d.tasks[0]!.options, { retries: -1, poolSlots: 0, executionTimeoutMs: 0, pool: 3 });
    (d.tasks[0] as { kind: string }).kind = "python";
    const problems = validateDag(d).join("\n");
    expect(problems).toMatch(/retries/);
    expect(problems).toMatch(/poolSlots/);
    expect(problems).toMatch(/executionTimeout/);
    expect(problems).toMatch(/pool and queue/);
    expect(problems).toMatch(/unknown kind 'python'/);
  });
});

describe("resolveParams", () => {
  const params: Record<string, ParamSpec> = {
    region: { type: "string", enum: ["eu", "us"], default: "eu" },
    count: { type: "integer", default: 1, minimum: 0 },
    tags: { type: "array", items: { type: "string" }, default: ["a"] },
  };

  it("lays the conf over the defaults", () => {
    expect(resolveParams(params, {})).toEqual({ region: "eu", count: 1, tags: ["a"] });
    expect(resolveParams(params, { region: "us", count: 5 })).toEqual({ region: "us", count: 5, tags: ["a"] });
  });

  it("keeps conf keys that are not declared params, as Airflow does", () => {
    expect(resolveParams(params, { unrelated: "x" })).toEqual({ region: "eu", count: 1, tags: ["a"], unrelated: "x" });
    expect(resolveParams({}, { anything: 1 })).toEqual({ anything: 1 });
  });

  it("hands out copies of the defaults", () => {
    const first = resolveParams(params, {});
    (first.tags as string[]).push("mutated");
    expect(resolveParams(params, {}).tags).toEqual(["a"]);
    expect(params.tags!.default).toEqual(["a"]);
  });

  it("throws UPDRAFT_E_PARAMS_INVALID with a readable message", () => {
    const enumError = expectUpdraftError(() => resolveParams(params, { region: "asia" }), "UPDRAFT_E_PARAMS_INVALID");
    expect(enumError.message).toMatch(/param 'region' must be one of "eu", "us"/);
    const typeError = expectUpdraftError(() => resolveParams(params, { count: "many" }), "UPDRAFT_E_PARAMS_INVALID");
    expect(typeError.message).toMatch(/param 'count' must be integer/);
    expectUpdraftError(() => resolveParams(params, { count: -1 }), "UPDRAFT_E_PARAMS_INVALID", /param 'count' must be >= 0/);
    expectUpdraftError(() => resolveParams(params, { tags: ["ok", 2] }), "UPDRAFT_E_PARAMS_INVALID", /tags/);
  });

  it("reports every problem at once, and a missing required param", () => {
    const error = expectUpdraftError(
      () => resolveParams({ ...params, target: { type: "string" } }, { region: "asia", count: "x" }),
      "UPDRAFT_E_PARAMS_INVALID",
    );
    expect(error.message).toMatch(/param 'target' is required/);
    expect(error.message).toMatch(/'region'/);
    expect(error.message).toMatch(/'count'/);
    expect(isUpdraftError(error) && Array.isArray(error.details) && error.details.length).toBe(3);
  });

  it("takes a required param from the conf", () => {
    expect(resolveParams({ target: { type: "string" } }, { target: "db" })).toEqual({ target: "db" });
  });

  it("checks JSON-Schema formats as Airflow does (date, date-time, time, email, uri, …)", () => {
    const formats: Record<string, ParamSpec> = {
      day: { type: "string", format: "date", default: "2026-03-01" },
      at: { type: "string", format: "date-time", default: "2026-03-01T03:00:00Z" },
      clock: { type: "string", format: "time", default: "03:00:00Z" },
      mail: { type: "string", format: "email", default: "ada@example.com" },
      link: { type: "string", format: "uri", default: "https://example.com/a" },
    };
    expect(resolveParams(formats, {})).toMatchObject({ day: "2026-03-01" });
    for (const [name, bad] of [["day", "01/01/2021"], ["day", "2021-13-01"], ["at", "2026-03-01 03:00"], ["clock", "3 o'clock"], ["mail", "not-an-email"], ["link", "no scheme"]] as const) {
      expectUpdraftError(() => resolveParams(formats, { [name]: bad }), "UPDRAFT_E_PARAMS_INVALID", new RegExp(`param '${name}' must be a`));
    }
    // A default that does not fit its format, and a format that does not exist, fail the DAG.
    const d = clone(validDag());
    d.params.day = { type: "string", format: "date", default: "01/01/2021" };
    expect(validateDag(d).join("\n")).toMatch(/default value: param 'day' must be a date such as 2026-03-01/);
    d.params.day = { type: "string", format: "calendar-day", default: "2026-01-01" };
    expect(validateDag(d).join("\n")).toMatch(/param 'day' has unknown format "calendar-day"/);
  });

  it("refuses a conf nested deeper than 100 levels with UPDRAFT_E_JSON_TOO_DEEP, however deep", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    expectUpdraftError(() => resolveParams(params, { deep }), "UPDRAFT_E_JSON_TOO_DEEP", /100 levels/);
  });
});
