import { describe, expect, it } from 'vitest';
import { render } from 'preact';
import { isMcpTool, mcpBlockName, mcpResults, splitMcpName } from '../src/lib/mcp';
import { McpCard } from '../src/components/McpServers';

describe('MCP tool names', () => {
  it('splits mcp__server__tool, tool names may hold "__" and "-"', () => {
    expect(splitMcpName('mcp__everything__echo')).toEqual({ server: 'everything', tool: 'echo' });
    expect(splitMcpName('mcp__my-srv__get-sum')).toEqual({ server: 'my-srv', tool: 'get-sum' });
    expect(splitMcpName('mcp__a__b__c')).toEqual({ server: 'a', tool: 'b__c' });
    expect(isMcpTool('bash')).toBe(false);
    expect(isMcpTool('mcp__x')).toBe(false);
    expect(isMcpTool('mcp____x')).toBe(false);
  });
  it('names a remote mcp_tool_use block after its server', () => {
    expect(mcpBlockName({ name: 'lookup', server_name: 'remote' })).toBe('mcp__remote__lookup');
  });
});

describe('remote results in the history', () => {
  it('joins the text of mcp_tool_result blocks, by tool_use_id, with is_error', () => {
    const r = mcpResults([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: [
        { type: 'mcp_tool_use', id: 'mcptoolu_1', name: 'lookup', server_name: 'remote', input: {} },
        { type: 'mcp_tool_result', tool_use_id: 'mcptoolu_1', is_error: false,
          content: [{ type: 'text', text: 'sunny' }, { type: 'image' }, { type: 'text', text: 'warm' }] },
        { type: 'mcp_tool_result', tool_use_id: 'mcptoolu_2', is_error: true, content: 'boom' },
        { type: 'web_search_tool_result', tool_use_id: 'srv', content: [] },
      ] },
    ]);
    expect(r).toEqual({
      mcptoolu_1: { content: 'sunny\n[image]\nwarm', isError: false },
      mcptoolu_2: { content: 'boom', isError: true },
    });
  });
});

describe('McpCard', () => {
  it('shows server, tool, input and the result as text (never as HTML)', () => {
    const el = document.createElement('div');
    render(<McpCard item={{ name: 'mcp__notes__add_note', input: { text: '<b>x</b>' }, state: 'done',
      result: { content: '<img src=x onerror=alert(1)>', isError: false } }} />, el);
    expect(el.querySelector('.mcp-server-chip')?.textContent).toBe('notes');
    expect(el.querySelector('.tool-title code')?.textContent).toBe('add_note');
    expect(el.querySelector('.mcp-input')?.textContent).toContain('"<b>x</b>"');
    expect(el.querySelector('.mcp-result')?.textContent).toBe('<img src=x onerror=alert(1)>');
    expect(el.querySelector('img')).toBeNull();
  });
});
