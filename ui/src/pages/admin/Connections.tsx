/** Connections: how tasks reach other systems. The password and the extra are write-only. */
import { useState, type ReactNode } from "react";
import { del, patch, post, seg } from "../../api/client";
import type { Connection } from "../../api/types";
import { Confirm } from "../../components/common";
import { AdminHead, ListCard, useAdminList, Dash, Field, FormModal, SetMark, changedFields, orNull } from "./shared";


export function Connections() {
  const page = useAdminList<Connection, "connections">({ key: "connections", path: "/connections", field: "connections", writePermission: "connections:write" });
  const { list, editing, setEditing, closeEditor, deleting, setDeleting, closeDelete, writable, refresh } = page;

  return (
    <div>
      <AdminHead title="Connections" count={list.data?.total_entries}>
        {writable && (
          <button className="primary" onClick={() => setEditing("new")}>
            + Add connection
          </button>
        )}
      </AdminHead>
      <ListCard state={page} noun="connections" empty={<>No connections yet. A connection holds the host, login and secrets a task needs to reach another system.</>}>
        <div className="table-scroll">
          <table className="table" data-testid="connections-table">
            <thead>
              <tr>
                <th>Connection id</th>
                <th>Type</th>
                <th>Host</th>
                <th>Port</th>
                <th>Login</th>
                <th>Schema</th>
                <th>Password</th>
                <th>Extra</th>
                <th>Description</th>
                {writable && <th className="row-actions-head"></th>}
              </tr>
            </thead>
            <tbody>
              {page.items?.map((c) => (
                <tr key={c.connection_id}>
                  <td className="mono strong">{c.connection_id}</td>
                  <td>
                    <span className="tag static">{c.conn_type}</span>
                  </td>
                  <td className="wrap">{c.host === null ? <Dash /> : <span className="mono">{c.host}</span>}</td>
                  <td>{c.port === null ? <Dash /> : <span className="mono">{c.port}</span>}</td>
                  <td>{c.login ?? <Dash />}</td>
                  <td>{c.schema ?? <Dash />}</td>
                  <td>
                    <SetMark set={c.password_set} />
                  </td>
                  <td>
                    <SetMark set={c.extra_set} />
                  </td>
                  <td className="muted wrap">{c.description ?? ""}</td>
                  {writable && (
                    <td className="row-actions">
                      <button onClick={() => setEditing(c)}>Edit</button>
                      <button className="danger-outline" onClick={() => setDeleting(c)}>
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
      {editing && <ConnectionForm connection={editing === "new" ? null : editing} onClose={closeEditor} onSaved={refresh} />}
      {deleting && (
        <Confirm
          title="Delete connection"
          confirmLabel="Delete"
          danger
          onClose={closeDelete}
          onConfirm={async () => {
            await del(`/connections/${seg(deleting.connection_id)}`);
            await refresh();
          }}
        >
          Delete the connection <strong className="mono">{deleting.connection_id}</strong>? Tasks that use it will fail until it is made again.
        </Confirm>
      )}
    </div>
  );
}

/** What to do with a write-only secret on save. */
type SecretAction = "keep" | "replace" | "clear";

function extraProblem(text: string): string | null {
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== "object" || Array.isArray(value)) return 'the extra must be a JSON object, e.g. {"region": "eu-west-1"}';
    return null;
  } catch (e) {
    return `not valid JSON: ${(e as Error).message}`;
  }
}

function portProblem(text: string): string | null {
  if (text.trim() === "") return null;
  const n = Number(text);
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? null : "a whole number from 0 to 65535";
}

function ConnectionForm({ connection, onClose, onSaved }: { connection: Connection | null; onClose(): void; onSaved(): Promise<unknown> }) {
  const creating = connection === null;
  const [id, setId] = useState("");
  const [type, setType] = useState(connection?.conn_type ?? "");
  const [host, setHost] = useState(connection?.host ?? "");
  const [port, setPort] = useState(connection?.port === null || connection?.port === undefined ? "" : String(connection.port));
  const [login, setLogin] = useState(connection?.login ?? "");
  const [schema, setSchema] = useState(connection?.schema ?? "");
  const [description, setDescription] = useState(connection?.description ?? "");
  // The secrets start empty: the server never returns them, and an untouched field keeps them.
  const [password, setPassword] = useState("");
  const [passwordAction, setPasswordAction] = useState<SecretAction>(creating ? "replace" : "keep");
  const [extra, setExtra] = useState("");
  const [extraAction, setExtraAction] = useState<SecretAction>(creating ? "replace" : "keep");

  const extraError = extraAction === "replace" && extra.trim() !== "" ? extraProblem(extra) : null;
  // Replacing a stored secret needs the new value; until it is typed, Save stays disabled.
  const extraMissing = !creating && extraAction === "replace" && extra.trim() === "";
  const passwordMissing = !creating && passwordAction === "replace" && password === "";
  const portError = portProblem(port);
  const invalid = (creating && id.trim() === "") || type.trim() === "" || portError !== null || extraError !== null || extraMissing || passwordMissing;

  async function save() {
    const fields = {
      conn_type: type.trim(),
      host: orNull(host),
      port: port.trim() === "" ? null : Number(port),
      login: orNull(login),
      schema: orNull(schema),
      description: orNull(description),
    };
    const secrets: { password?: string | null; extra?: string | null } = {};
    if (passwordAction === "clear") secrets.password = null;
    if (passwordAction === "replace" && password !== "") secrets.password = password;
    if (extraAction === "clear") secrets.extra = null;
    if (extraAction === "replace" && extra.trim() !== "") secrets.extra = extra;
    if (creating) {
      await post<Connection>("/connections", { connection_id: id.trim(), ...fields, ...secrets });
    } else {
      const body = { ...changedFields(fields, connection), ...secrets };
      if (Object.keys(body).length > 0) await patch<Connection>(`/connections/${seg(connection.connection_id)}`, body);
    }
    await onSaved();
  }

  return (
    <FormModal title={creating ? "Add connection" : `Edit connection ${connection.connection_id}`} submitLabel={creating ? "Add" : "Save"} invalid={invalid} onSubmit={save} onClose={onClose} wide>
      <div className="form-row">
        {creating ? (
          <Field label="Connection id" hint='Letters, digits, "_", "." and "-". Tasks name the connection by it.'>
            <input value={id} onChange={(e) => setId(e.target.value)} required autoComplete="off" />
          </Field>
        ) : null}
        <Field label="Type" hint='e.g. "postgres", "http", "aws"'>
          <input value={type} onChange={(e) => setType(e.target.value)} required list="conn-types" autoComplete="off" />
          <datalist id="conn-types">
            {["postgres", "mysql", "sqlite", "http", "aws", "google_cloud_platform", "sftp", "ssh", "smtp", "generic"].map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </Field>
      </div>
      <div className="form-row">
        <Field label="Host">
          <input value={host} onChange={(e) => setHost(e.target.value)} autoComplete="off" />
        </Field>
        <Field label="Port" error={portError}>
          <input value={port} onChange={(e) => setPort(e.target.value)} inputMode="numeric" autoComplete="off" />
        </Field>
      </div>
      <div className="form-row">
        <Field label="Login">
          <input value={login} onChange={(e) => setLogin(e.target.value)} autoComplete="off" />
        </Field>
        <Field label="Schema">
          <input value={schema} onChange={(e) => setSchema(e.target.value)} autoComplete="off" />
        </Field>
      </div>
      <SecretField
        label="Password"
        stored={connection?.password_set ?? false}
        creating={creating}
        action={passwordAction}
        onAction={setPasswordAction}
      >
        <input autoFocus={!creating} type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" aria-label="Password" placeholder={creating ? "" : "the new password"} />
      </SecretField>
      <SecretField label="Extra (JSON object)" stored={connection?.extra_set ?? false} creating={creating} action={extraAction} onAction={setExtraAction} error={extraError}>
        <textarea autoFocus={!creating} rows={4} value={extra} onChange={(e) => setExtra(e.target.value)} aria-label="Extra" placeholder='{"sslmode": "require"}' spellCheck={false} />
      </SecretField>
      <Field label="Description">
        <input value={description} onChange={(e) => setDescription(e.target.value)} autoComplete="off" />
      </Field>
    </FormModal>
  );
}

/**
 * A write-only value. When creating, just the input. When editing: keep what is stored (the
 * default), type a new value, or clear it; the stored value itself is never shown.
 */
function SecretField({
  label,
  stored,
  creating,
  action,
  onAction,
  error,
  children,
}: {
  label: string;
  stored: boolean;
  creating: boolean;
  action: SecretAction;
  onAction(a: SecretAction): void;
  error?: string | null;
  children: ReactNode;
}) {
  if (creating) {
    return (
      <Field label={label} hint="Write-only: stored encrypted and never shown again." error={error}>
        {children}
      </Field>
    );
  }
  return (
    <fieldset className="secret-field">
      <legend>
        {label} <span className="muted">({stored ? "set" : "not set"}; write-only)</span>
      </legend>
      <div className="choices">
        <label className="inline">
          <input type="radio" checked={action === "keep"} onChange={() => onAction("keep")} /> {stored ? "Keep the stored value" : "Leave empty"}
        </label>
        <label className="inline">
          <input type="radio" checked={action === "replace"} onChange={() => onAction("replace")} /> {stored ? "Replace it" : "Set one"}
        </label>
        {stored && (
          <label className="inline">
            <input type="radio" checked={action === "clear"} onChange={() => onAction("clear")} /> Clear it
          </label>
        )}
      </div>
      {action === "replace" && children}
      {action === "replace" && error && <div className="field-error">{error}</div>}
    </fieldset>
  );
}
