// An ETL with typed data passing: extract → transform → load, where each task's output is the
// next task's input and tsc checks that the types fit. Also shows params (type, default, enum,
// description), a daily cron in a timezone, DAG defaults for every task, docMd, tags and owner.
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dag, NonRetryableError, task } from "updraft";

type Region = "eu" | "us" | "apac";
type Currency = "EUR" | "USD" | "JPY";

/** An order as the shop's API returns it. */
interface RawOrder {
  id: string;
  customer: string;
  amountMinor: number; // cents (yen have no minor unit)
  currency: Currency;
  status: "paid" | "refunded" | "pending";
}

/** An order ready for the warehouse: one currency, only paid orders. */
interface CleanOrder {
  id: string;
  customer: string;
  amountEur: number;
}

interface LoadReport {
  table: string;
  partition: string;
  rows: number;
  totalEur: number;
  written: boolean;
}

const EUR_PER_UNIT: Record<Currency, number> = { EUR: 1, USD: 0.92, JPY: 0.0061 };
const MINOR_UNITS: Record<Currency, number> = { EUR: 100, USD: 100, JPY: 1 };
const CURRENCY_OF: Record<Region, Currency> = { eu: "EUR", us: "USD", apac: "JPY" };

/** A small deterministic generator, so a day's orders are the same on every run. */
function seeded(seed: string): () => number {
  let h = 2166136261;
  for (const ch of seed) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return () => {
    h = Math.imul(h ^ (h >>> 15), 2246822507) >>> 0;
    return (h % 10_000) / 10_000;
  };
}

// Stands in for a call to the shop's API for one region and one day.
const extract = task({
  id: "extract",
  run: (_: void, ctx): RawOrder[] => {
    const region = ctx.params.region as Region;
    const random = seeded(`${region}:${ctx.ds}`);
    const currency = CURRENCY_OF[region];
    const orders: RawOrder[] = [];
    for (let i = 0; i < 25; i++) {
      const roll = random();
      orders.push({
        id: `${region}-${ctx.ds}-${i}`,
        customer: `customer-${Math.floor(random() * 12)}`,
        // 5 to 205 EUR worth, in the region's currency.
        amountMinor: Math.round(((5 + random() * 200) / EUR_PER_UNIT[currency]) * MINOR_UNITS[currency]),
        currency,
        status: roll < 0.8 ? "paid" : roll < 0.9 ? "refunded" : "pending",
      });
    }
    ctx.log.info(`extracted ${orders.length} orders for ${region} on ${ctx.ds}`);
    return orders;
  },
});

const transform = task({
  id: "transform",
  run: (orders: RawOrder[], ctx): CleanOrder[] => {
    const minAmount = ctx.params.minAmountEur as number;
    const clean: CleanOrder[] = [];
    for (const o of orders) {
      const rate = EUR_PER_UNIT[o.currency];
      if (rate === undefined) {
        // Bad data from the source: retrying would give the same answer, so fail now.
        throw new NonRetryableError(`order ${o.id} is in ${String(o.currency)}, which has no exchange rate`);
      }
      const amountEur = Math.round((o.amountMinor / MINOR_UNITS[o.currency]) * rate * 100) / 100;
      if (o.status === "paid" && amountEur >= minAmount) clean.push({ id: o.id, customer: o.customer, amountEur });
    }
    // A day without an order above the threshold is a day, not an error: its partition is empty.
    if (clean.length === 0) ctx.log.warn(`no paid order of at least ${minAmount} EUR among ${orders.length}`);
    return clean;
  },
});

const load = task({
  id: "load",
  run: async (orders: CleanOrder[], ctx): Promise<LoadReport> => {
    const region = ctx.params.region as Region;
    const table = `orders_${region}`;
    const report: LoadReport = {
      table,
      partition: ctx.ds,
      rows: orders.length,
      totalEur: Math.round(orders.reduce((sum, o) => sum + o.amountEur, 0) * 100) / 100,
      written: false,
    };
    if (ctx.params.dryRun === true) {
      ctx.log.info(`dry run: would write ${orders.length} rows to ${table}/${ctx.ds}`);
      return report;
    }
    // One file per partition: a re-run of the same day replaces it instead of adding rows twice.
    const dir = join(tmpdir(), "updraft-examples", "warehouse", table);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${ctx.ds}.jsonl`), orders.map((o) => JSON.stringify(o)).join("\n") + "\n");
    ctx.log.info(`wrote ${orders.length} rows (${report.totalEur} EUR) to ${dir}`);
    return { ...report, written: true };
  },
});

export default dag(
  {
    id: "orders_etl",
    description: "Daily orders of one region, cleaned and loaded into the warehouse",
    docMd: [
      "# Orders ETL",
      "",
      "Extracts the orders of one region for the day `ds` (the 03:00 run covers the day before),",
      "keeps the paid ones converted to EUR, and writes them to that day's warehouse partition.",
      "Trigger it with",
      '`--conf \'{"region": "us", "dryRun": true}\'` to try another region without writing.',
    ].join("\n"),
    schedule: "0 3 * * *",
    timezone: "Europe/Berlin",
    startDate: "2026-01-01",
    catchup: false,
    owner: "data-platform",
    tags: ["etl", "orders", "example"],
    defaults: { retries: 2, retryDelay: "30s", executionTimeout: "5m" },
    params: {
      region: { type: "string", default: "eu", enum: ["eu", "us", "apac"], description: "Which shop region to load" },
      minAmountEur: { type: "number", default: 0, minimum: 0, description: "Drop orders below this amount (EUR)" },
      dryRun: { type: "boolean", default: false, description: "Compute everything but write nothing" },
    },
  },
  () => {
    const raw = extract(); // TaskRef<RawOrder[]>
    const clean = transform(raw); // TaskRef<CleanOrder[]>: the edge extract → transform comes from the ref
    load(clean); // load(raw) would not compile: a RawOrder[] is not a CleanOrder[]
  },
);
