/** Variables: key/value settings tasks read. Secret values are write-only and come back as "***". */
import { useState } from "react";
import { del, patch, post, seg } from "../../api/client";
import type { Variable } from "../../api/types";
import { Confirm } from "../../components/common";
import { AdminHead, ListCard, useAdminList, Field, FormModal, orNull } from "./shared";


/** Key parts that make a variable secret whatever is_secret says (as the server decides). */
const SENSITIVE_PARTS = ["password", "passwd", "secret", "token", "api_key", "apikey", "private_key", "passphrase", "credential", "authorization", "keyfile_dict", "service_account"];
const secretByKey = (key: string) => SENSITIVE_PARTS.some((part) => key.toLowerCase().includes(part));

export function Variables() {
  const page = useAdminList<Variable, "variables">({ key: "variables", path: "/variables", field: "variables", writePermission: "variables:write" });
  const { list, editing, setEditing, closeEditor, deleting, setDeleting, closeDelete, writable, refresh } = page;

  return (
    <div>
      <AdminHead title="Variables" count={list.data?.total_entries}>
        {writable && (
          <button className="primary" onClick={() => setEditing("new")}>
            + Add variable
          </button>
        )}
      </AdminHead>
      <ListCard state={page} noun="variables" empty={<>No variables yet. Variables hold settings that tasks read at run time.</>}>
        <div className="table-scroll">
          <table className="table" data-testid="variables-table">
            <thead>
              <tr>
                <th>Key</th>
                <th>Value</th>
                <th>Secret</th>
                <th>Description</th>
                {writable && <th className="row-actions-head"></th>}
              </tr>
            </thead>
            <tbody>
              {page.items?.map((v) => (
                <tr key={v.key}>
                  <td className="mono strong">{v.key}</td>
                  <td className="value-cell">{v.is_secret ? <span className="muted mono" title="Secret values are write-only">***</span> : <span className="mono clamp" title={v.value}>{v.value}</span>}</td>
                  <td>{v.is_secret ? <span className="tag static">secret</span> : <span className="muted">—</span>}</td>
                  <td className="muted wrap">{v.description ?? ""}</td>
                  {writable && (
                    <td className="row-actions">
                      <button onClick={() => setEditing(v)}>Edit</button>
                      <button className="danger-outline" onClick={() => setDeleting(v)}>
                        Delete
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </ListCard>
      {editing && <VariableForm variable={editing === "new" ? null : editing} onClose={closeEditor} onSaved={refresh} />}
      {deleting && (
        <Confirm
          title="Delete variable"
          confirmLabel="Delete"
          danger
          onClose={closeDelete}
          onConfirm={async () => {
            await del(`/variables/${seg(deleting.key)}`);
            await refresh();
          }}
        >
          Delete the variable <strong className="mono">{deleting.key}</strong>?
        </Confirm>
      )}
    </div>
  );
}

function VariableForm({ variable, onClose, onSaved }: { variable: Variable | null; onClose(): void; onSaved(): Promise<unknown> }) {
  const creating = variable === null;
  const wasSecret = variable?.is_secret ?? false;
  const [key, setKey] = useState("");
  // A secret value is never shown: its field starts empty and an empty field keeps it.
  const [value, setValue] = useState(wasSecret ? "" : (variable?.value ?? ""));
  const [isSecret, setIsSecret] = useState(wasSecret);
  const [description, setDescription] = useState(variable?.description ?? "");

  const effectiveKey = creating ? key : variable.key;
  const forcedSecret = secretByKey(effectiveKey);
  const needsValue = wasSecret && !isSecret && value === "";
  const invalid = (creating && key.trim() === "") || needsValue;

  async function save() {
    if (creating) {
      await post<Variable>("/variables", { key: key.trim(), value, is_secret: isSecret, description: orNull(description) });
    } else {
      const body: { value?: string; is_secret?: boolean; description?: string | null } = {};
      if (wasSecret ? value !== "" : value !== variable.value) body.value = value;
      if (isSecret !== wasSecret) body.is_secret = isSecret;
      if (orNull(description) !== variable.description) body.description = orNull(description);
      if (Object.keys(body).length > 0) await patch<Variable>(`/variables/${seg(variable.key)}`, body);
    }
    await onSaved();
  }

  return (
    <FormModal title={creating ? "Add variable" : `Edit variable ${variable.key}`} submitLabel={creating ? "Add" : "Save"} invalid={invalid} onSubmit={save} onClose={onClose} wide>
      {creating && (
        <Field label="Key" hint='Letters, digits, "_", "." and "-".'>
          <input value={key} onChange={(e) => setKey(e.target.value)} autoComplete="off" />
        </Field>
      )}
      <Field
        label="Value"
        hint={wasSecret ? "Secret: the stored value is never shown. Leave this empty to keep it, or type a new one." : undefined}
        error={needsValue ? "making a secret variable plain needs a new value" : null}
      >
        <textarea rows={5} value={value} onChange={(e) => setValue(e.target.value)} placeholder={wasSecret ? "unchanged" : ""} spellCheck={false} />
      </Field>
      <label className="inline">
        <input type="checkbox" checked={isSecret || forcedSecret} disabled={forcedSecret} onChange={(e) => setIsSecret(e.target.checked)} /> Secret (stored encrypted; the value is never shown again)
      </label>
      {forcedSecret && <div className="hint">The key names a secret (it contains “password”, “token”, “secret”, …), so the variable is secret whatever this box says.</div>}
      <Field label="Description">
        <input value={description} onChange={(e) => setDescription(e.target.value)} autoComplete="off" />
      </Field>
    </FormModal>
  );
}
