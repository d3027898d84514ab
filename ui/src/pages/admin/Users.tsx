/** Users: who may log in, with which roles. Passwords are set here but never shown. */
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { del, get, patch, post, seg } from "../../api/client";
import type { Role, User } from "../../api/types";
import { useAuth } from "../../auth";
import { Confirm, Loading } from "../../components/common";
import { Time } from "../../components/time";
import { AdminHead, ListCard, useAdminList, Dash, Field, FormModal, orNull } from "./shared";

const MIN_PASSWORD = 10;

export function Users() {
  const { me } = useAuth();
  // Role user counts change with users.
  const page = useAdminList<User, "users">({ key: "users", path: "/users", field: "users", writePermission: "users:write", alsoRefresh: [["admin", "roles"]] });
  const { list, editing, setEditing, closeEditor, deleting, setDeleting, closeDelete, writable, refresh } = page;

  return (
    <div>
      <AdminHead title="Users" count={list.data?.total_entries}>
        {writable && (
          <button className="primary" onClick={() => setEditing("new")}>
            + Add user
          </button>
        )}
      </AdminHead>
      <ListCard state={page} noun="users" empty={<>No users.</>}>
        <div className="table-scroll">
          <table className="table" data-testid="users-table">
            <thead>
              <tr>
                <th>Username</th>
                <th>Name</th>
                <th>Email</th>
                <th>Roles</th>
                <th>Status</th>
                <th>Last login</th>
                {writable && <th className="row-actions-head"></th>}
              </tr>
            </thead>
            <tbody>
              {page.items?.map((u) => {
                const self = u.username === me?.username;
                return (
                  <tr key={u.username} className={u.active ? undefined : "inactive"}>
                    <td className="mono strong">
                      {u.username}
                      {self && <span className="muted"> (you)</span>}
                    </td>
                    <td>{fullName(u) ?? <Dash />}</td>
                    <td className="wrap">{u.email ?? <Dash />}</td>
                    <td>
                      {u.roles.length === 0 ? (
                        <span className="muted">no role</span>
                      ) : (
                        u.roles.map((r) => (
                          <span key={r} className="tag static">
                            {r}
                          </span>
                        ))
                      )}
                    </td>
                    <td>{u.active ? <span className="badge state-success">active</span> : <span className="badge state-none">inactive</span>}</td>
                    <td>{u.last_login_at ? <Time iso={u.last_login_at} /> : <span className="muted">never</span>}</td>
                    {writable && (
                      <td className="row-actions">
                        <button onClick={() => setEditing(u)}>Edit</button>
                        <button className="danger-outline" onClick={() => setDeleting(u)} disabled={self} title={self ? "You cannot delete your own user" : undefined}>
                          Delete
                        </button>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </ListCard>
      {editing && <UserForm user={editing === "new" ? null : editing} self={editing !== "new" && editing.username === me?.username} onClose={closeEditor} onSaved={refresh} />}
      {deleting && (
        <Confirm
          title="Delete user"
          confirmLabel="Delete"
          danger
          onClose={closeDelete}
          onConfirm={async () => {
            await del(`/users/${seg(deleting.username)}`);
            await refresh();
          }}
        >
          Delete the user <strong className="mono">{deleting.username}</strong>? Their sessions and API tokens stop working at once. The audit log keeps their name.
        </Confirm>
      )}
    </div>
  );
}

function fullName(u: User): string | null {
  const name = [u.first_name, u.last_name].filter(Boolean).join(" ");
  return name || null;
}

function passwordProblem(password: string, repeat: string, required: boolean): { password: string | null; repeat: string | null } {
  if (password === "" && !required) return { password: null, repeat: null };
  return {
    password: password.length > 0 && password.length < MIN_PASSWORD ? `at least ${MIN_PASSWORD} characters` : null,
    repeat: repeat !== "" && repeat !== password ? "the two passwords differ" : null,
  };
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join("\n") === [...b].sort().join("\n");

function UserForm({ user, self, onClose, onSaved }: { user: User | null; self: boolean; onClose(): void; onSaved(): Promise<unknown> }) {
  const creating = user === null;
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [roles, setRoles] = useState<string[]>(user?.roles ?? ["Viewer"]);
  const [active, setActive] = useState(user?.active ?? true);
  const [email, setEmail] = useState(user?.email ?? "");
  const [firstName, setFirstName] = useState(user?.first_name ?? "");
  const [lastName, setLastName] = useState(user?.last_name ?? "");

  const problems = passwordProblem(password, repeat, creating);
  const invalid = (creating && (username.trim() === "" || password === "")) || problems.password !== null || problems.repeat !== null || (password !== "" && repeat !== password);
  const revokes = !creating && (password !== "" || (active === false && user.active) || user.roles.some((r) => !roles.includes(r)));

  async function save() {
    const names = { email: orNull(email), first_name: orNull(firstName), last_name: orNull(lastName) };
    if (creating) {
      await post<User>("/users", { username: username.trim(), password, roles, ...names });
    } else {
      const body: Record<string, unknown> = {};
      if (password !== "") body.password = password;
      if (!sameSet(roles, user.roles)) body.roles = roles;
      if (active !== user.active) body.active = active;
      if (names.email !== user.email) body.email = names.email;
      if (names.first_name !== user.first_name) body.first_name = names.first_name;
      if (names.last_name !== user.last_name) body.last_name = names.last_name;
      if (Object.keys(body).length > 0) await patch<User>(`/users/${seg(user.username)}`, body);
    }
    await onSaved();
  }

  return (
    <FormModal title={creating ? "Add user" : `Edit user ${user.username}`} submitLabel={creating ? "Add" : "Save"} invalid={invalid} onSubmit={save} onClose={onClose} wide>
      {creating && (
        <Field label="Username" hint='Letters, digits and "_ . @ -".'>
          <input value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="off" />
        </Field>
      )}
      <div className="form-row">
        <Field label={creating ? "Password" : "New password (optional)"} hint={creating ? `At least ${MIN_PASSWORD} characters.` : "Leave empty to keep the current one."} error={problems.password}>
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" />
        </Field>
        <Field label="Repeat the password" error={problems.repeat}>
          <input type="password" value={repeat} onChange={(e) => setRepeat(e.target.value)} autoComplete="new-password" disabled={password === ""} />
        </Field>
      </div>
      <RolePicker value={roles} onChange={setRoles} />
      <div className="form-row">
        <Field label="First name">
          <input value={firstName} onChange={(e) => setFirstName(e.target.value)} autoComplete="off" />
        </Field>
        <Field label="Last name">
          <input value={lastName} onChange={(e) => setLastName(e.target.value)} autoComplete="off" />
        </Field>
      </div>
      <Field label="Email">
        <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="off" />
      </Field>
      {!creating && (
        <label className="inline" title={self ? "You cannot deactivate your own user" : undefined}>
          <input type="checkbox" checked={active} onChange={(e) => setActive(e.target.checked)} disabled={self} /> Active (an inactive user cannot log in)
        </label>
      )}
      {revokes && <div className="banner">Saving this signs the user out everywhere: a new password, a role taken away or deactivation revokes all their sessions and API tokens.</div>}
    </FormModal>
  );
}

/** The roles as checkboxes, from GET /roles; without roles:read, a comma-separated list. */
function RolePicker({ value, onChange }: { value: string[]; onChange(roles: string[]): void }) {
  const { can } = useAuth();
  const readable = can("roles:read");
  const roles = useQuery({
    queryKey: ["admin", "roles", "all"],
    queryFn: () => get<{ roles: Role[]; total_entries: number }>("/roles", { limit: 1000 }),
    enabled: readable,
  });
  const [text, setText] = useState(value.join(", "));
  if (!readable || roles.isError) {
    return (
      <Field label="Roles" hint="Role names, separated by commas.">
        <input
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            onChange(e.target.value.split(",").map((r) => r.trim()).filter(Boolean));
          }}
          autoComplete="off"
        />
      </Field>
    );
  }
  const toggle = (name: string, on: boolean) => onChange(on ? [...value, name] : value.filter((r) => r !== name));
  return (
    <fieldset className="checks">
      <legend>Roles</legend>
      {roles.isLoading && <Loading what="roles" />}
      <div className="check-grid">
        {roles.data?.roles.map((r) => (
          <label key={r.name} className="inline check" title={r.permissions.join(", ") || "no permissions"}>
            <input type="checkbox" checked={value.includes(r.name)} onChange={(e) => toggle(r.name, e.target.checked)} />
            <span>
              <strong>{r.name}</strong>
              {r.description && <span className="muted"> — {r.description}</span>}
            </span>
          </label>
        ))}
      </div>
      {value.length === 0 && <div className="hint">With no role the user can log in but see nothing.</div>}
    </fieldset>
  );
}
