/** API tokens for scripts: the user's own, or everyone's with tokens:manage. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useRef, useState } from "react";
import { del, get, post } from "../../api/client";
import type { ApiToken, NewApiToken } from "../../api/types";
import { useAuth } from "../../auth";
import { Confirm, Empty, ErrorBox, Loading, Modal, Pager } from "../../components/common";
import { Time } from "../../components/time";
import { AdminHead, Field, FormModal } from "./shared";

const PAGE = 100;
const KEY = ["admin", "tokens"];
const MAX_DAYS = 365;

const STATE_CLASS: Record<ApiToken["state"], string> = { active: "state-success", expired: "state-none", revoked: "state-failed" };

export function Tokens() {
  const { can, me } = useAuth();
  const client = useQueryClient();
  const [offset, setOffset] = useState(0);
  const [everyone, setEveryone] = useState(false);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<NewApiToken | null>(null);
  const [revoking, setRevoking] = useState<ApiToken | null>(null);
  // Stable, so an open modal keeps its focus when the list refreshes.
  const closeCreate = useCallback(() => setCreating(false), []);
  const closeShown = useCallback(() => setCreated(null), []);
  const closeRevoke = useCallback(() => setRevoking(null), []);
  const all = everyone && can("tokens:manage");
  const list = useQuery({
    queryKey: [...KEY, all, offset],
    queryFn: () => get<{ tokens: ApiToken[]; total_entries: number }>("/tokens", { limit: PAGE, offset, all: all || undefined }),
    placeholderData: (previous) => previous,
  });
  const refresh = () => client.invalidateQueries({ queryKey: KEY });

  return (
    <div>
      <AdminHead title={all ? "Everyone's API tokens" : "My API tokens"} count={list.data?.total_entries}>
        {can("tokens:manage") && (
          <label className="inline toggle">
            <input
              type="checkbox"
              checked={everyone}
              onChange={(e) => {
                setEveryone(e.target.checked);
                setOffset(0);
              }}
            />{" "}
            Everyone's tokens
          </label>
        )}
        {me?.via !== "api_token" && (
          <button className="primary" onClick={() => setCreating(true)}>
            + New token
          </button>
        )}
      </AdminHead>
      <p className="muted page-intro">
        An API token lets a script call the REST API as you (<code>Authorization: Bearer upd_…</code>), with your roles as they are at each request. It is shown once, when it is made.
      </p>
      <ErrorBox error={list.error} title="Could not load the API tokens" />
      <div className="card">
        {list.isLoading ? (
          <Loading what="API tokens" />
        ) : list.data?.tokens.length === 0 ? (
          <Empty>{all ? "Nobody has an API token." : "You have no API tokens."}</Empty>
        ) : (
          <div className="table-scroll">
            <table className="table" data-testid="tokens-table">
              <thead>
                <tr>
                  <th>Name</th>
                  {all && <th>Owner</th>}
                  <th>Prefix</th>
                  <th>Created</th>
                  <th>Expires</th>
                  <th>Last used</th>
                  <th>Status</th>
                  <th className="row-actions-head"></th>
                </tr>
              </thead>
              <tbody>
                {list.data?.tokens.map((t) => (
                  <tr key={t.token_id} className={t.state === "active" ? undefined : "inactive"}>
                    <td className="strong">{t.name}</td>
                    {all && <td className="mono">{t.username}</td>}
                    <td className="mono">{t.prefix}…</td>
                    <td>
                      <Time iso={t.created_at} />
                    </td>
                    <td>
                      <Time iso={t.expires_at} />
                    </td>
                    <td>{t.last_used_at ? <Time iso={t.last_used_at} /> : <span className="muted">never</span>}</td>
                    <td>
                      <span className={`badge ${STATE_CLASS[t.state]}`}>{t.state}</span>
                      {t.revoked_at && (
                        <div className="muted small">
                          <Time iso={t.revoked_at} />
                        </div>
                      )}
                    </td>
                    <td className="row-actions">
                      {t.state === "active" && (
                        <button className="danger-outline" onClick={() => setRevoking(t)}>
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {list.data && <Pager total={list.data.total_entries} limit={PAGE} offset={offset} onOffset={setOffset} />}
      </div>
      {creating && (
        <NewTokenForm
          onClose={closeCreate}
          onCreated={async (token) => {
            setCreated(token);
            await refresh();
          }}
        />
      )}
      {created && <ShowToken token={created} onClose={closeShown} />}
      {revoking && (
        <Confirm
          title="Revoke API token"
          confirmLabel="Revoke"
          danger
          onClose={closeRevoke}
          onConfirm={async () => {
            await del(`/tokens/${revoking.token_id}`);
            await refresh();
          }}
        >
          Revoke the token <strong>{revoking.name}</strong> (<span className="mono">{revoking.prefix}…</span>)
          {revoking.username !== me?.username ? (
            <>
              {" "}
              of <strong className="mono">{revoking.username}</strong>
            </>
          ) : null}
          ? Scripts that use it stop working at once. This cannot be undone.
        </Confirm>
      )}
    </div>
  );
}

function daysProblem(text: string): string | null {
  if (text.trim() === "") return null;
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= MAX_DAYS ? null : `a whole number of days from 1 to ${MAX_DAYS}`;
}

function NewTokenForm({ onClose, onCreated }: { onClose(): void; onCreated(token: NewApiToken): Promise<unknown> }) {
  const [name, setName] = useState("");
  const [days, setDays] = useState("");
  const daysError = daysProblem(days);
  return (
    <FormModal
      title="New API token"
      submitLabel="Create token"
      invalid={name.trim() === "" || daysError !== null}
      onClose={onClose}
      onSubmit={async () => {
        const token = await post<NewApiToken>("/tokens", { name: name.trim(), ...(days.trim() !== "" ? { expires_in_days: Number(days) } : {}) });
        await onCreated(token);
      }}
    >
      <Field label="Name" hint="What the token is for, e.g. nightly-export.">
        <input value={name} onChange={(e) => setName(e.target.value)} maxLength={100} autoComplete="off" />
      </Field>
      <Field label="Expires in (days)" hint={`1 to ${MAX_DAYS}; empty: the server's default (90 days unless configured otherwise).`} error={daysError}>
        <input type="number" min={1} max={MAX_DAYS} step={1} value={days} onChange={(e) => setDays(e.target.value)} placeholder="90" />
      </Field>
    </FormModal>
  );
}

/** The new token, shown this once. */
function ShowToken({ token, onClose }: { token: NewApiToken; onClose(): void }) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<"yes" | "failed" | null>(null);
  async function copy() {
    try {
      await window.navigator.clipboard.writeText(token.token);
      setCopied("yes");
    } catch {
      // No clipboard (e.g. plain HTTP on another host): select it for Ctrl+C instead.
      input.current?.select();
      setCopied("failed");
    }
  }
  return (
    <Modal title={`API token "${token.name}"`} onClose={onClose}>
      <div className="banner" role="alert">
        Copy the token now: <strong>it will not be shown again</strong>. Only its hash is stored. If you lose it, revoke it and make a new one.
      </div>
      <div className="token-box">
        <input ref={input} readOnly value={token.token} aria-label="The new API token" className="mono" onFocus={(e) => e.target.select()} />
        <button className="primary" onClick={() => void copy()}>
          {copied === "yes" ? "Copied" : "Copy"}
        </button>
      </div>
      {copied === "failed" && <div className="field-error">Could not reach the clipboard: the token is selected, copy it with Ctrl+C (⌘C).</div>}
      <dl className="kv" style={{ marginTop: 14 }}>
        <dt>Prefix</dt>
        <dd className="mono">{token.prefix}…</dd>
        <dt>Expires</dt>
        <dd>
          <Time iso={token.expires_at} />
        </dd>
      </dl>
      <div className="actions">
        <button onClick={onClose}>I have copied it</button>
      </div>
    </Modal>
  );
}
