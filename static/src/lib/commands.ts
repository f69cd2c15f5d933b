// Slash commands: the built-in ones, the session's custom ones (GET
// /api/sessions/<id>/commands, files in /workspace/.claude/commands/*.md),
// parsing what was typed, the autocomplete filter, and the permission-mode
// cycle of Shift+Tab. A slash command is never sent to Claude as text: the
// built-ins call the API (compact, clear, PATCH, ...), a custom command is
// expanded by the server (POST …/messages {"command","arguments"}).
import type { PermissionMode } from './types';

export interface SlashCommand {
  name: string;
  description: string;
  /** Shown after the name in the menu, e.g. "[focus]". */
  argumentHint?: string;
  /** From /workspace/.claude/commands/<name>.md. */
  custom?: boolean;
}

export const BUILTIN_COMMANDS: SlashCommand[] = [
  { name: 'clear', description: 'Start a new conversation (the files stay; the old one is archived)' },
  { name: 'compact', description: 'Summarise the conversation so far to free context', argumentHint: '[focus]' },
  { name: 'cost', description: "Show this session's token usage and cost" },
  { name: 'export', description: 'Download this session as Markdown', argumentHint: '[md|json]' },
  { name: 'help', description: 'List the slash commands' },
  { name: 'init', description: 'Ask Claude to write CLAUDE.md for this workspace' },
  { name: 'mode', description: 'Show or set the permission mode', argumentHint: '[default|acceptEdits|plan|bypassPermissions]' },
  { name: 'model', description: 'Show or set the model', argumentHint: '[model id]' },
];

/** What /init asks Claude (as Claude Code's /init). */
export const INIT_PROMPT = [
  'Please analyse this workspace (/workspace) and create a CLAUDE.md file in its root that will be given to',
  'future instances of Claude working in it. Include: the commands to build, lint and test (and to run a single',
  'test); the high-level architecture and structure that takes reading several files to understand; and the',
  "project's conventions. Do not repeat what is obvious or list every file, do not invent sections that have no",
  'basis in the code, and if a CLAUDE.md already exists, improve it instead of replacing it.',
].join(' ');

export const MODES: PermissionMode[] = ['default', 'acceptEdits', 'plan', 'bypassPermissions'];

export const MODE_LABELS: Record<PermissionMode, string> = {
  default: 'Ask before edits',
  acceptEdits: 'Accept edits',
  plan: 'Plan mode',
  bypassPermissions: 'Bypass permissions',
};

/**
 * Shift+Tab: default → acceptEdits → plan → default, as in Claude Code.
 * bypassPermissions is never reached by cycling (only chosen explicitly);
 * from it, the cycle goes back to default.
 */
export function nextMode(m: PermissionMode): PermissionMode {
  switch (m) {
    case 'default': return 'acceptEdits';
    case 'acceptEdits': return 'plan';
    default: return 'default';
  }
}

export function isMode(s: string): s is PermissionMode {
  return (MODES as string[]).includes(s);
}

/** "/name args" → {name, args}; null when text is not a slash command. */
export function parseSlash(text: string): { name: string; args: string } | null {
  const m = /^\/([A-Za-z0-9_-]+)(?:\s+([\s\S]*))?$/.exec(text.trim());
  if (!m) return null;
  return { name: m[1], args: (m[2] || '').trim() };
}

/** While the name is being typed ("/", "/co"): the prefix; else null. */
export function slashQuery(text: string): string | null {
  const m = /^\/([A-Za-z0-9_-]*)$/.exec(text);
  return m ? m[1] : null;
}

/** Built-ins first, then custom commands; a custom one never hides a built-in. */
export function allCommands(custom: SlashCommand[]): SlashCommand[] {
  const names = new Set(BUILTIN_COMMANDS.map((c) => c.name));
  return [...BUILTIN_COMMANDS, ...custom.filter((c) => !names.has(c.name))];
}

/** Names starting with the prefix first, then names containing it (case-insensitive). */
export function filterCommands(list: SlashCommand[], prefix: string): SlashCommand[] {
  const p = prefix.toLowerCase();
  const starts = list.filter((c) => c.name.toLowerCase().startsWith(p));
  const contains = list.filter((c) => !c.name.toLowerCase().startsWith(p) && p !== '' && c.name.toLowerCase().includes(p));
  return [...starts, ...contains];
}

export function findCommand(list: SlashCommand[], name: string): SlashCommand | undefined {
  return list.find((c) => c.name === name);
}
