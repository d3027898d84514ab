/** Pools: how many task-instance slots run at once, and how they are used right now. */
import { useState } from "react";
import { del, patch, post, seg } from "../../api/client";
import type { Pool } from "../../api/types";
import { Confirm } from "../../components/common";
import { AdminHead, ListCard, useAdminList, Field, FormModal, orNull } from "./shared";

const DEFAULT_POOL = "default_pool";

export function Pools() {
  // Slot usage changes as tasks run, and no live event names pools.
  const page = useAdminList<Pool, "pools">({ key: "pools", path: "/pools", field: "pools", writePermission: "pools:write", refetchInterval: 5000 });
  const { list, editing, setEditing, closeEditor, deleting, setDeleting, closeDelete, writable, refresh } = page;

  return (
    <div>
      <AdminHead title="Pools" count={list.data?.total_entries}>
        {writable && (
          <button className="primary" onClick={() => setEditing("new")}>
            + Add pool
          </button>
        )}
      </AdminHead>
      <ListCard state={page} noun="pools" empty={<>No pools.</>}>
        <div className="table-scroll">
          <table className="table" data-testid="pools-table">
            <thead>
              <tr>
                <th>Pool</th>
                <th className="num">Slots</th>
                <th>Usage</th>
                <th className="num">Occupied</th>
                <th className="num">Running</th>
                <th className="num">Queued</th>
                <th className="num">Open</th>
                <th>Description</th>
                {writable && <th className="row-actions-head"></th>}
              </tr>
            </thead>
            <tbody>
              {page.items?.map((p) => (
                <tr key={p.name}>
                  <td className="mono strong">{p.name}</td>
                  <td className="num">{p.slots}</td>
                  <td>
                    <SlotBar pool={p} />
                  </td>
                  <td className="num">{p.occupied_slots}</td>
                  <td className="num">{p.running_slots}</td>
                  <td className="num">{p.queued_slots}</td>
                  <td className="num">{p.open_slots}</td>
                  <td className="muted wrap">{p.description ?? ""}</td>
                  {writable && (
                    <td className="row-actions">
                      <button onClick={() => setEditing(p)}>Edit</button>
                      {p.name === DEFAULT_POOL ? (
                        <button className="danger-outline" disabled title="default_pool cannot be deleted; change its slots instead">
                          Delete
                        </button>
                      ) : (
                        <button className="danger-outline" onClick={() => setDeleting(p)}>
                          Delete
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </ListCard>
      {editing && <PoolForm pool={editing === "new" ? null : editing} onClose={closeEditor} onSaved={refresh} />}
      {deleting && (
        <Confirm
          title="Delete pool"
          confirmLabel="Delete"
          danger
          onClose={closeDelete}
          onConfirm={async () => {
            await del(`/pools/${seg(deleting.name)}`);
            await refresh();
          }}
        >
          Delete the pool <strong className="mono">{deleting.name}</strong>? Tasks that name it will wait until a pool of that name exists again.
        </Confirm>
      )}
    </div>
  );
}

/** Running and queued slots as parts of the pool's size. */
function SlotBar({ pool }: { pool: Pool }) {
  const size = Math.max(pool.slots, pool.occupied_slots, 1);
  const pct = (n: number) => `${(100 * n) / size}%`;
  return (
    <div className="slot-bar" title={`${pool.running_slots} running, ${pool.queued_slots} queued, ${pool.open_slots} open of ${pool.slots}`} aria-hidden="true">
      <span className="state-running" style={{ width: pct(pool.running_slots) }} />
      <span className="state-queued" style={{ width: pct(pool.queued_slots) }} />
    </div>
  );
}

function slotsProblem(text: string): string | null {
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n < 0 || n > 1_000_000) return "a whole number from 0 to 1000000";
  return null;
}

function PoolForm({ pool, onClose, onSaved }: { pool: Pool | null; onClose(): void; onSaved(): Promise<unknown> }) {
  const creating = pool === null;
  const [name, setName] = useState("");
  const [slots, setSlots] = useState(pool ? String(pool.slots) : "8");
  const [description, setDescription] = useState(pool?.description ?? "");
  const slotsError = slotsProblem(slots);
  const invalid = (creating && name.trim() === "") || slotsError !== null;

  async function save() {
    if (creating) {
      await post<Pool>("/pools", { name: name.trim(), slots: Number(slots), description: orNull(description) });
    } else {
      const body: { slots?: number; description?: string | null } = {};
      if (Number(slots) !== pool.slots) body.slots = Number(slots);
      if (orNull(description) !== pool.description) body.description = orNull(description);
      if (Object.keys(body).length > 0) await patch<Pool>(`/pools/${seg(pool.name)}`, body);
    }
    await onSaved();
  }

  return (
    <FormModal title={creating ? "Add pool" : `Edit pool ${pool.name}`} submitLabel={creating ? "Add" : "Save"} invalid={invalid} onSubmit={save} onClose={onClose}>
      {creating && (
        <Field label="Name" hint="Tasks name their pool with the pool argument.">
          <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
        </Field>
      )}
      <Field label="Slots" hint="How many slots the pool's task instances may take at once; 0 holds every task of the pool." error={slotsError}>
        <input type="number" min={0} max={1_000_000} step={1} value={slots} onChange={(e) => setSlots(e.target.value)} />
      </Field>
      <Field label="Description">
        <input value={description} onChange={(e) => setDescription(e.target.value)} autoComplete="off" />
      </Field>
    </FormModal>
  );
}
