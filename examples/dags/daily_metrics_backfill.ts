// A catchup/backfill-style daily job: with catchup true and a fixed startDate, unpausing it
// creates one run per missed day since 2026-11-23, at most two at a time (maxActiveRuns).
// Each run reads only its own data interval (ctx.dataInterval) and replaces the partition of
// that day, so running a day again never counts it twice. For a scheduled run, ctx.ds is the
// day the interval starts; a manual run's ds is its logical date (by default, the moment it was
// triggered) while its interval is the last complete day before it, so partitions are named
// after the interval.
import { mkdir, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dag, SkipError, task } from "updraft";

interface Window {
  ds: string;
  partition: string; // YYYY-MM-DD of the interval's start (UTC, the DAG's timezone)
  start: string; // ISO 8601, inclusive
  end: string; // ISO 8601, exclusive
  hours: number;
}

interface PageView {
  at: string;
  path: string;
}

interface DailyMetrics {
  partition: string;
  views: number;
  uniquePaths: number;
  busiestHour: string;
}

const HOUR_MS = 3_600_000;
const PATHS = ["/", "/pricing", "/docs", "/blog", "/signup"];

const dayWindow = task({
  id: "window",
  run: (_: void, ctx): Window => {
    const { start, end } = ctx.dataInterval;
    const partition = start.toISOString().slice(0, 10);
    if (partition !== ctx.ds) ctx.log.info(`run with ds ${ctx.ds} covers the day ${partition}`);
    return { ds: ctx.ds, partition, start: start.toISOString(), end: end.toISOString(), hours: (end.getTime() - start.getTime()) / HOUR_MS };
  },
});

// Stands in for reading the access log between start (inclusive) and end (exclusive).
const readViews = task({
  id: "read_views",
  run: (w: Window, ctx): PageView[] => {
    const start = Date.parse(w.start);
    const views: PageView[] = [];
    for (let hour = 0; hour < w.hours; hour++) {
      const count = 3 + ((hour * 7 + Number(w.partition.slice(8, 10))) % 11);
      for (let i = 0; i < count; i++) {
        views.push({ at: new Date(start + hour * HOUR_MS + i * 60_000).toISOString(), path: PATHS[(hour + i) % PATHS.length]! });
      }
    }
    if (views.length === 0) throw new SkipError(`no page views between ${w.start} and ${w.end}`);
    ctx.log.info(`${views.length} page views in [${w.start}, ${w.end})`);
    return views;
  },
});

const aggregate = task({
  id: "aggregate",
  run: (input: { window: Window; views: PageView[] }): DailyMetrics => {
    const perHour = new Map<string, number>();
    for (const v of input.views) perHour.set(v.at.slice(0, 13), (perHour.get(v.at.slice(0, 13)) ?? 0) + 1);
    const busiest = [...perHour].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0];
    return {
      partition: input.window.partition,
      views: input.views.length,
      uniquePaths: new Set(input.views.map((v) => v.path)).size,
      busiestHour: busiest ? `${busiest[0]}:00Z` : "",
    };
  },
});

const publish = task({
  id: "publish",
  run: async (metrics: DailyMetrics, ctx) => {
    const dir = join(tmpdir(), "updraft-examples", "daily_metrics");
    await mkdir(dir, { recursive: true });
    // Write, then rename: readers never see half a file, and a re-run replaces the partition.
    const file = join(dir, `${metrics.partition}.json`);
    const partial = `${file}.${ctx.runId.replace(/[^A-Za-z0-9_.-]/g, "_")}.tmp`;
    await writeFile(partial, JSON.stringify(metrics));
    await rename(partial, file);
    ctx.log.info(`published ${file}`);
    return file;
  },
});

export default dag(
  {
    id: "daily_metrics_backfill",
    description: "Daily page-view metrics, backfilled from the start date",
    schedule: "@daily",
    timezone: "UTC",
    startDate: "2026-11-23",
    catchup: true,
    maxActiveRuns: 2,
    owner: "web-analytics",
    tags: ["catchup", "example"],
    defaults: { retries: 1, retryDelay: "10s" },
  },
  () => {
    const w = dayWindow();
    const metrics = aggregate({ window: w, views: readViews(w) });
    publish(metrics);
  },
);
