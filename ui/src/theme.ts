/** Light and dark themes: the user's choice, else the system's. */
import { useEffect, useState } from "react";

export type Theme = "light" | "dark";
const KEY = "updraft.theme";

function initial(): Theme {
  const saved = localStorage.getItem(KEY);
  if (saved === "light" || saved === "dark") return saved;
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(initial);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  return [
    theme,
    () =>
      setTheme((t) => {
        const next = t === "dark" ? "light" : "dark";
        localStorage.setItem(KEY, next);
        return next;
      }),
  ];
}
