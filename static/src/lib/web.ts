// The web: Anthropic's server tools (web_search, web_fetch) and cited text,
// as the transcript shows them, and a session's network policy
// (docs/api.md, "The web"). Pure functions over the history's blocks and
// the events; the components are WebResult.tsx and NetworkPolicy.tsx.

export type NetworkPolicy = 'off' | 'allowlist' | 'on';
export const NETWORK_POLICIES: NetworkPolicy[] = ['off', 'allowlist', 'on'];

/** The session fields of the network policy (GET/PATCH /api/sessions/{id}). */
export interface NetworkFields {
  network_policy?: NetworkPolicy;
  allowed_domains?: string[];
  /** The signed-in person's bound (NETWORK_POLICY_MAX_USER / _ADMIN). */
  network_policy_max?: NetworkPolicy;
  /** Whether commands in the sandbox get network (policy on and SANDBOX_NETWORK=on). */
  sandbox_network?: boolean;
}

export interface Citation {
  type?: string;
  url?: string;
  title?: string;
  cited_text?: string;
}

export interface WebSearchHit {
  url: string;
  title: string;
  page_age?: string | null;
}

/** What a server tool's result card shows. */
export interface WebResultData {
  kind: 'search' | 'fetch';
  results?: WebSearchHit[];
  url?: string;
  title?: string;
  retrievedAt?: string;
  errorCode?: string;
}

export const WEB_TOOLS = new Set(['web_search', 'web_fetch']);

type Obj = Record<string, unknown>;

function s(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Only http(s) links are ever made clickable (results come from the web). */
export function safeUrl(u: unknown): string | null {
  if (typeof u !== 'string') return null;
  try {
    const p = new URL(u);
    return p.protocol === 'https:' || p.protocol === 'http:' ? p.href : null;
  } catch {
    return null;
  }
}

export function hostOf(u: string): string {
  try {
    return new URL(u).hostname;
  } catch {
    return u;
  }
}

function hits(list: unknown): WebSearchHit[] {
  if (!Array.isArray(list)) return [];
  return list.filter((r): r is Obj => !!r && typeof r === 'object').map((r) => ({
    url: s(r.url) ?? '', title: s(r.title) ?? s(r.url) ?? '', page_age: s(r.page_age) ?? null,
  }));
}

/** A server tool's tool.result event (server: true) → the card's data. */
export function webFromEvent(e: Obj): WebResultData | undefined {
  if (!e || e.server !== true) return undefined;
  const kind = e.name === 'web_fetch' ? 'fetch' : 'search';
  return {
    kind,
    results: kind === 'search' && Array.isArray(e.results) ? hits(e.results) : undefined,
    url: s(e.url), title: s(e.title), retrievedAt: s(e.retrieved_at), errorCode: s(e.error_code),
  };
}

/** A *_tool_result block of the history → {content, isError, web}. */
export function webFromBlock(b: Obj): { content: string; isError: boolean; web: WebResultData } {
  const kind = b.type === 'web_fetch_tool_result' ? 'fetch' : 'search';
  const c = b.content;
  if (Array.isArray(c)) {
    const r = hits(c);
    return { content: `${r.length} result${r.length === 1 ? '' : 's'}`, isError: false, web: { kind, results: r } };
  }
  const o = (c && typeof c === 'object' ? c : {}) as Obj;
  if (typeof o.type === 'string' && o.type.includes('error')) {
    const code = s(o.error_code) ?? 'unavailable';
    return { content: `failed: ${code}`, isError: true, web: { kind, errorCode: code } };
  }
  const doc = (o.content && typeof o.content === 'object' ? o.content : {}) as Obj;
  return {
    content: `fetched ${s(o.url) ?? 'a page'}`, isError: false,
    web: { kind, url: s(o.url), title: s(doc.title), retrievedAt: s(o.retrieved_at) },
  };
}

/** Every server tool result in the history, by tool_use_id. */
export function serverResults(messages: Array<{ role: string; content: unknown }>): Record<string, ReturnType<typeof webFromBlock>> {
  const out: Record<string, ReturnType<typeof webFromBlock>> = {};
  for (const m of messages) {
    if (m.role !== 'assistant' || !Array.isArray(m.content)) continue;
    for (const b of m.content as Obj[]) {
      if (b && typeof b.type === 'string' && b.type.endsWith('_tool_result') && b.type !== 'tool_result'
        && typeof b.tool_use_id === 'string') out[b.tool_use_id] = webFromBlock(b);
    }
  }
  return out;
}

/** A text block's citations (history), without the encrypted parts. */
export function citationsOf(list: unknown): Citation[] | undefined {
  if (!Array.isArray(list) || list.length === 0) return undefined;
  return list.filter((c): c is Obj => !!c && typeof c === 'object').map((c) => ({
    type: s(c.type), url: s(c.url), title: s(c.title), cited_text: s(c.cited_text),
  }));
}

/** Domains typed by a person: split on commas, spaces and new lines. */
export function parseDomains(text: string): string[] {
  return text.split(/[\s,]+/).map((d) => d.trim().toLowerCase()).filter((d) => d !== '');
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Why d is not a hostname the server accepts (the same rules: labels of
 * a-z 0-9 -, at least two, no IP address), or null when it is.
 */
export function domainProblem(d: string): string | null {
  const labels = d.split('.');
  const ok = d.length <= 253 && labels.length >= 2 && labels.every((l) => LABEL.test(l))
    && !/^[0-9]+$/.test(labels[labels.length - 1]);
  return ok ? null : `'${d}' is not a hostname (like example.com: no scheme, port, path, wildcard or IP address)`;
}

export function policyRank(p: NetworkPolicy | undefined): number {
  return p ? NETWORK_POLICIES.indexOf(p) : 0;
}

export const POLICY_LABELS: Record<NetworkPolicy, string> = {
  off: 'Off: no web access',
  allowlist: 'Allowlist: web search and fetch on listed domains',
  on: 'On: web search and fetch anywhere',
};
