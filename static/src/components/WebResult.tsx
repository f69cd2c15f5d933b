// The web: a card for Anthropic's server tools (web_search, web_fetch: run by
// Anthropic inside the request, nothing to approve) and the sources of a
// cited answer. Links open in a new tab, http(s) only.
import type { ViewItem } from '../lib/transcript';
import { hostOf, safeUrl, type Citation, type WebResultData } from '../lib/web';
import './web.css';

type ToolItem = Extract<ViewItem, { kind: 'tool' }>;

const ERRORS: Record<string, string> = {
  max_uses_exceeded: 'The session used up its searches for this request (WEB_SEARCH_MAX_USES).',
  too_many_requests: 'The search service is rate-limited; Claude may try again.',
  invalid_input: 'The query or address was not valid.',
  query_too_long: 'The query was too long.',
  url_not_allowed: 'That address is not allowed by the session\'s network policy.',
  url_not_accessible: 'The page could not be reached.',
  unsupported_content_type: 'The page\'s content type is not supported.',
  unavailable: 'The web tool is not available right now.',
};

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function Link({ href, children }: { href: unknown; children: preact.ComponentChildren }) {
  const u = safeUrl(href);
  if (!u) return <span>{children}</span>;
  return <a href={u} target="_blank" rel="noopener noreferrer nofollow">{children}</a>;
}

export function WebCard({ item }: { item: ToolItem }) {
  const fetch = item.name === 'web_fetch';
  const r = item.result;
  const web = (r as { web?: WebResultData } | null)?.web;
  const query = str(item.input.query);
  const url = str(item.input.url);
  const label = item.state === 'running' ? (fetch ? 'Fetching…' : 'Searching…')
    : r?.isError ? 'Failed' : r ? 'Done' : item.state === 'interrupted' ? 'Interrupted' : '';
  return (
    <section class={`card tool-card web ${item.state}`} aria-label={fetch ? `Web fetch: ${url}` : `Web search: ${query}`}>
      <div class="tool-head">
        <span class="tool-icon" aria-hidden="true">{fetch ? '⇣' : '⌕'}</span>
        <span class="tool-title">
          {fetch ? <>Fetched <Link href={url}>{url}</Link></> : <>Searched the web: <q>{query}</q></>}
        </span>
        <span class="tool-meta">
          {label && <span class={`chip state-${r?.isError ? 'error' : item.state}`}>{label}</span>}
        </span>
      </div>
      {r && r.isError && (
        <p class="notice-inline warn">{ERRORS[web?.errorCode ?? ''] ?? r.content}</p>
      )}
      {r && !r.isError && web?.kind === 'search' && (
        web.results && web.results.length > 0 ? (
          <ol class="web-results">
            {web.results.map((h, i) => (
              <li key={i} class="web-result">
                <Link href={h.url}>{h.title || h.url}</Link>
                <span class="muted small"> {hostOf(h.url)}{h.page_age ? ` · ${h.page_age}` : ''}</span>
              </li>
            ))}
          </ol>
        ) : <p class="muted small">No results.</p>
      )}
      {r && !r.isError && web?.kind === 'fetch' && (
        <p class="small web-fetched">
          <Link href={web.url}>{web.title || web.url}</Link>
          {web.retrievedAt && <span class="muted"> · retrieved {web.retrievedAt}</span>}
        </p>
      )}
      {r && !web && <p class="muted small">{r.content}</p>}
    </section>
  );
}

/** The sources a text block cites, numbered, under the text. */
export function Citations({ citations }: { citations: Citation[] }) {
  // One entry per source (the same page may be cited several times).
  const seen = new Map<string, Citation[]>();
  for (const c of citations) {
    const k = c.url || c.title || '';
    if (!seen.has(k)) seen.set(k, []);
    seen.get(k)!.push(c);
  }
  return (
    <aside class="citations" aria-label="Sources">
      <span class="muted small">Sources:</span>
      <ol>
        {[...seen.entries()].map(([k, cs]) => (
          <li key={k} class="citation" title={cs.map((c) => c.cited_text).filter(Boolean).join('\n…\n')}>
            <Link href={cs[0].url}>{cs[0].title || cs[0].url || 'source'}</Link>
            {cs[0].url && <span class="muted small"> {hostOf(cs[0].url)}</span>}
          </li>
        ))}
      </ol>
    </aside>
  );
}
