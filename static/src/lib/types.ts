// Shapes of the claude-web API (docs/api.md). Only what the UI reads.

export type Role = 'admin' | 'user';

export interface User {
  username: string;
  role: Role;
  created_at?: string;
  last_login?: string | null;
  disabled?: boolean;
  can_use_code_server?: boolean;
}

/**
 * 'queued' is the UI's own word (never stored by the server): the session's
 * messages wait for a slot or a runner, nothing runs yet.
 */
export type SessionStatus = 'idle' | 'running' | 'waiting' | 'error' | 'queued';
export type PermissionMode = 'default' | 'acceptEdits' | 'plan' | 'bypassPermissions';

export interface UsageTotals {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cost_usd: number;
}

export interface Session {
  id: string;
  title: string;
  model: string;
  permission_mode: PermissionMode;
  template: string | null;
  owner: string;
  status: SessionStatus;
  created_at: string;
  updated_at: string;
  last_activity: string;
  /** The host directory: only for users who may use code-server (can_use_code_server). */
  files_path?: string;
  usage?: UsageTotals;
}

/** GET /api/sessions?q=: a session and where the query matched. */
export interface SessionMatch extends Session {
  match: { in: 'title' | 'message'; snippet: string; role?: string; message_index?: number };
}

// ---- conversation history (GET /messages): Messages API blocks ----
export interface TextBlock { type: 'text'; text: string }
export interface ImageBlock { type: 'image'; source: { type: 'base64'; media_type: string; data: string } }
export interface ThinkingBlock { type: 'thinking'; thinking: string; signature?: string }
export interface RedactedThinkingBlock { type: 'redacted_thinking'; data?: string }
export interface ToolUseBlock { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
export interface ToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content?: string | Array<{ type: string; text?: string }>;
  is_error?: boolean;
}
export interface OtherBlock { type: string; [k: string]: unknown }
export type Block =
  | TextBlock
  | ThinkingBlock
  | RedactedThinkingBlock
  | ToolUseBlock
  | ToolResultBlock;

export interface HistoryMessage {
  role: 'user' | 'assistant';
  content: string | Array<Block | OtherBlock>;
}

/** Where a run that has not started stands (docs/scheduler.md). */
export type QueueState = 'session' | 'user' | 'ready';

export interface QueuePosition {
  state?: QueueState | string;
  ahead?: number;
}

/** GET /messages `queued`: a run of the session that has not started yet (its prompt is not in the history). */
export interface QueuedRun {
  run_id: string;
  kind?: string;
  content?: string | Array<{ type: string; text?: string }> | null;
  state?: QueueState | string;
  ahead?: number;
  created_at?: string | number;
}

// ---- events (GET /events) ----
export interface ActiveRun {
  run_id: string;
  kind?: string;
  status?: string;
  first_event_id?: string;
}

export interface PendingPermission {
  request_id: string;
  run_id?: string;
  tool_use_id: string;
  tool: string;
  input: Record<string, unknown>;
  summary: string;
  status?: string;
  created_at?: number;
  expires_at?: number;
}

export interface Snapshot {
  session_id: string;
  status: SessionStatus;
  active_run: ActiveRun | null;
  pending_permissions: PendingPermission[];
  last_event_id: string;
  resume_after: string;
}

export interface ToolResultEvent {
  run_id?: string;
  tool_use_id: string;
  name: string;
  content: string;
  is_error: boolean;
  stdout?: string;
  stderr?: string;
  exit_code?: number | null;
  duration_ms?: number;
  timed_out?: boolean;
  truncated_bytes?: number;
  cwd?: string;
  path?: string;
}

/** One event as it arrives: `id` is the Redis stream id (null for snapshot/ping). */
export interface StreamEvent {
  id: string | null;
  type: string;
  data: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface FileEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mtime: string;
}

export interface DirListing {
  path: string;
  entries: FileEntry[];
  truncated: boolean;
}
