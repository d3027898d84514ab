/** Roles: named sets of permissions. The built-in ones are read-only; custom ones can be changed. */
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { del, patch, post, seg } from "../../api/client";
import type { Role } from "../../api/types";
import { useAuth } from "../../auth";
import { Confirm } from "../../components/common";
import { AdminHead, ListCard, useAdminList, Field, FormModal, orNull } from "./shared";


/** Every permission, grouped as the server defines them (src/security/rbac.ts). */
const PERMISSION_GROUPS: Array<{ area: string; permissions: Array<{ name: string; what: string }> }> = [
  {
    area: "DAGs and runs",
    permissions: [
      { name: "dags:read", what: "see DAGs, runs, task instances, logs, XComs and source" },
      { name: "dags:edit", what: "pause and unpause DAGs" },
      { name: "dags:delete", what: "delete DAGs with their history" },
      { name: "runs:trigger", what: "trigger, clear, rerun, set states and mark" },
      { name: "runs:delete", what: "delete runs" },
    ],
  },
  {
    area: "Pools, connections, variables",
    permissions: [
      { name: "pools:read", what: "see pools" },
      { name: "pools:write", what: "create, change and delete pools" },
      { name: "connections:read", what: "see connections (never their secrets)" },
      { name: "connections:write", what: "create, change and delete connections" },
      { name: "variables:read", what: "see variables (secret values masked)" },
      { name: "variables:write", what: "create, change and delete variables" },
    ],
  },
  {
    area: "Security and administration",
    permissions: [
      { name: "users:read", what: "see users" },
      { name: "users:write", what: "create, change and delete users" },
      { name: "roles:read", what: "see roles" },
      { name: "roles:write", what: "create, change and delete custom roles" },
      { name: "tokens:manage", what: "list and revoke everyone's API tokens" },
      { name: "audit:read", what: "read the audit log" },
      { name: "config:read", what: "read the server's settings" },
    ],
  },
];
const ALL_PERMISSIONS = PERMISSION_GROUPS.flatMap((g) => g.permissions.map((p) => p.name));

export function Roles() {
  // A role's change can change what the signed-in user may do.
  const client = useQueryClient();
  const page = useAdminList<Role, "roles">({ key: "roles", path: "/roles", field: "roles", writePermission: "roles:write", alsoRefresh: [["me"]] });
  const { list, editing, setEditing, closeEditor, deleting, setDeleting, closeDelete, writable, refresh } = page;

  return (
    <div>
      <AdminHead title="Roles" count={list.data?.total_entries}>
        {writable && (
          <button className="primary" onClick={() => setEditing("new")}>
            + Add role
          </button>
        )}
      </AdminHead>
      <ListCard state={page} noun="roles" empty={<>No roles.</>}>
        <div className="table-scroll">
          <table className="table" data-testid="roles-table">
            <thead>
              <tr>
                <th>Role</th>
                <th>Permissions</th>
                <th className="num">Users</th>
                {writable && <th className="row-actions-head"></th>}
              </tr>
            </thead>
            <tbody>
              {page.items?.map((r) => (
                <tr key={r.name}>
                  <td className="role-name">
                    <strong>{r.name}</strong> {r.builtin && <span className="badge state-none">built-in</span>}
                    {r.description && <div className="muted">{r.description}</div>}
                  </td>
                  <td>
                    <PermissionList permissions={r.permissions} />
                  </td>
                  <td className="num">{r.user_count}</td>
                  {writable && (
                    <td className="row-actions">
                      {r.builtin ? (
                        <span className="muted" title="Built-in roles cannot be changed; make a custom role instead">
                          read-only
                        </span>
                      ) : (
                        <>
                          <button onClick={() => setEditing(r)}>Edit</button>
                          <button className="danger-outline" onClick={() => setDeleting(r)}>
                            Delete
                          </button>
                        </>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </ListCard>
      {editing && <RoleForm role={editing === "new" ? null : editing} onClose={closeEditor} onSaved={refresh} />}
      {deleting && (
        <Confirm
          title="Delete role"
          confirmLabel="Delete"
          danger
          onClose={closeDelete}
          onConfirm={async () => {
            await del(`/roles/${seg(deleting.name)}`);
            await refresh();
            await client.invalidateQueries({ queryKey: ["admin", "users"] });
          }}
        >
          Delete the role <strong>{deleting.name}</strong>?
          {deleting.user_count > 0 && (
            <>
              {" "}
              Its {deleting.user_count === 1 ? "user loses" : `${deleting.user_count} users lose`} it, and their sessions and API tokens are revoked.
            </>
          )}
        </Confirm>
      )}
    </div>
  );
}

function PermissionList({ permissions }: { permissions: string[] }) {
  if (permissions.length === 0) return <span className="muted">none (DAG access lists may still grant access)</span>;
  if (ALL_PERMISSIONS.every((p) => permissions.includes(p))) return <span className="tag static">every permission</span>;
  return (
    <div className="perm-tags">
      {permissions.map((p) => (
        <span key={p} className="tag static mono">
          {p}
        </span>
      ))}
    </div>
  );
}

function RoleForm({ role, onClose, onSaved }: { role: Role | null; onClose(): void; onSaved(): Promise<unknown> }) {
  const { can } = useAuth();
  const creating = role === null;
  const [name, setName] = useState("");
  const [description, setDescription] = useState(role?.description ?? "");
  const [permissions, setPermissions] = useState<string[]>(role?.permissions ?? []);
  const invalid = creating && name.trim() === "";
  const removed = role ? role.permissions.filter((p) => !permissions.includes(p)) : [];

  async function save() {
    if (creating) {
      await post<Role>("/roles", { name: name.trim(), description: orNull(description), permissions });
    } else {
      const body: { description?: string | null; permissions?: string[] } = {};
      if (orNull(description) !== role.description) body.description = orNull(description);
      if (permissions.length !== role.permissions.length || permissions.some((p) => !role.permissions.includes(p))) body.permissions = permissions;
      if (Object.keys(body).length > 0) await patch<Role>(`/roles/${seg(role.name)}`, body);
    }
    await onSaved();
  }

  const toggle = (p: string, on: boolean) => setPermissions((current) => (on ? [...current, p] : current.filter((x) => x !== p)));

  return (
    <FormModal title={creating ? "Add role" : `Edit role ${role.name}`} submitLabel={creating ? "Add" : "Save"} invalid={invalid} onSubmit={save} onClose={onClose} wide>
      {creating && (
        <Field label="Name" hint='Letters, digits, spaces and "_ . -". A DAG grants access to a role by this name.'>
          <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
        </Field>
      )}
      <Field label="Description">
        <input value={description} onChange={(e) => setDescription(e.target.value)} autoComplete="off" />
      </Field>
      {PERMISSION_GROUPS.map((group) => (
        <fieldset key={group.area} className="checks">
          <legend>{group.area}</legend>
          <div className="check-grid">
            {group.permissions.map((p) => (
              <label key={p.name} className="inline check" title={can(p.name) ? undefined : "Your roles do not grant this, so you cannot give it"}>
                <input type="checkbox" checked={permissions.includes(p.name)} onChange={(e) => toggle(p.name, e.target.checked)} />
                <span>
                  <code>{p.name}</code> <span className="muted">{p.what}</span>
                </span>
              </label>
            ))}
          </div>
        </fieldset>
      ))}
      {removed.length > 0 && role && role.user_count > 0 && (
        <div className="banner">Taking permissions away revokes the sessions and API tokens of the role's {role.user_count === 1 ? "user" : `${role.user_count} users`}.</div>
      )}
    </FormModal>
  );
}
