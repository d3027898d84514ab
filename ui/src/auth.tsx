/** Who is signed in: the session's user, roles and permissions, for showing what they may do. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { get, isSignedIn, onSessionChange } from "./api/client";
import { live } from "./api/live";
import type { Me } from "./api/types";

interface AuthState {
  signedIn: boolean;
  me: Me | undefined;
  can(permission: string): boolean;
}

const AuthContext = createContext<AuthState>({ signedIn: false, me: undefined, can: () => false });

export function AuthProvider({ children }: { children: ReactNode }) {
  const [signedIn, setSignedIn] = useState(isSignedIn());
  const client = useQueryClient();
  useEffect(
    () =>
      onSessionChange((now) => {
        setSignedIn(now);
        if (!now) client.clear();
      }),
    [client],
  );
  useEffect(() => {
    if (signedIn) live.start();
    else live.stop();
  }, [signedIn]);
  const me = useQuery({ queryKey: ["me"], queryFn: () => get<Me>("/auth/me"), enabled: signedIn, staleTime: 60_000 });
  const permissions = new Set(me.data?.permissions ?? []);
  return <AuthContext.Provider value={{ signedIn, me: me.data, can: (p) => permissions.has(p) }}>{children}</AuthContext.Provider>;
}

export const useAuth = () => useContext(AuthContext);
