// MCP tool names and the remote servers' blocks (docs/mcp.md); the
// components are in components/McpServers.tsx.

/** "mcp__server__tool" → {server, tool}; null for other names. */
export function splitMcpName(name: string): { server: string; tool: string } | null {
  const m = /^mcp__([a-z0-9_-]+?)__(.+)$/.exec(name);
  return m ? { server: m[1], tool: m[2] } : null;
}

export function isMcpTool(name: string): boolean {
  return splitMcpName(name) !== null;
}

/** The remote servers' results (mcp_tool_result blocks of the history), by tool_use_id. */
export function mcpResults(messages: Array<{ role: string; content: unknown }>): Record<string, { content: string; isError: boolean }> {
  const out: Record<string, { content: string; isError: boolean }> = {};
  for (const m of messages) {
    if (m.role !== 'assistant' || !Array.isArray(m.content)) continue;
    for (const b of m.content as Array<Record<string, unknown>>) {
      if (!b || b.type !== 'mcp_tool_result' || typeof b.tool_use_id !== 'string') continue;
      const parts = Array.isArray(b.content)
        ? (b.content as Array<Record<string, unknown>>).map((c) => (c && c.type === 'text' ? String(c.text ?? '') : `[${String(c?.type ?? 'content')}]`))
        : [typeof b.content === 'string' ? b.content : ''];
      out[b.tool_use_id] = { content: parts.join('\n'), isError: b.is_error === true };
    }
  }
  return out;
}

/** A remote mcp_tool_use block's name as the card shows it: mcp__server__tool. */
export function mcpBlockName(b: { name?: unknown; server_name?: unknown }): string {
  return `mcp__${String(b.server_name ?? 'remote')}__${String(b.name ?? 'tool')}`;
}
