// Fan-out, fan-in and a branch: a loop in the DAG body adds one task per region inside a
// group(), their outputs come together in one task (fan-in), a branch picks which report to
// build, and the final task joins both paths with a trigger rule that accepts the skipped one.
import { branch, dag, group, task, type TaskRef } from "updraft";

const REGIONS = ["eu", "us", "apac", "latam"] as const;
type Region = (typeof REGIONS)[number];

interface RegionSales {
  region: Region;
  orders: number;
  revenueEur: number;
}

interface Totals {
  day: string;
  orders: number;
  revenueEur: number;
  regions: RegionSales[];
}

// Stands in for a query against one regional database.
const collect = task({
  id: "collect",
  run: (region: Region, ctx): RegionSales => {
    const base = { eu: 420, us: 515, apac: 260, latam: 95 }[region];
    const dayOfMonth = Number(ctx.ds.slice(8, 10));
    const orders = base + ((dayOfMonth * 37) % 50);
    return { region, orders, revenueEur: Math.round(orders * 41.5 * 100) / 100 };
  },
});

const combine = task({
  id: "combine",
  run: (parts: RegionSales[], ctx): Totals => ({
    day: ctx.ds,
    orders: parts.reduce((n, p) => n + p.orders, 0),
    revenueEur: Math.round(parts.reduce((n, p) => n + p.revenueEur, 0) * 100) / 100,
    regions: parts,
  }),
});

// A branch returns the id(s) of the direct downstream tasks to follow; the others are skipped.
const chooseReport = branch({
  id: "choose_report",
  run: (totals: Totals, ctx) => {
    const threshold = ctx.params.detailedAbove as number;
    return totals.orders >= threshold ? "detailed_report" : "summary_report";
  },
});

const detailedReport = task({
  id: "detailed_report",
  run: (totals: Totals, ctx) => {
    for (const r of totals.regions) ctx.log.info(`${r.region}: ${r.orders} orders, ${r.revenueEur} EUR`);
    return `detailed report for ${totals.day}: ${totals.regions.length} regions`;
  },
});

const summaryReport = task({
  id: "summary_report",
  run: (totals: Totals) => `summary for ${totals.day}: ${totals.orders} orders, ${totals.revenueEur} EUR`,
});

const notify = task({
  id: "notify",
  // Exactly one report ran; the other was skipped by the branch, which this rule accepts.
  triggerRule: "none_failed_min_one_success",
  run: async (_: void, ctx) => {
    const detailed = await ctx.xcom.pull<string>("detailed_report");
    const summary = await ctx.xcom.pull<string>("summary_report");
    const message = detailed ?? summary ?? "no report";
    ctx.log.info(`sending to #sales: ${message}`);
    return message;
  },
});

export default dag(
  {
    id: "regional_sales_report",
    description: "Sales of every region, combined into one report each weekday morning",
    schedule: "0 7 * * 1-5",
    timezone: "America/New_York",
    startDate: "2026-11-01",
    owner: "sales-analytics",
    tags: ["reporting", "example"],
    maxActiveTasks: 8,
    params: {
      detailedAbove: { type: "integer", default: 1000, minimum: 0, description: "Orders from which the detailed report is built" },
    },
  },
  () => {
    // Fan-out: one task per region, in parallel, ids "regions.collect_eu", "regions.collect_us", …
    const perRegion = group("regions", () => {
      const refs: TaskRef<RegionSales>[] = [];
      for (const region of REGIONS) refs.push(collect(region, { id: `collect_${region}` }));
      return refs;
    });
    const totals = combine(perRegion); // fan-in: an array of refs becomes a RegionSales[]
    const choice = chooseReport(totals);
    const detailed = detailedReport(totals).after(choice);
    const summary = summaryReport(totals).after(choice);
    notify().after(detailed, summary);
  },
);
