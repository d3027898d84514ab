/**
 * Type-level tests, checked by `npm run lint` (tsc): each @ts-expect-error must stay an error,
 * or tsc fails. test/sdk/typing.test.ts also compiles a bad DAG and asserts the diagnostic.
 */
import { bash, branch, chain, dag, group, task } from "updraft";

interface Sale {
  amount: number;
}
const extract = task({ id: "extract", run: async (): Promise<Sale[]> => [{ amount: 1 }] });
const summarize = task({ id: "summarize", run: (sales: Sale[]) => ({ total: sales.reduce((s, x) => s + x.amount, 0) }) });
const store = task({ id: "store", run: async (s: { total: number }, ctx) => `${ctx.ds}:${s.total}` });
const label = task({ id: "label", run: (input: { name: string; count: number }) => `${input.name}=${input.count}` });
const pick = branch({ id: "pick", run: (n: number) => (n > 1 ? "a" : ["b", "c"]) });

dag({ id: "typing" }, () => {
  const sales = extract();
  const summary = summarize(sales);
  const stored = store(summary);
  // a structure mixing refs and values
  label({ name: stored, count: 3 });
  group("g", () => label({ name: "x", count: summary as never }));
  const choice = pick(5);
  chain(stored, bash({ id: "b", command: "echo hi" }), [choice]);

  // @ts-expect-error: a Sale[] is not a { total: number }
  store(sales);
  // @ts-expect-error: a string output does not fit a number field
  label({ name: "x", count: stored });
  // @ts-expect-error: summarize needs an input
  summarize();
  // @ts-expect-error: a task without input takes none
  extract(sales);
  // @ts-expect-error: unknown option
  store(summary, { retriez: 2 });
});

// ctx.variable and ctx.connection: the value's type follows the options.
task({
  id: "reads",
  run: async (_: void, ctx) => {
    const plain: string = await ctx.variable("region");
    const withDefault: string | null = await ctx.variable("region", { default: null });
    const limits: { rows: number } = await ctx.variable<{ rows: number }>("limits", { json: true });
    const maybe: { rows: number } | undefined = await ctx.variable<{ rows: number }, undefined>("limits", { json: true, default: undefined });
    // @ts-expect-error: with a default of null the value may be null
    const notNull: string = await ctx.variable("region", { default: null });
    const conn = await ctx.connection("warehouse");
    const fields: [string, string | null, number | null, string] = [conn.connType, conn.password, conn.port, conn.uri];
    // @ts-expect-error: a connection is read-only
    conn.password = "x";
    return [plain, withDefault, limits.rows, maybe, notNull, fields, conn.extra.sslmode];
  },
});
