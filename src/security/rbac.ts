/**
 * Role-based access control with Airflow's roles. A role is a set of permissions; a user's
 * permissions are the union over their roles. A DAG may also grant roles read or edit on itself
 * alone (`access` in its options), so a role can be limited to some DAGs.
 */
export const PERMISSIONS = [
  "dags:read", // DAGs, their runs, task instances, logs, XComs, source, versions, import errors
  "dags:edit", // pause and unpause
  "dags:delete",
  "runs:trigger", // trigger, and every indirect action: clear, rerun, set state, mark
  "runs:delete",
  "pools:read",
  "pools:write",
  "connections:read",
  "connections:write",
  "variables:read",
  "variables:write",
  "users:read",
  "users:write",
  "roles:read",
  "roles:write",
  "tokens:manage", // API tokens of other users
  "audit:read",
  "config:read",
] as const;

export type Permission = (typeof PERMISSIONS)[number];

const VIEWER: Permission[] = ["dags:read"];
const USER: Permission[] = [...VIEWER, "dags:edit", "runs:trigger", "runs:delete"];
const OP: Permission[] = [...USER, "pools:read", "pools:write", "connections:read", "connections:write", "variables:read", "variables:write"];

export const BUILTIN_ROLES: Readonly<Record<string, { description: string; permissions: readonly Permission[] }>> = {
  Viewer: { description: "Reads DAGs, runs, task instances and logs", permissions: VIEWER },
  User: { description: "Viewer, and triggers, clears, marks and pauses", permissions: USER },
  Op: { description: "User, and manages connections, variables and pools", permissions: OP },
  Admin: { description: "Everything: users, roles, tokens, audit log, configuration", permissions: PERMISSIONS },
};

export type DagAccessRight = "read" | "edit";
export type DagAccess = Record<string, DagAccessRight[]>;

export interface Principal {
  userId: number;
  username: string;
  roles: string[];
  permissions: ReadonlySet<Permission>;
  /** How the request authenticated. */
  via: "session" | "api_token";
}

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}

export function can(principal: Principal, permission: Permission): boolean {
  return principal.permissions.has(permission);
}

/** What a principal may do with one DAG, given its access list. */
export function canDag(principal: Principal, access: DagAccess | null, need: "read" | "edit" | "trigger" | "delete"): boolean {
  const granted = (right: DagAccessRight) => principal.roles.some((role) => access?.[role]?.includes(right) ?? false);
  switch (need) {
    case "read":
      return can(principal, "dags:read") || granted("read") || granted("edit");
    case "edit":
      return can(principal, "dags:edit") || granted("edit");
    case "trigger":
      return can(principal, "runs:trigger") || granted("edit");
    case "delete":
      return can(principal, "dags:delete");
  }
}

/** Whether the principal may read every DAG (`dags:read`); without it, only the DAGs whose access lists name one of its roles. */
export function readsAllDags(principal: Principal): boolean {
  return can(principal, "dags:read");
}
