/**
 * Runs × tasks, coloured by state. Above the columns, each run's duration as a bar (its height
 * against the longest run shown, its colour the run's state) and its logical date in the chosen
 * time zone. Rows are virtualized (only the visible ones are in the page), so a DAG of thousands of
 * tasks paints as fast as a small one. Task groups fold into one row that shows the most telling
 * state of their members.
 */
import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef, useState } from "react";
import type { Grid, GridRun } from "../../api/types";
import { ErrorBox, Loading, StateDot, durationBetween, formatDuration, stateClass } from "../../components/common";
import { formatTime, offsetLabel, useTimeZone } from "../../components/time";
import type { Selection } from "./DagPage";
import "./grid.css";
import { useGrid, useNow } from "./hooks";

const ROW_HEIGHT = 24;
/** The tallest duration bar, in pixels. */
const BAR_HEIGHT = 56;

/** The order in which a group shows its members' states: the first one present wins. */
const GROUP_PRIORITY = ["failed", "upstream_failed", "up_for_retry", "running", "queued", "scheduled", "deferred", "up_for_reschedule", "success", "skipped", "removed"];

type Row =
  | { kind: "group"; id: string; label: string; depth: number; members: number[] }
  | { kind: "task"; id: string; label: string; depth: number; index: number };

interface GroupNode {
  id: string;
  children: Array<GroupNode | number>;
  members: number[];
}

/**
 * Rows in task order with each group as a header directly followed by all its members (unless
 * folded). Task order is topological, so a group's members need not be next to each other there:
 * a group is placed where its first member comes, and gathers the rest under it.
 */
function buildRows(grid: Grid, folded: Set<string>): Row[] {
  const parent = new Map(grid.groups.map((g) => [g.group_id, g.parent]));
  const chain = (group: string | null): string[] => {
    const out: string[] = [];
    for (let g = group; g; g = parent.get(g) ?? null) out.unshift(g);
    return out;
  };
  const root: GroupNode = { id: "", children: [], members: [] };
  const nodes = new Map<string, GroupNode>();
  grid.tasks.forEach((t, i) => {
    let at = root;
    for (const g of chain(t.group)) {
      let node = nodes.get(g);
      if (!node) {
        node = { id: g, children: [], members: [] };
        nodes.set(g, node);
        at.children.push(node);
      }
      node.members.push(i);
      at = node;
    }
    at.children.push(i);
  });
  const rows: Row[] = [];
  const emit = (node: GroupNode, depth: number) => {
    for (const child of node.children) {
      if (typeof child === "number") {
        const t = grid.tasks[child]!;
        const short = t.group && t.task_id.startsWith(`${t.group}.`) ? t.task_id.slice(t.group.length + 1) : t.task_id;
        rows.push({ kind: "task", id: t.task_id, label: short, depth, index: child });
      } else {
        const label = child.id.includes(".") ? child.id.slice(child.id.lastIndexOf(".") + 1) : child.id;
        rows.push({ kind: "group", id: child.id, label, depth, members: child.members });
        if (!folded.has(child.id)) emit(child, depth + 1);
      }
    }
  };
  emit(root, 0);
  return rows;
}

function groupState(run: GridRun, members: number[]): string | null {
  const present = new Set(members.map((i) => run.states[i]).filter((s): s is string => !!s));
  return GROUP_PRIORITY.find((s) => present.has(s)) ?? null;
}

export function GridTab({ dagId, selection }: { dagId: string; selection: Selection }) {
  const [limit, setLimit] = useState(25);
  const [runType, setRunType] = useState("");
  const [runState, setRunState] = useState("");
  const grid = useGrid(dagId, limit, { run_type: runType || undefined, state: runState || undefined });
  const [folded, setFolded] = useState<Set<string>>(new Set());
  const scroller = useRef<HTMLDivElement>(null);

  const data = grid.data;
  const runs = useMemo(() => (data ? [...data.runs].reverse() : []), [data]); // oldest → newest, left → right
  const rows = useMemo(() => (data ? buildRows(data, folded) : []), [data, folded]);
  const zone = useTimeZone();
  const virtualizer = useVirtualizer({ count: rows.length, getScrollElement: () => scroller.current, estimateSize: () => ROW_HEIGHT, overscan: 20 });

  if (grid.isLoading) return <Loading what="the grid" />;
  if (!data) return <ErrorBox error={grid.error} title="Could not load the grid" />;

  const toggle = (group: string) =>
    setFolded((f) => {
      const next = new Set(f);
      if (next.has(group)) next.delete(group);
      else next.add(group);
      return next;
    });
  const groupIds = data.groups.map((g) => g.group_id);

  return (
    <div className="card grid-card">
      <div className="toolbar grid-toolbar">
        <select aria-label="Runs shown" value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
          {[10, 25, 50, 100].map((n) => (
            <option key={n} value={n}>
              {n} runs
            </option>
          ))}
        </select>
        <select aria-label="Run type" value={runType} onChange={(e) => setRunType(e.target.value)}>
          <option value="">All run types</option>
          {["manual", "scheduled", "backfill", "test"].map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
        <select aria-label="Run state" value={runState} onChange={(e) => setRunState(e.target.value)}>
          <option value="">All run states</option>
          {["queued", "running", "success", "failed"].map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
        {groupIds.length > 0 && (
          <>
            <button onClick={() => setFolded(new Set())}>Expand groups</button>
            <button onClick={() => setFolded(new Set(groupIds))}>Collapse groups</button>
          </>
        )}
        <span className="grow" />
        <span className="muted">
          {data.tasks.length} tasks × {data.runs.length} runs
        </span>
      </div>
      {runs.length === 0 && <div className="empty">No runs yet. Trigger one, or unpause the DAG to let its schedule create them.</div>}
      <div className="grid-scroll" ref={scroller} data-testid="grid">
        <RunHeader runs={runs} selection={selection} zone={zone} />
        <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
          {virtualizer.getVirtualItems().map((item) => {
            const row = rows[item.index]!;
            return (
              <div
                key={`${row.kind}:${row.id}`}
                className={`grid-row ${row.kind}`}
                style={{ transform: `translateY(${item.start}px)`, gridTemplateColumns: `var(--grid-name) repeat(${runs.length}, var(--grid-cell))` }}
                data-task-id={row.kind === "task" ? row.id : undefined}
              >
                <div className="grid-name" style={{ paddingLeft: 8 + row.depth * 14 }} title={row.id}>
                  {row.kind === "group" ? (
                    <button className="link group-toggle" onClick={() => toggle(row.id)} aria-expanded={!folded.has(row.id)}>
                      {folded.has(row.id) ? "▸" : "▾"} {row.label}
                    </button>
                  ) : (
                    <span className="mono">{row.label}</span>
                  )}
                </div>
                {runs.map((r) => {
                  if (row.kind === "group") {
                    const state = groupState(r, row.members);
                    return (
                      <span key={r.dag_run_id} className="grid-cell">
                        <span className={`cell group ${stateClass(state)}`} title={`${row.id} in ${r.dag_run_id}: ${state ?? "no status"}`} />
                      </span>
                    );
                  }
                  const state = r.states[row.index] ?? null;
                  const tries = r.tries[row.index] ?? 0;
                  const selected = selection.runId === r.dag_run_id && selection.taskId === row.id;
                  return (
                    <button
                      key={r.dag_run_id}
                      className={`grid-cell${selected ? " selected" : ""}`}
                      title={`${row.id}\nrun ${r.dag_run_id}\n${state ?? "no status"}${tries > 1 ? ` · try ${tries}` : ""}`}
                      aria-label={`${row.id} in ${r.dag_run_id}: ${state ?? "no status"}`}
                      data-state={state ?? "none"}
                      onClick={() => selection.select(r.dag_run_id, row.id)}
                    >
                      <span className={`cell ${stateClass(state)}`} />
                    </button>
                  );
                })}
              </div>
            );
          })}
        </div>
      </div>
      <Legend />
    </div>
  );
}

/** Each run's column head: a bar as tall as its duration is long (against the longest shown), coloured by its state, and its logical date. */
function RunHeader({ runs, selection, zone }: { runs: GridRun[]; selection: Selection; zone: string }) {
  // Only the header ticks while a run is on its way (its bar grows), not the rows below.
  const now = useNow(runs.some((r) => r.state === "running" || r.state === "queued"));
  const durations = runs.map((r) => durationBetween(r.start_date, r.end_date, now));
  const longest = Math.max(0, ...durations.map((d) => d ?? 0));
  // Runs of one day show their times to the second; otherwise month, day, hour and minute.
  const days = new Set(runs.map((r) => formatTime(r.logical_date, zone, { zone: false }).slice(0, 10)));
  const oneDay = days.size === 1 ? [...days][0]! : null;
  const label = (iso: string) => {
    const text = formatTime(iso, zone, { zone: false });
    return oneDay ? text.slice(11) : text.slice(5, 16);
  };
  const newest = runs.at(-1);
  return (
    <div className="grid-head" style={{ gridTemplateColumns: `var(--grid-name) repeat(${runs.length}, var(--grid-cell))` }}>
      <div className="grid-name grid-head-name muted">
        <span className="grid-scale" title="The bars are the runs' durations, against the longest shown">
          {longest > 0 ? `▮ ${formatDuration(longest)}` : "Duration"}
        </span>
        <span>
          Logical date{oneDay ? ` ${oneDay}` : ""}
          {newest ? ` · ${offsetLabel(Date.parse(newest.logical_date), zone)}` : ""}
        </span>
        <span>Task</span>
      </div>
      {runs.map((r, i) => {
        const d = durations[i] ?? null;
        const height = d === null || longest === 0 ? 0 : Math.max(3, Math.round((d / longest) * BAR_HEIGHT));
        const title = [
          `${r.dag_run_id}`,
          `${r.state} · ${r.run_type}`,
          `logical date ${formatTime(r.logical_date, zone)}`,
          `data interval ${formatTime(r.data_interval_start, zone)} → ${formatTime(r.data_interval_end, zone)}`,
          `started ${formatTime(r.start_date, zone)}`,
          `ended ${formatTime(r.end_date, zone)}`,
          `duration ${formatDuration(d)}`,
        ].join("\n");
        return (
          <button
            key={r.dag_run_id}
            className={`grid-run${selection.runId === r.dag_run_id && !selection.taskId ? " selected" : ""}`}
            title={title}
            aria-label={`run ${r.dag_run_id}: ${r.state}`}
            data-run-id={r.dag_run_id}
            onClick={() => selection.select(r.dag_run_id)}
          >
            <span className="grid-bar-area">
              <span className={`grid-bar ${stateClass(r.state)}${height === 0 ? " empty" : ""}`} style={{ height: height || undefined }} data-duration-ms={d ?? undefined} />
            </span>
            <span className="grid-date" data-testid="run-date">
              {label(r.logical_date)}
            </span>
          </button>
        );
      })}
    </div>
  );
}

function Legend() {
  return (
    <div className="grid-legend">
      {["success", "running", "failed", "up_for_retry", "upstream_failed", "queued", "scheduled", "skipped", "none"].map((s) => (
        <span key={s}>
          <StateDot state={s} /> {s === "none" ? "no status" : s.replace(/_/g, " ")}
        </span>
      ))}
    </div>
  );
}
