// The URL names the session: /sessions/<id>. nginx serves index.html for any
// path (SPA fallback), so reload and back/forward work.

export interface Route {
  sessionId: string | null;
}

export function parseRoute(pathname: string): Route {
  const m = /^\/sessions\/([^/?#]+)\/?$/.exec(pathname);
  return { sessionId: m ? decodeURIComponent(m[1]) : null };
}

export function routePath(r: Route): string {
  return r.sessionId ? `/sessions/${encodeURIComponent(r.sessionId)}` : '/';
}
