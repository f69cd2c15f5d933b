// Everything the UI says about errors and states, in words a person
// understands, each with what to do next.
import { ApiError } from './api';

export interface Explained {
  title: string;
  next: string;
}

/** An API or network error, for a given action ("send the message", "upload the file"). */
export function explainError(e: unknown, action = 'do that'): Explained {
  if (!(e instanceof ApiError)) {
    return { title: `Could not ${action}.`, next: 'Something unexpected went wrong in the page. Reload it and try again.' };
  }
  switch (e.status) {
    case 0:
      return { title: `Could not ${action}: the server cannot be reached.`, next: 'Check your network connection, then try again.' };
    case 401:
      return { title: 'Your sign-in has expired.', next: 'Sign in again; what you typed is kept.' };
    case 403:
      return {
        title: `The server refused to ${action}.`,
        next: 'Reload the page and try again. If it keeps happening, ask an administrator to check your account.',
      };
    case 404:
      return { title: `Could not ${action}: it no longer exists.`, next: 'It may have been deleted in another window. Reload the list.' };
    case 409:
      if (e.type === 'session_limit') {
        return { title: 'You have reached the maximum number of sessions.', next: 'Delete a session you no longer need, then create a new one.' };
      }
      if (action === 'send the message') {
        // Messages queue behind the current run, up to SESSION_QUEUE_MAX.
        return {
          title: 'Too many messages are already waiting in this session.',
          next: 'Wait until Claude starts on one of them (or remove one), then send again.',
        };
      }
      if (/run|active|conflict/i.test(e.message) && /message|run/i.test(action)) {
        return { title: 'Claude is still working on the previous message.', next: 'Wait for it to finish, or press Stop, then try again.' };
      }
      return { title: `Could not ${action}: ${lowerFirst(e.message)}.`, next: 'Refresh and try again.' };
    case 412:
      return { title: 'The file changed on the server meanwhile.', next: 'Reload it and apply your change again.' };
    case 413:
      return { title: 'The file is too large for the server.', next: 'Upload a smaller file, or split it.' };
    case 429:
      return {
        title: 'Too many requests.',
        next: e.retryAfter ? `Wait ${e.retryAfter} s, then try again.` : 'Wait a moment, then try again.',
      };
    case 502:
    case 503:
    case 504:
      return { title: `Could not ${action}: the server is busy or restarting.`, next: 'Try again in a few seconds.' };
    default:
      if (e.status >= 500) return { title: `Could not ${action}: the server had a problem.`, next: `Try again. If it persists, tell an administrator (request ${e.requestId ?? 'unknown'}).` };
      return { title: `Could not ${action}: ${lowerFirst(e.message)}.`, next: 'Check what you entered and try again.' };
  }
}

function lowerFirst(s: string): string {
  s = s.replace(/\.\s*$/, '');
  return s ? s[0].toLowerCase() + s.slice(1) : s;
}

/** A run that failed (run.error {type, message}). */
export function explainRunError(type: string, message: string): Explained {
  const m = message || '';
  switch (type) {
    case 'configuration_error':
      return { title: 'The server is not set up to reach Claude.', next: m || 'Ask the administrator to configure the Anthropic API key.' };
    case 'sandbox_unavailable':
      return { title: 'Commands cannot run on this server right now.', next: `${m ? `${m}. ` : ''}Ask the administrator to check the sandbox.` };
    case 'authentication_error':
      return { title: "The server's Anthropic API key was rejected.", next: 'Ask the administrator to check the API key.' };
    case 'permission_error':
      return { title: 'The Anthropic API refused this request.', next: 'Ask the administrator to check the account\'s access.' };
    case 'billing_error':
      return { title: 'The Anthropic account has a billing problem.', next: 'Ask the administrator to check the account.' };
    case 'rate_limit_error':
      return { title: 'Claude is rate limited right now.', next: 'Wait a minute, then send your message again.' };
    case 'overloaded_error':
      return { title: "Claude's servers are overloaded.", next: 'Wait a minute, then send your message again.' };
    case 'timeout_error':
      return { title: 'Claude took too long to answer.', next: 'Send your message again.' };
    case 'request_too_large':
      return { title: 'The conversation is too large to send.', next: 'Compact the conversation, or start a new session.' };
    case 'invalid_request_error':
      if (/prompt is too long|too many tokens|context/i.test(m)) {
        return { title: 'The conversation is too long for the model.', next: 'Compact the conversation, or start a new session.' };
      }
      return { title: 'Claude rejected the request.', next: `${m ? `${m}. ` : ''}Try rephrasing, or start a new session.` };
    case 'not_found':
      return { title: 'The session no longer exists.', next: 'Pick another session, or create one.' };
    case 'internal_error':
      return { title: 'The server had a problem running this message.', next: 'Send it again. If it keeps failing, tell an administrator.' };
    default:
      return { title: m ? `The run failed: ${m}` : 'The run failed.', next: 'Send your message again. If it keeps failing, tell an administrator.' };
  }
}

export function retryText(attempt: number, delayMs: number, reason: string): string {
  const why = /overload|529/i.test(reason) ? "Claude's servers are busy"
    : /rate|429/i.test(reason) ? 'Claude is rate limited'
      : /timeout|timed out/i.test(reason) ? 'Claude did not answer in time'
        : /connect|network|reset|closed|cut/i.test(reason) ? 'the connection to Claude dropped'
          : 'Claude had a temporary problem';
  const secs = Math.max(1, Math.round(delayMs / 1000));
  return `${why[0].toUpperCase()}${why.slice(1)}; retrying in ${secs} s (attempt ${attempt}).`;
}

/** The notice of run.resumed: the server restarted a step of the run after a crash. */
export function resumedText(redo: string): { title: string; next: string } {
  if (redo === 'tools') {
    return {
      title: 'The server restarted while tools were running.',
      next: 'Tool calls that had not finished are marked interrupted; Claude goes on from there.',
    };
  }
  if (redo === 'message') return { title: 'The server restarted this step; Claude is redoing it.', next: '' };
  return { title: 'The server restarted; Claude goes on from where it was.', next: '' };
}

export function stopReasonText(reason: string): Explained {
  switch (reason) {
    case 'max_tokens':
      return { title: 'The answer was cut off at the length limit.', next: 'Send "continue" to get the rest.' };
    case 'max_turns':
      return { title: 'Claude stopped after the maximum number of steps for one message.', next: 'Send "continue" to let it go on.' };
    case 'refusal':
      return { title: 'Claude declined to continue.', next: 'Rephrase your request.' };
    case 'pause_turn':
      return { title: 'Claude paused.', next: 'Send "continue" to let it go on.' };
    default:
      return { title: `Claude stopped (${reason}).`, next: 'Send another message to go on.' };
  }
}

export const STATUS_LABEL: Record<string, string> = {
  idle: 'Idle',
  running: 'Running',
  waiting: 'Waiting for approval',
  error: 'Error',
  queued: 'Queued',
};

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function aheadOf(q: { ahead?: number } | null | undefined): number {
  return q && typeof q.ahead === 'number' && Number.isFinite(q.ahead) && q.ahead > 0 ? Math.floor(q.ahead) : 0;
}

/**
 * Where a message that has not started stands (run.queued /
 * run.queue_position: state and ahead, docs/scheduler.md), in a few words.
 */
export function queueText(q: { state?: string; ahead?: number } | null | undefined): string {
  const ahead = aheadOf(q);
  switch (q?.state) {
    case 'session':
      // Behind this session's current run; ahead counts what starts before it.
      return ahead > 1 ? `Queued behind the current run — ${ahead} ahead` : 'Queued behind the current run';
    case 'user':
      // Waiting for one of the user's MAX_RUNS_PER_USER slots (runs in other sessions).
      return ahead > 0
        ? `Queued — ${ahead} ahead, waiting for your other runs`
        : 'Queued — next, once one of your other runs finishes';
    case 'ready':
      // Waiting for a free runner.
      return ahead > 0 ? `Queued — ${ahead} ahead` : 'Starting…';
    default:
      return ahead > 0 ? `Queued — ${ahead} ahead` : 'Queued';
  }
}

/** "2 messages queued" (for the status line while Claude works). */
export function queuedCountText(n: number): string {
  return n > 0 ? `${plural(n, 'message', 'messages')} queued` : '';
}

/** A parked run whose answer is in, waiting again for a slot or a runner before it goes on. */
export function continueText(q: { state?: string; ahead?: number }): string {
  const ahead = aheadOf(q);
  if (q.state === 'user') return 'Continuing once one of your other runs finishes…';
  return ahead > 0 ? `Continuing soon — ${ahead} ahead` : 'Continuing…';
}
