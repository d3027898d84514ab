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
