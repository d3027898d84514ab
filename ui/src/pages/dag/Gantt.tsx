/**
 * A run's task instances on a time line: one row per task in the order they started, the time
 * spent queued in a lighter shade before the bar, and running bars growing every second.
 */
import { useQueries } from "@tanstack/react-query";
import { useMemo } from "react";
import { get } from "../../api/client";
import type { TaskInstance, Try } from "../../api/types";
import { ErrorBox, Loading, StateBadge, formatDuration, stateClass } from "../../components/common";
import { formatTime, offsetLabel, offsetMs, useTimeZone } from "../../components/time";
import type { Selection } from "./DagPage";
import { RunPicker } from "./Graph";
import { tiPath, useNow, useRun, useRunTis, useShownRun } from "./hooks";
import "./tabs.css";

const ACTIVE = new Set(["queued", "running", "scheduled", "up_for_retry", "deferred", "up_for_reschedule"]);

/** Tick steps, from 10 ms to a day: the smallest that gives at most 8 ticks is used. */
const STEPS = [10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3];

const MAX_TRIES_FETCHED = 40;

const ms = (iso: string | null | undefined) => (iso ? Date.parse(iso) : null);

/** Wall-clock time in the chosen zone, with milliseconds for tooltips: tasks often last less than a second. */
function clock(t: number | null, zone: string, withMs = true): string {
  return t === null ? "—" : formatTime(t, zone, { date: false, ms: withMs, zone: false });
}

interface Bar {
  ti: TaskInstance;
  queued: number | null;
  start: number | null;
  end: number | null;
  /** Tries before the current one (a retried task), drawn fainter before its bar. */
  earlier: Array<{ tryNumber: number; state: string; start: number; end: number; error: string | null }>;
}

function barsOf(tis: TaskInstance[], tries: Map<string, Try[]>, now: number): Bar[] {
  const bars = tis.map((ti) => {
    const start = ms(ti.start_date);
    // `now` ticks once a second, so a task may have started since: never end before the start.
    const end = ms(ti.end_date) ?? (start !== null && ti.state === "running" ? Math.max(now, start) : null);
    const earlier = (tries.get(ti.task_id) ?? [])
      .filter((t) => t.try_number < ti.try_number && t.start_date)
      .map((t) => ({ tryNumber: t.try_number, state: t.state, start: ms(t.start_date)!, end: ms(t.end_date) ?? ms(t.start_date)!, error: t.error_message }));
    return { ti, queued: ms(ti.queued_when), start, end, earlier };
  });
  const firstSeen = (b: Bar) => Math.min(b.earlier[0]?.start ?? Infinity, b.start ?? b.queued ?? Infinity);
  return bars.sort((a, b) => firstSeen(a) - firstSeen(b) || a.ti.task_id.localeCompare(b.ti.task_id));
}

/** Ticks at round clock times of the zone, or, below a second, at round offsets from the start. */
function ticksOf(from: number, span: number, zone: string): { step: number; ticks: number[] } {
  const step = STEPS.find((s) => span / s <= 8) ?? STEPS[STEPS.length - 1]!;
  const ticks: number[] = [];
  const offset = offsetMs(from, zone);
  const first = step < 1000 ? from : Math.ceil((from + offset) / step) * step - offset;
  for (let t = first; t <= from + span; t += step) ticks.push(t);
  return { step, ticks };
}

/** The earlier tries of every retried task instance (same data as the task panel's tries). */
function useEarlierTries(dagId: string, runId: string, tis: TaskInstance[]): Map<string, Try[]> {
  // One request per retried task: past a few dozen, the earlier tries are left out.
  const retried = tis.filter((ti) => ti.try_number > 1).slice(0, MAX_TRIES_FETCHED);
  return useQueries({
    queries: retried.map((ti) => ({
      queryKey: ["tries", dagId, runId, ti.task_id, "gantt"],
      queryFn: () => get<{ task_instance_tries: Try[] }>(`${tiPath(dagId, runId, ti.task_id)}/tries`),
    })),
    combine: (results) => new Map(results.map((r, i) => [retried[i]!.task_id, r.data?.task_instance_tries ?? []])),
  });
}

export function GanttTab({ dagId, selection }: { dagId: string; selection: Selection }) {
  const shown = useShownRun(dagId, selection.runId);
  const selectedRun = useRun(dagId, selection.runId);
  return (
    <div className="card gantt-card">
      <div className="toolbar tab-toolbar">
        <RunPicker runs={shown.runs} selectedRunId={selection.runId} selected={selectedRun.data} onSelect={(runId) => selection.select(runId)} />
      </div>
      <ErrorBox error={shown.error} title="Could not load the runs" />
      {shown.isLoading ? <Loading what="the runs" /> : shown.runId ? <GanttOfRun dagId={dagId} runId={shown.runId} selection={selection} /> : <div className="empty">No runs yet: trigger one to see its timeline here.</div>}
    </div>
  );
}

function GanttOfRun({ dagId, runId, selection }: { dagId: string; runId: string; selection: Selection }) {
  const run = useRun(dagId, runId);
  const tis = useRunTis(dagId, runId);
  const instances = useMemo(() => tis.data?.task_instances ?? [], [tis.data]);
  const live = (run.data ? ACTIVE.has(run.data.state) : false) || instances.some((ti) => ti.state === "running");
  const now = useNow(live);
  const zone = useTimeZone();

  const tries = useEarlierTries(dagId, runId, instances);
  const bars = useMemo(() => barsOf(instances, tries, now), [instances, tries, now]);

  if (tis.isLoading || run.isLoading) return <Loading what="the task instances" />;
  if (tis.error || run.error) return <ErrorBox error={tis.error ?? run.error} title="Could not load the run" />;

  const times = bars.flatMap((b) => [b.queued, b.start, b.end, ...b.earlier.flatMap((t) => [t.start, t.end])]).filter((t): t is number => t !== null);
  const runStart = ms(run.data?.start_date);
  if (runStart !== null) times.push(runStart);
  if (live) times.push(now);
  if (times.length === 0 || bars.every((b) => b.start === null && b.queued === null)) {
    return <div className="empty">No task of this run has been queued yet.</div>;
  }
  const from = Math.min(...times);
  const span = Math.max(Math.max(...times) - from, 20);
  const { step, ticks } = ticksOf(from, span, zone);
  const at = (t: number) => `${((t - from) / span) * 100}%`;
  const width = (a: number, b: number) => `${Math.max(((b - a) / span) * 100, 0.25)}%`;
  const tickLabel = (t: number) => (step < 1000 ? `+${formatDuration(t - from)}` : clock(t, zone, false));

  return (
    <div className="gantt" data-testid="gantt">
      <div className="gantt-summary">
        {run.data && <StateBadge state={run.data.state} />}
        <span className="mono">{runId}</span>
        <span className="muted">
          {bars.filter((b) => b.start !== null).length} of {bars.length} tasks started · {formatDuration(span)} shown
        </span>
        <span className="grow" />
        <span className="gantt-legend muted">
          <span className="gantt-key queued" /> waiting in the queue
          {bars.some((b) => b.earlier.length > 0) && (
            <>
              <span className="gantt-key earlier" /> earlier tries
            </>
          )}
        </span>
      </div>
      <div className="gantt-chart">
        <div className="gantt-grid" aria-hidden="true">
          {ticks.map((t) => (
            <span key={t} className="gantt-gridline" style={{ left: at(t) }} />
          ))}
          {live && <span className="gantt-now" style={{ left: at(now) }} title="now" />}
        </div>
        <div className="gantt-row gantt-axis">
          <div className="gantt-name muted">Task · times {offsetLabel(from, zone)}</div>
          <div className="gantt-track">
            {/* Labels near the right end would run into the duration column. */}
            {ticks
              .filter((t) => (t - from) / span <= 0.93)
              .map((t) => (
                <span key={t} className="gantt-tick" style={{ left: at(t) }}>
                  {tickLabel(t)}
                </span>
              ))}
          </div>
          <div className="gantt-duration muted">Duration</div>
        </div>
        {bars.map((b) => (
          <GanttRow
            key={b.ti.task_id}
            bar={b}
            now={now}
            zone={zone}
            at={at}
            width={width}
            selected={selection.taskId === b.ti.task_id}
            onSelect={() => selection.select(runId, b.ti.task_id)}
          />
        ))}
      </div>
    </div>
  );
}

function GanttRow({
  bar,
  now,
  zone,
  at,
  width,
  selected,
  onSelect,
}: {
  bar: Bar;
  now: number;
  zone: string;
  at(t: number): string;
  width(a: number, b: number): string;
  selected: boolean;
  onSelect(): void;
}) {
  const { ti, queued, start, end, earlier } = bar;
  const state = ti.state.replace(/_/g, " ");
  const ran = start !== null ? Math.max((end ?? now) - start, 0) : null;
  const waited = queued !== null ? Math.max((start ?? now) - queued, 0) : null;
  const title = [
    `${ti.task_id}: ${state}${ti.try_number > 1 ? ` (try ${ti.try_number})` : ""}`,
    ...earlier.map((t) => `try ${t.tryNumber}: ${t.state} after ${formatDuration(t.end - t.start)}${t.error ? ` (${t.error})` : ""}`),
    `queued  ${clock(queued, zone)}`,
    `started ${clock(start, zone)}`,
    `ended   ${clock(ms(ti.end_date), zone)} (${offsetLabel(start ?? queued ?? now, zone)})`,
    waited !== null ? `waited ${formatDuration(waited)}` : null,
    ran !== null ? `ran ${formatDuration(ran)}` : null,
  ]
    .filter(Boolean)
    .join("\n");
  // A task still waiting shows its queue time growing up to now.
  const queueEnd = start ?? (queued !== null && ti.state === "queued" ? Math.max(now, queued) : null);
  return (
    <div className={`gantt-row${selected ? " selected" : ""}`} title={title} onClick={onSelect}>
      <div className="gantt-name">
        <button
          className="link mono"
          onClick={(e) => {
            e.stopPropagation();
            onSelect();
          }}
          aria-label={`Select ${ti.task_id}`}>
          {ti.task_id}
        </button>
        {ti.try_number > 1 && <span className="muted"> · try {ti.try_number}</span>}
      </div>
      <div className="gantt-track">
        {earlier.map((t) => (
          <span key={t.tryNumber} className={`gantt-bar earlier ${stateClass(t.state)}`} style={{ left: at(t.start), width: width(t.start, t.end) }} />
        ))}
        {queued !== null && queueEnd !== null && queueEnd > queued && <span className={`gantt-bar queued ${stateClass(ti.state)}`} style={{ left: at(queued), width: width(queued, queueEnd) }} />}
        {start !== null && <span className={`gantt-bar ${stateClass(ti.state)}`} style={{ left: at(start), width: width(start, end ?? start) }} />}
        {start === null && queued === null && <span className="gantt-none muted">{ti.state === "none" ? "not started" : state}</span>}
      </div>
      <div className="gantt-duration">{ran !== null ? formatDuration(ran) : <span className="muted">—</span>}</div>
    </div>
  );
}
