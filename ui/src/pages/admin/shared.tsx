/** Pieces every admin page uses: the permission gate, the page head, form modals and fields. */
import { useQuery, useQueryClient, type UseQueryResult } from "@tanstack/react-query";
import { useCallback, useState, type FormEvent, type ReactNode } from "react";
import { get } from "../../api/client";
import { useAuth } from "../../auth";
import { Empty, ErrorBox, Loading, Modal, Pager } from "../../components/common";

/** Shows the page only to a role with `permission`; the page's API calls are not made otherwise. */
export function Gate({ permission, children }: { permission: string | null; children: ReactNode }) {
  const { me, can } = useAuth();
  if (permission === null) return <>{children}</>;
  if (!me) return <Loading />;
  if (!can(permission)) return <NotAllowed permission={permission} />;
  return <>{children}</>;
}

export function NotAllowed({ permission }: { permission: string }) {
  return (
    <div className="empty" role="status">
      Your role does not allow this: it needs the permission <code>{permission}</code>.
    </div>
  );
}

const PAGE = 100;

/**
 * The state of a paged admin list: its query (under ["admin", key]), the row being edited or
 * deleted, and a refresh of the list and of the queries in `alsoRefresh`.
 */
export function useAdminList<T, F extends string>(options: { key: string; path: string; field: F; writePermission: string; alsoRefresh?: unknown[][]; refetchInterval?: number }) {
  const { can } = useAuth();
  const client = useQueryClient();
  const [offset, setOffset] = useState(0);
  const [editing, setEditing] = useState<T | "new" | null>(null);
  const [deleting, setDeleting] = useState<T | null>(null);
  // Stable, so an open modal keeps its focus when the list refreshes.
  const closeEditor = useCallback(() => setEditing(null), []);
  const closeDelete = useCallback(() => setDeleting(null), []);
  const key = ["admin", options.key];
  const list = useQuery({
    queryKey: [...key, offset],
    queryFn: () => get<Record<F, T[]> & { total_entries: number }>(options.path, { limit: PAGE, offset }),
    placeholderData: (previous) => previous,
    refetchInterval: options.refetchInterval,
  });
  const refresh = async () => {
    for (const queryKey of [key, ...(options.alsoRefresh ?? [])]) await client.invalidateQueries({ queryKey });
  };
  return { list, items: list.data?.[options.field], offset, setOffset, editing, setEditing, closeEditor, deleting, setDeleting, closeDelete, writable: can(options.writePermission), refresh };
}

/** The card of a paged list (the admin pages, the browse pages): loading, empty, the rows (`children`), and the pager. */
export function ListCard({
  state,
  noun,
  empty,
  children,
}: {
  state: { list: UseQueryResult<{ total_entries: number }>; items: unknown[] | undefined; offset: number; setOffset(n: number): void; limit?: number };
  noun: string;
  empty: ReactNode;
  children: ReactNode;
}) {
  const { list, items, offset, setOffset, limit = PAGE } = state;
  return (
    <>
      <ErrorBox error={list.error} title={`Could not load the ${noun}`} />
      <div className="card">
        {list.isLoading ? <Loading what={noun} /> : items?.length === 0 ? <Empty>{empty}</Empty> : children}
        {list.data && <Pager total={list.data.total_entries} limit={limit} offset={offset} onOffset={setOffset} />}
      </div>
    </>
  );
}

export function AdminHead({ title, count, children }: { title: string; count?: number; children?: ReactNode }) {
  return (
    <div className="page-head">
      <h1>{title}</h1>
      <span className="muted">{count === undefined ? "" : `${count} in all`}</span>
      <span className="grow" />
      {children}
    </div>
  );
}

/**
 * A modal form: submits with Enter or the button, which is disabled while saving or while the
 * form is invalid; the API's error is shown in place and the modal stays open.
 */
export function FormModal({
  title,
  submitLabel,
  invalid,
  wide,
  onSubmit,
  onClose,
  children,
}: {
  title: string;
  submitLabel: string;
  invalid?: boolean;
  wide?: boolean;
  onSubmit(): Promise<unknown>;
  onClose(): void;
  children: ReactNode;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy || invalid) return;
    setBusy(true);
    setError(null);
    try {
      await onSubmit();
      onClose();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Modal title={title} onClose={onClose} wide={wide}>
      <form className="form-grid admin-form" onSubmit={(e) => void submit(e)} noValidate>
        {children}
        <ErrorBox error={error} title="Not saved" />
        <div className="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || invalid}>
            {busy ? "Saving…" : submitLabel}
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function Field({ label, hint, error, children }: { label: ReactNode; hint?: ReactNode; error?: string | null; children: ReactNode }) {
  return (
    // The hint and error sit outside the label, so the field's accessible name is just the label.
    <div>
      <label>
        <span className="label">{label}</span>
        {children}
      </label>
      {hint && <div className="hint">{hint}</div>}
      {error && <div className="field-error">{error}</div>}
    </div>
  );
}

/** "set" or a dash: for write-only values, whose content is never shown. */
export function SetMark({ set }: { set: boolean }) {
  return set ? <span className="tag is-set">set</span> : <span className="muted">—</span>;
}

export function Dash() {
  return <span className="muted">—</span>;
}

/** A text field's value for the API: an empty field clears the value. */
export const orNull = (text: string): string | null => (text.trim() === "" ? null : text.trim());

/** Only the fields that differ from what the server has, so a PATCH names just the changes. */
export function changedFields<T extends Record<string, unknown>>(next: T, current: Partial<Record<keyof T, unknown>>): Partial<T> {
  return Object.fromEntries(Object.entries(next).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(current[k as keyof T] ?? null))) as Partial<T>;
}
