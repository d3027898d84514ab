/**
 * The DAG drawn as a graph, laid out left to right by dagre, each task coloured by its state in
 * the selected run (or the latest one). Task groups are boxes around their members; a folded
 * group becomes one node that shows its members' most telling state.
 */
import dagre from "@dagrejs/dagre";
import {
  Background,
  BaseEdge,
  Controls,
  Handle,
  MarkerType,
  MiniMap,
  Position,
  ReactFlow,
  useReactFlow,
  useStore,
  type Edge,
  type EdgeProps,
  type Node,
  type NodeProps,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useEffect, useMemo, useRef, useState } from "react";
import type { GridRun, Structure } from "../../api/types";
import { ErrorBox, Loading, StateDot } from "../../components/common";
import { useFormatTime } from "../../components/time";
import type { Selection } from "./DagPage";
import { useAppTheme, useDag, useRun, useRunTis, useShownRun, useStructure } from "./hooks";
import "./tabs.css";

const TASK_WIDTH = 200;
const TASK_HEIGHT = 52;
const GROUP_PAD = 12;
const GROUP_HEADER = 24;

/** The order in which a folded group shows its members' states: the first one present wins. */
const GROUP_PRIORITY = ["failed", "upstream_failed", "up_for_retry", "running", "queued", "scheduled", "deferred", "up_for_reschedule", "success", "skipped", "removed"];

/** Edge colours per theme (markers cannot use CSS variables: their ids are built from the colour). */
const EDGE_COLOURS = {
  light: { data: "#3d4a5c", order: "#8a94a6", selected: "#0b6bcb" },
  dark: { data: "#c3ccd8", order: "#6d7a8c", selected: "#4c9ffe" },
};

// ── Run picker (also used by the Gantt tab) ──────────────────────────────────────────────────

type RunSummary = Pick<GridRun, "dag_run_id" | "logical_date" | "state" | "run_type">;

/** Date, state and type; the id too unless it is the usual "<type>__<date>" one. */
function labelOf(r: RunSummary, format: (iso: string) => string): string {
  const words = `${format(r.logical_date)} · ${r.state.replace(/_/g, " ")} · ${r.run_type}`;
  return r.dag_run_id.startsWith(`${r.run_type}__`) ? words : `${words} · ${r.dag_run_id}`;
}

/**
 * A select of the recent runs; "" stands for "the latest run, whichever it is". A selected run
 * older than the recent ones is offered too, described by `selected` once it has loaded.
 */
export function RunPicker({
  runs,
  selectedRunId,
  selected,
  onSelect,
}: {
  runs: GridRun[];
  selectedRunId: string | null;
  selected?: RunSummary;
  onSelect(runId: string | null): void;
}) {
  const format = useFormatTime();
  const runLabel = (r: RunSummary) => labelOf(r, format);
  const latest = runs[0];
  const known = selectedRunId === null || runs.some((r) => r.dag_run_id === selectedRunId);
  return (
    <label className="run-picker">
      <span className="muted">Run</span>
      <select value={selectedRunId ?? ""} onChange={(e) => onSelect(e.target.value || null)} aria-label="Run">
        <option value="">{latest ? `Latest run (${runLabel(latest)})` : "Latest run (none yet)"}</option>
        {!known && <option value={selectedRunId}>{selected?.dag_run_id === selectedRunId ? runLabel(selected) : selectedRunId}</option>}
        {runs.map((r) => (
          <option key={r.dag_run_id} value={r.dag_run_id}>
            {runLabel(r)}
          </option>
        ))}
      </select>
    </label>
  );
}

// ── Layout ───────────────────────────────────────────────────────────────────────────────────

interface TaskNodeData extends Record<string, unknown> {
  label: string;
  taskId: string;
  kind: string;
  state: string | null;
  tryNumber: number;
  selected: boolean;
}

interface GroupNodeData extends Record<string, unknown> {
  label: string;
  groupId: string;
  folded: boolean;
  members: number;
  state: string | null;
  toggle(groupId: string): void;
}

type TaskNode = Node<TaskNodeData, "task">;
type GroupNode = Node<GroupNodeData, "group-box" | "group-folded">;

interface Placed {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

interface Layout {
  tasks: Array<Placed & { taskId: string; label: string; kind: string }>;
  boxes: Array<Placed & { groupId: string; label: string; depth: number; members: string[] }>;
  folded: Array<Placed & { groupId: string; label: string; members: string[] }>;
  edges: Array<{ id: string; source: string; target: string; data: boolean; points: Array<{ x: number; y: number }> }>;
}

const shortName = (id: string, parent: string | null) => (parent && id.startsWith(`${parent}.`) ? id.slice(parent.length + 1) : id);

/** Dagre's compound layout (groups kept apart) slows down fast: beyond this many nodes, or if it fails, groups are boxes drawn around a plain layout. */
const COMPOUND_LIMIT = 150;
/** DAGs with more tasks than this open with their top-level groups folded. */
const FOLD_ABOVE = 100;

function defaultFolded(structure: Structure): Set<string> {
  if (structure.tasks.length <= FOLD_ABOVE) return new Set();
  return new Set(structure.groups.filter((g) => g.parent === null).map((g) => g.group_id));
}

/** The groups a group sits in, outermost first, and the group itself. */
function groupChain(structure: Structure): (group: string | null) => string[] {
  const parentOf = new Map(structure.groups.map((g) => [g.group_id, g.parent]));
  return (group) => {
    const out: string[] = [];
    for (let g = group; g; g = parentOf.get(g) ?? null) out.unshift(g);
    return out;
  };
}

/** The node each task is drawn as: itself ("t:<id>"), or its outermost folded group ("g:<id>"). */
function visibleNodes(structure: Structure, foldedGroups: Set<string>): Map<string, string> {
  const chain = groupChain(structure);
  const visibleOf = new Map<string, string>();
  for (const t of structure.tasks) {
    const foldedAncestor = foldedGroups.size > 0 ? chain(t.group).find((g) => foldedGroups.has(g)) : undefined;
    visibleOf.set(t.task_id, foldedAncestor ? `g:${foldedAncestor}` : `t:${t.task_id}`);
  }
  return visibleOf;
}

function layoutGraph(structure: Structure, foldedGroups: Set<string>): Layout {
  const nodeCount = new Set(visibleNodes(structure, foldedGroups).values()).size;
  if (structure.groups.length > 0 && nodeCount <= COMPOUND_LIMIT) {
    try {
      return layoutWith(structure, foldedGroups, true);
    } catch {
      // Some group shapes defeat dagre's compound layout: fall back to boxes around a plain one.
    }
  }
  return layoutWith(structure, foldedGroups, false);
}

/** Lays out the visible graph: folded groups stand in for their members, edges follow them. */
function layoutWith(structure: Structure, foldedGroups: Set<string>, compound: boolean): Layout {
  const parentOf = new Map(structure.groups.map((g) => [g.group_id, g.parent]));
  const chain = groupChain(structure);
  const depthOf = (group: string) => chain(group).length - 1;

  const membersOf = new Map<string, string[]>();
  for (const t of structure.tasks) for (const g of chain(t.group)) membersOf.set(g, [...(membersOf.get(g) ?? []), t.task_id]);

  const visibleOf = visibleNodes(structure, foldedGroups);

  const g = new dagre.graphlib.Graph({ compound });
  // edgesep also spaces a group's border from its contents: the group's header goes there.
  g.setGraph({ rankdir: "LR", nodesep: 28, edgesep: 48, ranksep: 70, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));

  // Each drawn node and open group, with the open group (box) it sits in.
  const openGroups = new Set<string>();
  const foldedShown = new Set<string>();
  const boxOf = new Map<string, string>();
  for (const t of structure.tasks) {
    const node = visibleOf.get(t.task_id)!;
    const groups = chain(t.group);
    const outer = node.startsWith("t:") ? groups : groups.slice(0, groups.indexOf(node.slice(2)));
    if (node.startsWith("g:")) foldedShown.add(node.slice(2));
    outer.forEach((grp) => openGroups.add(grp));
    g.setNode(node, { width: TASK_WIDTH, height: TASK_HEIGHT });
    const parent = outer[outer.length - 1];
    if (parent) boxOf.set(node, `c:${parent}`);
  }
  for (const grp of openGroups) {
    const parent = parentOf.get(grp);
    if (parent) boxOf.set(`c:${grp}`, `c:${parent}`);
  }
  if (compound) {
    for (const grp of openGroups) g.setNode(`c:${grp}`, {});
    for (const [child, box] of boxOf) g.setParent(child, box);
  }

  const edges = new Map<string, Layout["edges"][number]>();
  for (const e of structure.edges) {
    const source = visibleOf.get(e.source);
    const target = visibleOf.get(e.target);
    if (!source || !target || source === target) continue;
    const id = `${source}->${target}`;
    const known = edges.get(id);
    if (known) known.data ||= e.data;
    else {
      edges.set(id, { id, source, target, data: e.data, points: [] });
      g.setEdge(source, target);
    }
  }

  dagre.layout(g);
  for (const id of g.nodes()) {
    const n = g.node(id);
    if (!Number.isFinite(n.x) || !Number.isFinite(n.y)) throw new Error(`dagre could not place ${id}`);
  }

  const placed = (id: string): Placed => {
    const n = g.node(id);
    return { id, x: (n.x ?? 0) - n.width / 2, y: (n.y ?? 0) - n.height / 2, width: n.width, height: n.height };
  };
  const tasks = structure.tasks
    .filter((t) => visibleOf.get(t.task_id) === `t:${t.task_id}`)
    .map((t) => ({ ...placed(`t:${t.task_id}`), taskId: t.task_id, label: shortName(t.task_id, t.group), kind: t.kind }));
  const folded = [...foldedShown].map((grp) => ({ ...placed(`g:${grp}`), groupId: grp, label: shortName(grp, parentOf.get(grp) ?? null), members: membersOf.get(grp) ?? [] }));

  // A group's box hugs its contents with room for its header; in a compound layout never beyond
  // dagre's cluster, which no other node enters. Innermost first, so outer boxes wrap inner ones.
  const rects = new Map<string, Placed>([...tasks, ...folded].map((p) => [p.id, p]));
  const contentsOf = new Map<string, string[]>();
  for (const [child, box] of boxOf) contentsOf.set(box, [...(contentsOf.get(box) ?? []), child]);
  const boxes: Layout["boxes"] = [];
  for (const grp of [...openGroups].sort((a, b) => depthOf(b) - depthOf(a))) {
    const id = `c:${grp}`;
    const contents = (contentsOf.get(id) ?? []).map((child) => rects.get(child)).filter((r): r is Placed => r !== undefined);
    if (contents.length === 0) continue;
    const cluster = compound ? placed(id) : null;
    const left = Math.max(cluster?.x ?? -Infinity, Math.min(...contents.map((r) => r.x)) - GROUP_PAD);
    const top = Math.max(cluster?.y ?? -Infinity, Math.min(...contents.map((r) => r.y)) - GROUP_PAD - GROUP_HEADER);
    const right = Math.min(cluster ? cluster.x + cluster.width : Infinity, Math.max(...contents.map((r) => r.x + r.width)) + GROUP_PAD);
    const bottom = Math.min(cluster ? cluster.y + cluster.height : Infinity, Math.max(...contents.map((r) => r.y + r.height)) + GROUP_PAD);
    const box = { id, x: left, y: top, width: right - left, height: bottom - top };
    rects.set(id, box);
    boxes.push({ ...box, groupId: grp, label: shortName(grp, parentOf.get(grp) ?? null), depth: depthOf(grp), members: membersOf.get(grp) ?? [] });
  }
  // Dagre routes edges around groups; its first and last points give way to the handles.
  for (const e of edges.values()) e.points = (g.edge(e.source, e.target)?.points ?? []).slice(1, -1);
  return { tasks, boxes, folded, edges: [...edges.values()] };
}

function groupState(members: string[], states: Map<string, string>): string | null {
  const present = new Set(members.map((m) => states.get(m)).filter(Boolean));
  return GROUP_PRIORITY.find((s) => present.has(s)) ?? null;
}

// ── Nodes ────────────────────────────────────────────────────────────────────────────────────

const stateWords = (state: string | null) => (state && state !== "none" ? state : "no status").replace(/_/g, " ");

function TaskNodeView({ data }: NodeProps<TaskNode>) {
  return (
    <div className={`gnode${data.selected ? " selected" : ""}`} title={`${data.taskId}\n${data.kind} · ${stateWords(data.state)}${data.tryNumber > 1 ? ` · try ${data.tryNumber}` : ""}`}>
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <span className={`gnode-stripe state-${(data.state ?? "none").replace(/[^a-z_]/g, "")}`} />
      <div className="gnode-body">
        <div className="gnode-title mono">{data.label}</div>
        <div className="gnode-meta">
          <StateDot state={data.state} />
          <span>{data.kind}</span>
          <span>· {stateWords(data.state)}</span>
          {data.tryNumber > 1 && <span>· try {data.tryNumber}</span>}
        </div>
      </div>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
}

function GroupBoxView({ data }: NodeProps<GroupNode>) {
  return (
    <div className="gbox">
      <button className="gbox-head nodrag" onClick={() => data.toggle(data.groupId)} title={`Fold ${data.groupId}`} aria-expanded="true">
        ▾ <span className="mono">{data.label}</span> <span className="muted">({data.members})</span>
      </button>
    </div>
  );
}

function FoldedGroupView({ data }: NodeProps<GroupNode>) {
  return (
    <div className="gnode folded" title={`Group ${data.groupId}: ${data.members} tasks, ${stateWords(data.state)}. Click to unfold.`}>
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <span className={`gnode-stripe state-${(data.state ?? "none").replace(/[^a-z_]/g, "")}`} />
      <div className="gnode-body">
        <div className="gnode-title mono">▸ {data.label}</div>
        <div className="gnode-meta">
          <StateDot state={data.state} />
          <span>group of {data.members}</span>
          <span>· {stateWords(data.state)}</span>
        </div>
      </div>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
}

const nodeTypes = { task: TaskNodeView, "group-box": GroupBoxView, "group-folded": FoldedGroupView };

type Point = { x: number; y: number };
type RoutedEdge = Edge<{ points: Point[] }, "routed">;

/**
 * An edge through dagre's waypoints (which keep it out of groups it does not belong to), as one
 * smooth curve: a Hermite spline that leaves and reaches the handles horizontally.
 */
function RoutedEdgeView({ sourceX, sourceY, targetX, targetY, data, style, markerEnd }: EdgeProps<RoutedEdge>) {
  // Waypoints next to either end only make kinks; an edge to the next column needs none.
  const between = (data?.points ?? []).filter((p) => p.x > sourceX + 60 && p.x < targetX - 60);
  if (between.length < 2) between.length = 0;
  const points = [{ x: sourceX, y: sourceY }, ...between, { x: targetX, y: targetY }];
  const last = points.length - 1;
  const tangent = (i: number): Point => {
    if (i === 0 || i === last) {
      const reach = Math.max(Math.abs(points[i === 0 ? 1 : last - 1]!.x - points[i]!.x), 40);
      return { x: reach, y: 0 };
    }
    return { x: (points[i + 1]!.x - points[i - 1]!.x) / 2, y: (points[i + 1]!.y - points[i - 1]!.y) / 2 };
  };
  let path = `M ${sourceX},${sourceY}`;
  for (let i = 0; i < last; i++) {
    const [from, to, t0, t1] = [points[i]!, points[i + 1]!, tangent(i), tangent(i + 1)];
    path += ` C ${from.x + t0.x / 3},${from.y + t0.y / 3} ${to.x - t1.x / 3},${to.y - t1.y / 3} ${to.x},${to.y}`;
  }
  return <BaseEdge path={path} style={style} markerEnd={markerEnd} />;
}

const edgeTypes = { routed: RoutedEdgeView };

// ── The tab ──────────────────────────────────────────────────────────────────────────────────

export function GraphTab({ dagId, selection }: { dagId: string; selection: Selection }) {
  const shown = useShownRun(dagId, selection.runId);
  const selectedRun = useRun(dagId, selection.runId);
  const dag = useDag(dagId);
  // An old run is drawn with its own version's graph; without a selection, the current graph.
  // Both by number, so selecting a run of the latest version reuses the graph already drawn.
  const inRecent = shown.runs.find((r) => r.dag_run_id === selection.runId);
  const version = selection.runId === null ? (dag.data?.latest_version ?? null) : (inRecent?.version_number ?? selectedRun.data?.dag_version ?? dag.data?.latest_version ?? null);
  const waitingForVersion = selection.runId !== null && !inRecent && selectedRun.isLoading;

  return (
    <div className="card graph-card">
      <div className="toolbar tab-toolbar">
        <RunPicker runs={shown.runs} selectedRunId={selection.runId} selected={selectedRun.data} onSelect={(runId) => selection.select(runId)} />
        <span className="grow" />
        <GraphLegend />
      </div>
      <ErrorBox error={shown.error ?? selectedRun.error} title="Could not load the run" />
      {waitingForVersion ? <Loading what="the run" /> : <GraphOfVersion dagId={dagId} version={version} runId={shown.runId} selection={selection} />}
    </div>
  );
}

function GraphLegend() {
  return (
    <div className="graph-legend" aria-label="Legend">
      <span>
        <svg width="34" height="8" aria-hidden="true">
          <line x1="0" y1="4" x2="34" y2="4" className="legend-data" />
        </svg>
        passes data
      </span>
      <span>
        <svg width="34" height="8" aria-hidden="true">
          <line x1="0" y1="4" x2="34" y2="4" className="legend-order" />
        </svg>
        runs after
      </span>
    </div>
  );
}

function GraphOfVersion({ dagId, version, runId, selection }: { dagId: string; version: number | null; runId: string | null; selection: Selection }) {
  const structure = useStructure(dagId, version);
  const tis = useRunTis(dagId, runId);
  const theme = useAppTheme();
  // null until the user folds or unfolds a group: big DAGs start with their groups folded.
  const [foldedByUser, setFoldedGroups] = useState<Set<string> | null>(null);
  const foldedGroups = useMemo(() => foldedByUser ?? (structure.data ? defaultFolded(structure.data) : new Set<string>()), [foldedByUser, structure.data]);

  const laidOut = useMemo(() => {
    if (!structure.data) return { layout: null, error: null };
    try {
      return { layout: layoutGraph(structure.data, foldedGroups), error: null };
    } catch (error) {
      return { layout: null, error };
    }
  }, [structure.data, foldedGroups]);
  const layout = laidOut.layout;

  const instances = useMemo(() => new Map((tis.data?.task_instances ?? []).map((ti) => [ti.task_id, ti])), [tis.data]);
  const states = useMemo(() => new Map([...instances].map(([id, ti]) => [id, ti.state])), [instances]);

  const nodes = useMemo(() => {
    if (!layout) return [];
    const toggle = (groupId: string) =>
      setFoldedGroups((current) => {
        const next = new Set(current ?? foldedGroups);
        if (next.has(groupId)) next.delete(groupId);
        else next.add(groupId);
        return next;
      });
    const out: Array<TaskNode | GroupNode> = [];
    for (const b of layout.boxes) {
      out.push({
        id: b.id,
        type: "group-box",
        position: { x: b.x, y: b.y },
        style: { width: b.width, height: b.height },
        width: b.width,
        height: b.height,
        zIndex: -10 + b.depth,
        selectable: false,
        data: { label: b.label, groupId: b.groupId, folded: false, members: b.members.length, state: null, toggle },
      });
    }
    for (const f of layout.folded) {
      out.push({
        id: f.id,
        type: "group-folded",
        position: { x: f.x, y: f.y },
        width: f.width,
        height: f.height,
        data: { label: f.label, groupId: f.groupId, folded: true, members: f.members.length, state: groupState(f.members, states), toggle },
      });
    }
    for (const t of layout.tasks) {
      const ti = instances.get(t.taskId);
      out.push({
        id: t.id,
        type: "task",
        position: { x: t.x, y: t.y },
        width: t.width,
        height: t.height,
        data: { label: t.label, taskId: t.taskId, kind: t.kind, state: ti?.state ?? null, tryNumber: ti?.try_number ?? 0, selected: t.taskId === selection.taskId },
      });
    }
    return out;
  }, [layout, foldedGroups, instances, states, selection.taskId]);

  const edges = useMemo<RoutedEdge[]>(() => {
    if (!layout) return [];
    const colours = EDGE_COLOURS[theme];
    const selectedNode = selection.taskId ? `t:${selection.taskId}` : null;
    return layout.edges.map((e) => {
      const touchesSelected = e.source === selectedNode || e.target === selectedNode;
      const colour = touchesSelected ? colours.selected : e.data ? colours.data : colours.order;
      return {
        id: e.id,
        type: "routed",
        source: e.source,
        target: e.target,
        data: { points: e.points },
        zIndex: touchesSelected ? 1 : 0,
        selectable: false,
        style: { stroke: colour, strokeWidth: touchesSelected ? 2.2 : 1.5, strokeDasharray: e.data ? undefined : "6 4" },
        markerEnd: { type: MarkerType.ArrowClosed, color: colour, width: 16, height: 16 },
      };
    });
  }, [layout, theme, selection.taskId]);

  if (structure.isLoading) return <Loading what="the graph" />;
  if (structure.error || !structure.data) return <ErrorBox error={structure.error ?? new Error("no structure")} title="Could not load the DAG's structure" />;
  if (structure.data.tasks.length === 0) return <div className="empty">This DAG has no tasks.</div>;
  if (laidOut.error) return <ErrorBox error={laidOut.error} title="Could not lay out the graph" />;
  const groups = structure.data.groups;
  const topGroups = groups.filter((g) => g.parent === null).map((g) => g.group_id);

  return (
    <>
      {/* The height is inline too: React Flow measures its container on the first render. */}
      <div className="graph-canvas" data-testid="graph" style={{ height: "calc(100vh - 290px)", minHeight: 380 }}>
        <ReactFlow
          key={`${structure.data.version_number}`}
          style={{ width: "100%", height: "100%" }}
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          edgeTypes={edgeTypes}
          colorMode={theme}
          fitView
          fitViewOptions={FIT}
          minZoom={0.1}
          maxZoom={2.5}
          onlyRenderVisibleElements={nodes.length > 300}
          nodesDraggable={false}
          nodesConnectable={false}
          elementsSelectable={false}
          onNodeClick={(_, node) => {
            if (node.type === "task" && runId) selection.select(runId, (node.data as TaskNodeData).taskId);
            if (node.type === "group-folded") (node.data as GroupNodeData).toggle((node.data as GroupNodeData).groupId);
          }}
        >
          <Background gap={18} size={1} />
          <Controls showInteractive={false} />
          <MiniMap pannable zoomable nodeColor={(n) => minimapColour(n)} nodeStrokeWidth={0} />
          <FitOnResize />
        </ReactFlow>
      </div>
      <div className="graph-foot muted">
        <span>
          {runId ? (
            <>
              Graph of version {structure.data.version_number}; colours: task states in run <span className="mono">{runId}</span>. Click a task for its details.
            </>
          ) : (
            <>No runs yet: trigger one to see task states here.</>
          )}
        </span>
        {groups.length > 0 && (
          <span className="graph-fold">
            <button className="link" onClick={() => setFoldedGroups(new Set(topGroups))} disabled={topGroups.every((g) => foldedGroups.has(g)) && foldedGroups.size === topGroups.length}>
              Fold all groups
            </button>
            <button className="link" onClick={() => setFoldedGroups(new Set())} disabled={foldedGroups.size === 0}>
              Unfold all
            </button>
          </span>
        )}
      </div>
    </>
  );
}

const FIT = { padding: 0.15, maxZoom: 1.2 };

/** Fits the graph again when its canvas gets wider or narrower (the side panel opens or closes). */
function FitOnResize() {
  const width = useStore((s) => s.width);
  const { fitView } = useReactFlow();
  const last = useRef(width);
  useEffect(() => {
    if (Math.abs(width - last.current) > 40) void fitView({ ...FIT, duration: 200 });
    last.current = width;
  }, [width, fitView]);
  return null;
}

function minimapColour(node: Node): string {
  if (node.type === "group-box") return "transparent";
  const state = (node.data as { state?: string | null }).state;
  return state ? `var(--s-${state.replace(/[^a-z_]/g, "")})` : "var(--border)";
}
