/** Schemas shared by the routes (TypeBox; every object rejects unknown properties). */
import { Type, type Static, type TSchema, type TSchemaOptions } from "typebox";

export const ErrorBody = Type.Object(
  { code: Type.String(), message: Type.String(), status: Type.Integer(), hint: Type.Optional(Type.String()), details: Type.Optional(Type.Unknown()) },
  { additionalProperties: false },
);
export type ApiErrorBody = Static<typeof ErrorBody>;

export const MAX_PAGE = 1000;

export const Page = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 100, description: `page size, at most ${MAX_PAGE}` })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 })),
};

export function pageOf(query: { limit?: number; offset?: number }): { limit: number; offset: number } {
  return { limit: query.limit ?? 100, offset: query.offset ?? 0 };
}

/** An identifier in a path: bounded, printable, no path separators. */
export const Id = (description: string, maxLength = 250) => Type.String({ minLength: 1, maxLength, pattern: "^[^/\\\\\\u0000-\\u001f]+$", description });

export const DagIdParam = Type.Object({ dag_id: Id("DAG id") }, { additionalProperties: false });
export const RunParams = Type.Object({ dag_id: Id("DAG id"), dag_run_id: Id("run id") }, { additionalProperties: false });
export const TaskParams = Type.Object({ dag_id: Id("DAG id"), dag_run_id: Id("run id"), task_id: Id("task id") }, { additionalProperties: false });

/**
 * A value or null. Null comes first: Ajv coerces types (coerceTypes), and with the value's schema
 * first a null in a body would be coerced to "" or 0 by it before the null branch was tried.
 */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([Type.Null(), schema]);
export const Timestamp = Nullable(Type.String({ format: "date-time" }));

/**
 * One of `values`, as a union of literals (anyOf, as every choice in these schemas). TypeBox types
 * a union built from a mapped array as never; this keeps the values' own type.
 */
export const OneOf = <const T extends string>(values: readonly T[], options?: TSchemaOptions) => Type.Unsafe<T>(Type.Union(values.map((v) => Type.Literal(v)), options));

/** A 204 answer: no body (the handler sends nothing; the OpenAPI document says null). */
export const NoContent = Type.Unsafe<undefined>({ type: "null", description: "no content" });

/** Error responses every authenticated route can give. */
export const ERRORS = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 429: ErrorBody };

export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}
