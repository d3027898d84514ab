/**
 * Everything about a DAG that is not a run: schedule, limits, params, its tasks and its
 * documentation. The documentation is Markdown from the DAG's author: raw HTML in it is shown as
 * text (react-markdown without rehype-raw), and links may only go to http(s) or relative URLs.
 */
import Markdown, { defaultUrlTransform, type Components } from "react-markdown";
import type { DagDetail, ParamSpec, StructureTask } from "../../api/types";
import { ErrorBox, Loading, formatDuration } from "../../components/common";
import { Time } from "../../components/time";
import { scheduleInWords } from "../DagList";
import { useDagTasks } from "./hooks";
import "./tabs.css";

/** Only http(s) and relative URLs survive; anything else (javascript:, data:, mailto:, …) is dropped. */
function safeUrl(url: string): string {
  const kept = defaultUrlTransform(url);
  // "//host/…" (and "\\host") leave the site while looking relative.
  if (!kept || /^[\\/]{2}/.test(kept)) return "";
  const colon = kept.indexOf(":");
  const firstDelimiter = Math.min(...["/", "?", "#"].map((c) => (kept.includes(c) ? kept.indexOf(c) : Infinity)));
  if (colon === -1 || colon > firstDelimiter) return kept;
  return /^https?$/i.test(kept.slice(0, colon)) ? kept : "";
}

const markdownComponents: Components = {
  a: ({ href, children }) => {
    if (!href) return <span>{children}</span>;
    const external = /^https?:/i.test(href);
    return (
      <a href={href} {...(external ? { target: "_blank", rel: "noopener noreferrer nofollow" } : {})}>
        {children}
      </a>
    );
  },
};

const yesNo = (b: boolean) => (b ? "yes" : "no");
const json = (value: unknown) => (value === undefined ? "—" : JSON.stringify(value));

export function DetailsTab({ dag }: { dag: DagDetail }) {
  const params = Object.entries(dag.params ?? {});
  return (
    <div className="details" data-testid="details">
      <section className="card pad">
        <h3>About</h3>
        <dl className="kv">
          <dt>Schedule</dt>
          <dd>
            {scheduleInWords(dag)}
            {dag.schedule !== null && dag.schedule !== undefined && <div className="muted mono">{typeof dag.schedule === "string" ? dag.schedule : JSON.stringify(dag.schedule)}</div>}
          </dd>
          <dt>Time zone</dt>
          <dd>{dag.timezone}</dd>
          <dt>Start date</dt>
          <dd>
            <Time iso={dag.start_date} />
          </dd>
          <dt>End date</dt>
          <dd>{dag.end_date ? <Time iso={dag.end_date} /> : "none"}</dd>
          <dt>Catchup</dt>
          <dd>{yesNo(dag.catchup)}</dd>
          <dt>Max active runs</dt>
          <dd>{dag.max_active_runs}</dd>
          <dt>Max active tasks</dt>
          <dd>{dag.max_active_tasks}</dd>
          <dt>Owner</dt>
          <dd>{dag.owner}</dd>
          <dt>Tags</dt>
          <dd>
            {dag.tags.length === 0
              ? "none"
              : dag.tags.map((t) => (
                  <span key={t} className="tag static">
                    {t}
                  </span>
                ))}
          </dd>
          <dt>File</dt>
          <dd className="mono">{dag.fileloc}</dd>
          <dt>Latest version</dt>
          <dd>{dag.latest_version !== null ? `v${dag.latest_version}` : "none"}</dd>
          <dt>State</dt>
          <dd>
            {dag.is_paused ? "paused" : "active"}
            {!dag.is_active && " · no longer in the DAGs folder"}
            {dag.has_import_errors && " · its file has import errors"}
          </dd>
          <dt>Next run</dt>
          <dd>
            {dag.next_dagrun_create_after ? (
              <>
                <Time iso={dag.next_dagrun_create_after} />
                {dag.is_paused && <span className="muted"> (once unpaused)</span>}
              </>
            ) : (
              "none scheduled"
            )}
          </dd>
          <dt>Next data interval</dt>
          <dd>
            {dag.next_dagrun_data_interval_start ? (
              <>
                <Time iso={dag.next_dagrun_data_interval_start} /> → <Time iso={dag.next_dagrun_data_interval_end} />
              </>
            ) : (
              "—"
            )}
          </dd>
        </dl>
      </section>

      <section className="card pad">
        <h3>Params</h3>
        {params.length === 0 ? <p className="muted">This DAG takes no params.</p> : <ParamsTable params={params} />}
      </section>

      {dag.doc_md && (
        <section className="card pad">
          <h3>Documentation</h3>
          <div className="markdown" data-testid="doc-md">
            <Markdown urlTransform={safeUrl} components={markdownComponents}>
              {dag.doc_md}
            </Markdown>
          </div>
        </section>
      )}

      <section className="card pad">
        <h3>Tasks</h3>
        <TaskTable dagId={dag.dag_id} />
      </section>
    </div>
  );
}

function typeOf(spec: ParamSpec): string {
  const type = Array.isArray(spec.type) ? spec.type.join(" | ") : (spec.type ?? "any");
  const rules: string[] = [];
  if (spec.minimum !== undefined) rules.push(`≥ ${spec.minimum}`);
  if (spec.maximum !== undefined) rules.push(`≤ ${spec.maximum}`);
  if (spec.minLength !== undefined) rules.push(`length ≥ ${spec.minLength}`);
  if (spec.maxLength !== undefined) rules.push(`length ≤ ${spec.maxLength}`);
  if (spec.format) rules.push(`format ${spec.format}`);
  if (spec.pattern) rules.push(`matches ${spec.pattern}`);
  if (spec.items?.type) rules.push(`of ${Array.isArray(spec.items.type) ? spec.items.type.join(" | ") : spec.items.type}`);
  return rules.length ? `${type}, ${rules.join(", ")}` : type;
}

function ParamsTable({ params }: { params: Array<[string, ParamSpec]> }) {
  return (
    <div className="table-scroll">
      <table className="table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Type</th>
            <th>Default</th>
            <th>Allowed values</th>
            <th>Description</th>
          </tr>
        </thead>
        <tbody>
          {params.map(([name, spec]) => (
            <tr key={name}>
              <td className="mono">{name}</td>
              <td>{typeOf(spec)}</td>
              <td>
                <code className="wrap">{json(spec.default)}</code>
              </td>
              <td>{spec.enum ? <code className="wrap">{spec.enum.map((v) => JSON.stringify(v)).join(", ")}</code> : <span className="muted">any</span>}</td>
              <td>
                {spec.title && <strong>{spec.title}</strong>}
                {spec.title && spec.description && " — "}
                {spec.description ?? (spec.title ? null : <span className="muted">—</span>)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function retriesOf(t: StructureTask): string {
  if (t.retries === 0) return "none";
  const delay = formatDuration(t.retry_delay_ms);
  if (t.retry_backoff !== "exponential") return `${t.retries} (${delay} apart)`;
  const factor = t.retry_backoff_multiplier ?? 2;
  return `${t.retries} (from ${delay}, ${factor === 2 ? "doubling" : `×${factor}`} per try)`;
}

function TaskTable({ dagId }: { dagId: string }) {
  const tasks = useDagTasks(dagId);
  if (tasks.isLoading) return <Loading what="the tasks" />;
  if (tasks.error || !tasks.data) return <ErrorBox error={tasks.error ?? new Error("no tasks")} title="Could not load the tasks" />;
  if (tasks.data.tasks.length === 0) return <p className="muted">This DAG has no tasks.</p>;
  return (
    <div className="table-scroll">
      <table className="table" data-testid="task-list">
        <thead>
          <tr>
            <th>Task</th>
            <th>Kind</th>
            <th>Trigger rule</th>
            <th>Retries</th>
            <th>Timeout</th>
            <th>Pool</th>
            <th>Priority</th>
          </tr>
        </thead>
        <tbody>
          {tasks.data.tasks.map((t) => (
            <tr key={t.task_id}>
              <td className="mono" title={t.doc ?? undefined}>
                {t.task_id}
              </td>
              <td>{t.kind}</td>
              <td className="mono">{t.trigger_rule}</td>
              <td>{retriesOf(t)}</td>
              <td>{t.execution_timeout_ms !== null ? formatDuration(t.execution_timeout_ms) : "none"}</td>
              <td>
                {t.pool}
                {t.pool_slots > 1 && <span className="muted"> ({t.pool_slots} slots)</span>}
              </td>
              <td>{t.priority_weight}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
