// The HTTP client: JSON in and out, the cookie for authentication, the CSRF
// header on every state-changing request, errors as ApiError.
import type {
  DirListing, HistoryMessage, ImageBlock, TextBlock, PermissionMode, QueuedRun, QueueState, Session, ToolResultEvent, User,
} from './types';
import type { SessionMatch } from './types';
import type { NoticeRecord } from './transcript';

export class ApiError extends Error {
  status: number;
  type: string;
  requestId: string | null;
  retryAfter: number | null;

  constructor(status: number, type: string, message: string, requestId: string | null = null,
    retryAfter: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.type = type;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }
}

/** Called once per 401 answer to an authenticated request (the token expired or was revoked). */
let onUnauthorized: (() => void) | null = null;
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}

/** Reports an expired login found some other way (e.g. the event stream got 401). */
export function notifyUnauthorized(): void {
  if (onUnauthorized) onUnauthorized();
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface RequestOpts {
  body?: unknown;
  raw?: BodyInit;
  headers?: Record<string, string>;
  /** Do not treat a 401 as an expired login (the login request itself). */
  noAuthRedirect?: boolean;
  signal?: AbortSignal;
}

export async function request<T>(method: Method, path: string, opts: RequestOpts = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...(opts.headers || {}) };
  // The server requires it on cookie-authenticated POST/PUT/PATCH/DELETE (CSRF);
  // harmless on GET.
  headers['X-Requested-With'] = 'claude-web';
  let body: BodyInit | undefined;
  if (opts.raw !== undefined) {
    body = opts.raw;
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: opts.signal });
  } catch (e) {
    if ((e as Error)?.name === 'AbortError') throw e;
    throw new ApiError(0, 'network_error', 'The server could not be reached.');
  }
  if (res.status === 204) return undefined as T;
  const ct = res.headers.get('Content-Type') || '';
  let data: any = null; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (ct.includes('application/json')) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    const ra = res.headers.get('Retry-After');
    const apiErr = new ApiError(res.status, err.type || `http_${res.status}`,
      err.message || res.statusText || `HTTP ${res.status}`, err.request_id || res.headers.get('X-Request-ID'),
      ra !== null && /^\d+$/.test(ra) ? Number(ra) : null);
    if (res.status === 401 && !opts.noAuthRedirect && onUnauthorized) onUnauthorized();
    throw apiErr;
  }
  return data as T;
}

const enc = encodeURIComponent;
const S = (id: string) => `/api/sessions/${enc(id)}`;

export const api = {
  login: (username: string, password: string) =>
    request<{ token: string; user: User; expires_at: string }>('POST', '/api/auth/login',
      { body: { username, password }, noAuthRedirect: true }),
  logout: () => request<void>('POST', '/api/auth/logout', { noAuthRedirect: true }),
  /** Ends every token of the account (all devices, this one included). */
  logoutAll: () => request<void>('POST', '/api/auth/logout-all', { noAuthRedirect: true }),
  me: () => request<User>('GET', '/api/auth/me', { noAuthRedirect: true }),

  listSessions: (cursor?: string | null) =>
    request<{ sessions: Session[]; next_cursor: string | null }>('GET',
      `/api/sessions?limit=100${cursor ? `&cursor=${enc(cursor)}` : ''}`),
  getSession: (id: string) => request<Session>('GET', S(id)),
  /** Titles and message texts of one's own sessions (case-insensitive). */
  searchSessions: (q: string) =>
    request<{ sessions: SessionMatch[]; partial?: boolean }>('GET', `/api/sessions?q=${enc(q)}`),
  createSession: (b: { title?: string; template?: string; permission_mode?: PermissionMode }) =>
    request<Session>('POST', '/api/sessions', { body: b }),
  updateSession: (id: string, b: { title?: string; model?: string; permission_mode?: PermissionMode }) =>
    request<Session>('PATCH', S(id), { body: b }),
  deleteSession: (id: string) => request<void>('DELETE', S(id)),

  messages: (id: string) =>
    request<{
      session_id: string; messages: HistoryMessage[]; tool_details?: Record<string, ToolResultEvent>;
      /** Approvals, errors, stops, retries, resumes as stored (docs/api.md). */
      notices?: NoticeRecord[];
      /** Runs not started yet, oldest first (docs/scheduler.md). */
      queued?: QueuedRun[];
      /** After /clear: {at, archived, messages_before}. */
      cleared?: Record<string, unknown> | null;
    }>('GET', `${S(id)}/messages`),
  /** 202: queued (behind the session's current run when there is one: state "session"). */
  send: (id: string, content: string | Array<TextBlock | ImageBlock>, attachments?: Array<{ path: string }>) =>
    request<{ run_id: string; status: string; state?: QueueState | string; ahead?: number }>(
      'POST', `${S(id)}/messages`, { body: attachments?.length ? { content, attachments } : { content } }),
  /** Removes a run that has not started: 200; 409 once it has started; 404 unknown. */
  removeRun: (id: string, runId: string) =>
    request<{ run_id: string; status: string }>('DELETE', `${S(id)}/runs/${enc(runId)}`),
  cancel: (id: string) => request<{ run_id: string }>('POST', `${S(id)}/cancel`),
  compact: (id: string, focus?: string) =>
    request<{ run_id: string }>('POST', `${S(id)}/compact`, focus ? { body: { focus } } : {}),
  /** A plan request (exit_plan_mode) takes `mode`: what the session switches to on approval. */
  decide: (id: string, requestId: string, decision: 'allow' | 'deny', remember: boolean, message?: string,
    mode?: 'acceptEdits' | 'default') =>
    request<unknown>('POST', `${S(id)}/permissions/${enc(requestId)}`,
      { body: { decision, remember, ...(message ? { message } : {}), ...(mode ? { mode } : {}) } }),
  // ---- controls: models, /clear, custom slash commands ----
  models: () => request<{ models: Array<{ id: string; name?: string }>; default: string }>('GET', '/api/models'),
  /** /clear: a new conversation (the old one archived), same files; 409 while a run is active. */
  clear: (id: string) => request<{ run_id: string }>('POST', `${S(id)}/clear`),
  commands: (id: string) =>
    request<{ commands: Array<{ name: string; description: string; argument_hint?: string }> }>('GET', `${S(id)}/commands`),
  /** A custom command, expanded by the server (the stored message is the expanded text). */
  sendCommand: (id: string, command: string, args: string) =>
    request<{ run_id: string; status: string; state?: QueueState | string; ahead?: number }>(
      'POST', `${S(id)}/messages`, { body: { command, arguments: args } }),

  /** The @ menu: files whose path contains q as a subsequence, best first. */
  searchFiles: (id: string, q: string, limit = 20, signal?: AbortSignal) =>
    request<{ query: string; results: Array<{ path: string; size: number }>; truncated: boolean }>('GET',
      `${S(id)}/files/search?q=${enc(q)}&limit=${limit}`, { signal }),
  listFiles: (id: string, path: string) => request<DirListing>('GET', `${S(id)}/files?path=${enc(path)}`),
  putFile: (id: string, path: string, data: Blob) =>
    request<{ path: string; size: number }>('PUT', `${S(id)}/files/content?path=${enc(path)}`,
      { raw: data, headers: { 'Content-Type': 'application/octet-stream' } }),
  deleteFile: (id: string, path: string) => request<void>('DELETE', `${S(id)}/files/content?path=${enc(path)}`),
  mkdir: (id: string, path: string) => request<unknown>('POST', `${S(id)}/files/mkdir`, { body: { path } }),
  /** Undoes Claude's last edit to a file (deletes it if Claude created it). */
  revertEdit: (id: string, path: string) =>
    request<{ path: string; reverted: boolean }>('POST', `${S(id)}/edits/revert`, { body: { path } }),
};

export const urls = {
  events: (id: string, after?: string | null) => `${S(id)}/events${after ? `?after=${enc(after)}` : ''}`,
  fileContent: (id: string, path: string, download = false) =>
    `${S(id)}/files/content?path=${enc(path)}${download ? '&download=1' : ''}`,
  archive: (id: string) => `${S(id)}/archive`,
  /** /export (the transcript as Markdown or JSON). */
  exportSession: (id: string, format: 'md' | 'json' = 'md') => `${S(id)}/export?format=${format}`,
  vscode: (filesPath: string) => `/code/?folder=${enc(filesPath)}`,
};
