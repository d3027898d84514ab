/**
 * The trigger form: one field per DAG param (its type, default, choices and description), or the
 * conf as raw JSON. Values are checked here as the user types (types, bounds, patterns and JSON
 * Schema formats); the API checks them again. This file loads when the dialog first opens.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { ApiError, post, seg } from "../../api/client";
import type { DagDetail, DagRun, ParamSpec } from "../../api/types";
import { ErrorBox, Modal } from "../../components/common";
import { useTimeZone, wallToMs } from "../../components/time";
import { FORMAT_PLACEHOLDERS, formatProblem } from "./param-formats";

type Kind = "string" | "number" | "integer" | "boolean" | "enum" | "json";

function kindOf(spec: ParamSpec): Kind {
  if (spec.enum && spec.enum.length > 0) return "enum";
  const types = Array.isArray(spec.type) ? spec.type.filter((t) => t !== "null") : spec.type ? [spec.type] : [];
  const t = types.length === 1 ? types[0] : typeof spec.default === "string" ? "string" : typeof spec.default === "number" ? "number" : typeof spec.default === "boolean" ? "boolean" : undefined;
  if (t === "string" || t === "number" || t === "integer" || t === "boolean") return t;
  return "json";
}

const nullable = (spec: ParamSpec) => Array.isArray(spec.type) && spec.type.includes("null");

/** The text a field starts with. */
function initialText(spec: ParamSpec): string {
  const kind = kindOf(spec);
  if (spec.default === undefined) return "";
  if (spec.default === null) return kind === "json" || kind === "enum" ? "null" : "";
  if (kind === "json" || kind === "enum") return JSON.stringify(spec.default);
  return String(spec.default);
}

/** A field's value, or the message that says what is wrong with it. */
function parseField(spec: ParamSpec, text: string): { value?: unknown; error?: string; omit?: boolean } {
  const kind = kindOf(spec);
  // Left empty where the default is null: the param is left out of the conf, so the default applies.
  if (text === "" && spec.default === null) return { omit: true };
  if (text === "" && kind !== "string" && kind !== "boolean") {
    if (spec.default === undefined) return { omit: true };
    return nullable(spec) ? { value: null } : { error: "a value is needed" };
  }
  switch (kind) {
    case "boolean":
      return { value: text === "true" };
    case "enum":
      return { value: JSON.parse(text) as unknown };
    case "number":
    case "integer": {
      const n = Number(text);
      if (!Number.isFinite(n)) return { error: "not a number" };
      if (kind === "integer" && !Number.isInteger(n)) return { error: "must be a whole number" };
      if (spec.minimum !== undefined && n < spec.minimum) return { error: `at least ${spec.minimum}` };
      if (spec.maximum !== undefined && n > spec.maximum) return { error: `at most ${spec.maximum}` };
      const problem = formatProblem(spec.format, n);
      return problem ? { error: problem } : { value: n };
    }
    case "string": {
      if (spec.minLength !== undefined && text.length < spec.minLength) return { error: `at least ${spec.minLength} characters` };
      if (spec.maxLength !== undefined && text.length > spec.maxLength) return { error: `at most ${spec.maxLength} characters` };
      if (spec.pattern !== undefined) {
        try {
          if (!new RegExp(spec.pattern, "u").test(text)) return { error: `must match ${spec.pattern}` };
        } catch {
          // a pattern the browser cannot read is left to the API
        }
      }
      const problem = formatProblem(spec.format, text);
      return problem ? { error: problem } : { value: text };
    }
    default:
      try {
        return { value: JSON.parse(text) as unknown };
      } catch {
        return { error: "not valid JSON" };
      }
  }
}

export function TriggerDialog({ dag, onClose, onTriggered }: { dag: DagDetail; onClose(): void; onTriggered(runId: string): void }) {
  const params = Object.entries(dag.params);
  const [texts, setTexts] = useState<Record<string, string>>(() => Object.fromEntries(params.map(([name, spec]) => [name, initialText(spec)])));
  const [rawMode, setRawMode] = useState(params.length === 0);
  const [raw, setRaw] = useState("{}");
  const [runId, setRunId] = useState("");
  const [logicalDate, setLogicalDate] = useState("");
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const client = useQueryClient();
  const zone = useTimeZone(dag.timezone);

  const fields = useMemo(() => Object.fromEntries(params.map(([name, spec]) => [name, parseField(spec, texts[name] ?? "")])), [params, texts]);
  const formConf = Object.fromEntries(Object.entries(fields).flatMap(([name, f]) => (f.omit || f.error ? [] : [[name, f.value]])));
  let rawError: string | null = null;
  let rawConf: unknown = {};
  if (rawMode) {
    try {
      rawConf = JSON.parse(raw || "{}") as unknown;
      if (rawConf === null || typeof rawConf !== "object" || Array.isArray(rawConf)) rawError = "the conf must be a JSON object";
    } catch (e) {
      rawError = `not valid JSON: ${(e as Error).message}`;
    }
  }
  const invalid = rawMode ? rawError !== null : Object.values(fields).some((f) => f.error);

  async function submit() {
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { conf: rawMode ? rawConf : formConf };
      if (runId.trim()) body.dag_run_id = runId.trim();
      const at = logicalDate ? wallToMs(logicalDate, zone) : null;
      if (at !== null) body.logical_date = new Date(at).toISOString();
      if (note.trim()) body.note = note.trim();
      const run = await post<DagRun>(`/dags/${seg(dag.dag_id)}/dagRuns`, body);
      await client.invalidateQueries({ queryKey: ["dags"] });
      await client.invalidateQueries({ queryKey: ["grid", dag.dag_id] });
      await client.invalidateQueries({ queryKey: ["runs", dag.dag_id] });
      onTriggered(run.dag_run_id);
      onClose();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  const problems = error instanceof ApiError && Array.isArray(error.details) ? (error.details as unknown[]).map(String) : [];

  return (
    <Modal title={`Trigger ${dag.dag_id}`} onClose={onClose} wide>
      {dag.is_paused && <div className="banner">This DAG is paused: the run is created now and starts when the DAG is unpaused.</div>}
      <div className="toolbar">
        <button className={rawMode ? "" : "primary"} onClick={() => setRawMode(false)} disabled={params.length === 0}>
          Params form
        </button>
        <button
          className={rawMode ? "primary" : ""}
          onClick={() => {
            setRaw(JSON.stringify(formConf, null, 2));
            setRawMode(true);
          }}
        >
          Raw conf JSON
        </button>
      </div>
      <div className="form-grid">
        {!rawMode &&
          params.map(([name, spec]) => {
            const kind = kindOf(spec);
            const text = texts[name] ?? "";
            const set = (value: string) => setTexts((t) => ({ ...t, [name]: value }));
            const id = `param-${name}`;
            return (
              <div key={name}>
                <label htmlFor={id}>
                  <span className="label">
                    {spec.title ?? name} <span className="muted mono" style={{ fontWeight: 400 }}>{spec.title ? name : ""} {Array.isArray(spec.type) ? spec.type.join(" | ") : (spec.type ?? "")}
                      {spec.format ? ` · ${spec.format}` : ""}
                    </span>
                  </span>
                </label>
                {kind === "boolean" ? (
                  <input id={id} type="checkbox" checked={text === "true"} onChange={(e) => set(String(e.target.checked))} />
                ) : kind === "enum" ? (
                  <select id={id} value={text} onChange={(e) => set(e.target.value)}>
                    {spec.default === undefined && <option value="">—</option>}
                    {spec.enum!.map((v) => (
                      <option key={JSON.stringify(v)} value={JSON.stringify(v)}>
                        {typeof v === "string" ? v : JSON.stringify(v)}
                      </option>
                    ))}
                  </select>
                ) : kind === "json" ? (
                  <textarea id={id} rows={3} style={{ width: "100%" }} value={text} onChange={(e) => set(e.target.value)} />
                ) : (
                  <input
                    id={id}
                    type={kind === "string" ? "text" : "number"}
                    step={kind === "integer" ? 1 : "any"}
                    min={spec.minimum}
                    max={spec.maximum}
                    placeholder={spec.format ? FORMAT_PLACEHOLDERS[spec.format] : undefined}
                    value={text}
                    onChange={(e) => set(e.target.value)}
                    style={{ width: "100%" }}
                  />
                )}
                {spec.description && <div className="hint">{spec.description}</div>}
                {fields[name]?.error && <div className="field-error">{fields[name].error}</div>}
              </div>
            );
          })}
        {rawMode && (
          <label>
            <span className="label">Conf (JSON object)</span>
            <textarea aria-label="Conf JSON" rows={10} style={{ width: "100%" }} value={raw} onChange={(e) => setRaw(e.target.value)} />
            {rawError && <div className="field-error">{rawError}</div>}
          </label>
        )}
        <details>
          <summary>Run id, logical date and note</summary>
          <div className="form-grid" style={{ marginTop: 10 }}>
            <label>
              <span className="label">Run id (optional)</span>
              <input value={runId} onChange={(e) => setRunId(e.target.value)} placeholder="manual__<logical date>" style={{ width: "100%" }} />
            </label>
            <label>
              <span className="label">
                Logical date (optional, in {zone})
              </span>
              <input type="datetime-local" step={1} value={logicalDate} onChange={(e) => setLogicalDate(e.target.value)} />
            </label>
            <label>
              <span className="label">Note (optional)</span>
              <input value={note} onChange={(e) => setNote(e.target.value)} maxLength={1000} style={{ width: "100%" }} />
            </label>
          </div>
        </details>
      </div>
      <ErrorBox error={error} title="The run was not created" />
      {problems.length > 0 && (
        <ul className="field-error">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
      <div className="actions">
        <button onClick={onClose}>Cancel</button>
        <button className="primary" disabled={busy || invalid} onClick={() => void submit()} data-testid="trigger-submit">
          {busy ? "Triggering…" : "Trigger"}
        </button>
      </div>
    </Modal>
  );
}
