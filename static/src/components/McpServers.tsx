// MCP servers (docs/mcp.md): which of the admin's configured servers this
// session has enabled (toggles, PATCH mcp_servers), and the card of an MCP
// tool call: mcp__<server>__<tool> for the servers run in the sandbox, and the
// remote servers' mcp_tool_use / mcp_tool_result blocks (Anthropic's MCP
// connector).
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, request } from '../lib/api';
import type { Session } from '../lib/types';
import { explainError } from '../lib/words';
import { splitMcpName } from '../lib/mcp';
import type { ToastFn } from './Toasts';
import './mcp.css';

export interface McpServerInfo {
  name: string;
  type: 'stdio' | 'url';
  enabled_by_default: boolean;
  tools: string[] | null;
  error?: string;
}

type McpSession = Session & { mcp_servers?: string[] };

let serversCache: Promise<McpServerInfo[]> | null = null;
function loadServers(): Promise<McpServerInfo[]> {
  if (!serversCache) {
    serversCache = request<{ servers: McpServerInfo[] }>('GET', '/api/mcp/servers')
      .then((r) => r.servers)
      .catch((e) => { serversCache = null; throw e; });
  }
  return serversCache;
}

interface Props {
  session: Session;
  onChanged: (s: Session) => void;
  toast: ToastFn;
}

export function McpServers({ session, onChanged, toast }: Props) {
  const s = session as McpSession;
  const stored = s.mcp_servers ?? [];
  // What the person ticked, shown at once; the server's answer replaces it.
  const [picked, setPicked] = useState<string[] | null>(null);
  const enabled = picked ?? stored;
  const [servers, setServers] = useState<McpServerInfo[] | null>(null);
  const [open, setOpen] = useState(false);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let alive = true;
    loadServers().then((list) => { if (alive) setServers(list); }).catch(() => { if (alive) setServers([]); });
    return () => { alive = false; };
  }, []);

  // Nothing configured: nothing to show.
  if (!servers || servers.length === 0) return null;

  const toggle = async (name: string, on: boolean) => {
    const next = servers.map((x) => x.name).filter((n) => (n === name ? on : enabled.includes(n)));
    setPicked(next);
    setSaving(true);
    setError(null);
    try {
      const updated = await request<Session>('PATCH', `/api/sessions/${encodeURIComponent(session.id)}`,
        { body: { mcp_servers: next } });
      onChanged(updated);
      setPicked(null);
    } catch (e) {
      setPicked(null);
      if (e instanceof ApiError && e.status === 400) setError(e.message);
      else toast({ level: 'error', ...explainError(e, 'change the MCP servers') });
    } finally {
      setSaving(false);
    }
  };

  return (
    <div class="mcp-servers">
      <button type="button" class={`btn subtle mcp-btn${enabled.length ? ' on' : ''}`} aria-expanded={open}
        aria-controls="mcp-panel" title="MCP servers whose tools Claude may use in this session"
        onClick={() => setOpen((o) => !o)}>
        MCP: {enabled.length}
      </button>
      {open && (
        <div id="mcp-panel" class="mcp-panel card" role="group" aria-label="MCP servers">
          <p class="mcp-legend">MCP servers for this session</p>
          <fieldset disabled={saving}>
            {servers.map((x) => (
              <label key={x.name} class="mcp-choice">
                <input type="checkbox" name="mcp_server" value={x.name} checked={enabled.includes(x.name)}
                  onChange={(e) => void toggle(x.name, (e.target as HTMLInputElement).checked)} />
                <span class="mcp-name">{x.name}</span>
                <span class="muted small">
                  {x.type === 'url' ? ' remote (through Anthropic)'
                    : x.tools ? ` ${x.tools.length} tool${x.tools.length === 1 ? '' : 's'}` : ' (tools not listed yet)'}
                </span>
                {x.tools && x.tools.length > 0 && (
                  <span class="mcp-tools muted small" title={x.tools.join(', ')}>
                    {x.tools.slice(0, 6).join(', ')}{x.tools.length > 6 ? ', …' : ''}
                  </span>
                )}
                {x.error && <span class="notice-inline warn small">{x.error}</span>}
              </label>
            ))}
          </fieldset>
          <p class="muted small">Each call asks for your approval (unless the session bypasses permissions). Servers run in this session's sandbox.</p>
          {error && <p class="notice-inline warn" role="alert">{error}</p>}
          <button type="button" class="btn subtle small" onClick={() => { setOpen(false); setError(null); }}>Close</button>
        </div>
      )}
    </div>
  );
}

/** What McpCard needs of a tool item (ToolCard's ViewItem of kind "tool"). */
export interface McpItem {
  name: string;
  input: Record<string, unknown>;
  state: string;
  result: { content: string; isError: boolean; durationMs?: number } | null;
}

const STATE: Record<string, string> = {
  waiting: 'Waiting for approval', running: 'Running…', done: 'Done', error: 'Failed',
  denied: 'Not run', interrupted: 'Interrupted',
};

/** An MCP tool call: server, tool, input, the approval and the result. */
export function McpCard({ item, permission, serverName }: { item: McpItem; permission?: ComponentChildren; serverName?: string }) {
  const split = splitMcpName(item.name);
  const server = split?.server ?? serverName ?? 'mcp';
  const tool = split?.tool ?? item.name;
  const r = item.result;
  const input = JSON.stringify(item.input ?? {}, null, 2);
  return (
    <section class={`card tool-card mcp ${item.state}`} aria-label={`MCP ${server}: ${tool}`}>
      <div class="tool-head">
        <span class="tool-icon" aria-hidden="true">↔</span>
        <span class="tool-title"><span class="mcp-server-chip">{server}</span> <code>{tool}</code></span>
        <span class="tool-meta"><span class={`chip state-${item.state}`}>{STATE[item.state] ?? item.state}</span></span>
      </div>
      {input !== '{}' && (
        <div class="output">
          <div class="output-label">Input</div>
          <pre class="output-text mcp-input">{input}</pre>
        </div>
      )}
      {permission}
      {r && (
        <div class={`output ${r.isError ? 'stderr' : ''}`}>
          <div class="output-label">{r.isError ? 'Error' : 'Result'}</div>
          <pre class="output-text mcp-result">{r.content}</pre>
        </div>
      )}
    </section>
  );
}

