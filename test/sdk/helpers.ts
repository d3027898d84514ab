/** Helpers for the SDK tests: define a DAG in-process and take its definition back. */
import { expect } from "vitest";
import { takeDefinedDags } from "../../src/sdk/dag.js";
import type { DagDefinition, TaskDefinition } from "../../src/sdk/definition.js";
import { dag } from "../../src/sdk/index.js";
import type { DagOptions } from "../../src/sdk/types.js";
import { isUpdraftError, type ErrorCode } from "../../src/errors/index.js";

/** Calls dag() and returns the one definition it registered. */
export function define(options: DagOptions, body: () => void): DagDefinition {
  takeDefinedDags();
  dag(options, body);
  const defined = takeDefinedDags();
  expect(defined).toHaveLength(1);
  return defined[0]!;
}

export function taskOf(definition: DagDefinition, taskId: string): TaskDefinition {
  const task = definition.tasks.get(taskId);
  if (!task) throw new Error(`no task '${taskId}' in DAG '${definition.dagId}' (has ${[...definition.tasks.keys()].join(", ")})`);
  return task;
}

/** Runs `fn`, which must throw an UpdraftError with `code`; returns the error for more checks. */
export function expectUpdraftError(fn: () => unknown, code: ErrorCode, message?: RegExp | string) {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected ${code} to be thrown`).toBeDefined();
  expect(isUpdraftError(thrown) ? thrown.code : thrown).toBe(code);
  if (message !== undefined) expect((thrown as Error).message).toMatch(message);
  return thrown as Error;
}

export const sorted = (values: Iterable<string>) => [...values].sort();
