/** Small building blocks shared by every page. Text is always rendered as text, never as HTML. */
import { useEffect, useRef, useState, type ReactNode } from "react";
import { createPortal } from "react-dom";
import { ApiError } from "../api/client";

export const STATES = ["success", "running", "failed", "queued", "scheduled", "up_for_retry", "upstream_failed", "skipped", "removed", "deferred", "none"] as const;

export function stateClass(state: string | null | undefined): string {
  return `state-${(state ?? "none").replace(/[^a-z_]/g, "")}`;
}

export function StateBadge({ state }: { state: string | null | undefined }) {
  return <span className={`badge ${stateClass(state)}`}>{(state ?? "no status").replace(/_/g, " ")}</span>;
}

export function StateDot({ state, title }: { state: string | null | undefined; title?: string }) {
  return <span className={`dot ${stateClass(state)}`} title={title ?? state ?? "no status"} aria-label={title ?? state ?? "no status"} />;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function durationBetween(start: string | null | undefined, end: string | null | undefined, now = Date.now()): number | null {
  if (!start) return null;
  return (end ? Date.parse(end) : now) - Date.parse(start);
}

export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const e = error instanceof ApiError ? error : null;
  return (
    <div className="error-box" role="alert">
      <strong>{title ?? "Something went wrong"}</strong>
      <div>{error instanceof Error ? error.message : String(error)}</div>
      {e?.hint && <div className="hint">{e.hint}</div>}
      {e && <code className="muted">{e.code}</code>}
    </div>
  );
}

export function Loading({ what }: { what?: string }) {
  return <div className="loading">Loading{what ? ` ${what}` : ""}…</div>;
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

/** A dialog over the page: `wide` for forms with much in them, `full` for the whole window (a log). */
export function Modal({ title, onClose, children, wide, full }: { title: string; onClose(): void; children: ReactNode; wide?: boolean; full?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  // The latest onClose, so a new function on every render neither re-runs the effect nor moves focus.
  const close = useRef(onClose);
  useEffect(() => {
    close.current = onClose;
  });
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && close.current();
    window.addEventListener("keydown", onKey);
    ref.current?.querySelector<HTMLElement>("input, select, textarea, button")?.focus();
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  // In <body>, so no stacking context of the page it was opened from can cover it.
  return createPortal(
    <div className={`modal-backdrop${full ? " full" : ""}`} onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className={`modal${wide ? " wide" : ""}${full ? " full" : ""}`} role="dialog" aria-modal="true" aria-label={title} ref={ref}>
        <header>
          <h2>{title}</h2>
          <button className="icon" onClick={onClose} aria-label="Close">
            ×
          </button>
        </header>
        <div className="modal-body">{children}</div>
      </div>
    </div>,
    document.body,
  );
}

/** A yes/no question; `busy` while the action runs, its error shown in place. */
export function Confirm({
  title,
  children,
  confirmLabel,
  danger,
  onConfirm,
  onClose,
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm(): Promise<unknown>;
  onClose(): void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  return (
    <Modal title={title} onClose={onClose}>
      {children}
      <ErrorBox error={error} />
      <div className="actions">
        <button onClick={onClose}>Cancel</button>
        <button
          className={danger ? "danger" : "primary"}
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            setError(null);
            try {
              await onConfirm();
              onClose();
            } catch (e) {
              setError(e);
            } finally {
              setBusy(false);
            }
          }}
        >
          {busy ? "Working…" : confirmLabel}
        </button>
      </div>
    </Modal>
  );
}

export function JsonView({ value }: { value: unknown }) {
  return <pre className="json">{JSON.stringify(value, null, 2)}</pre>;
}

export function Pager({ total, limit, offset, onOffset }: { total: number; limit: number; offset: number; onOffset(n: number): void }) {
  if (total <= limit && offset === 0) return null;
  return (
    <div className="pager">
      <button disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - limit))}>
        ‹ Previous
      </button>
      <span>
        {offset + 1}–{Math.min(total, offset + limit)} of {total}
      </span>
      <button disabled={offset + limit >= total} onClick={() => onOffset(offset + limit)}>
        Next ›
      </button>
    </div>
  );
}

/** A set of open rows (expanded details), with a toggle for one. */
export function useOpenSet<K>(): [ReadonlySet<K>, (key: K) => void] {
  const [open, setOpen] = useState<Set<K>>(new Set());
  const toggle = (key: K) =>
    setOpen((current) => {
      const next = new Set(current);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });
  return [open, toggle];
}

