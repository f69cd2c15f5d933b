// The session's network policy (docs/api.md, "The web"): off, an allowlist of
// domains, or on. It decides whether Claude may use web search and web
// fetch, and whether commands in the sandbox get network ("on", where the
// server allows it). Choices above the person's bound are disabled; the
// server refuses them anyway (403).
import { useEffect, useState } from 'preact/hooks';
import { ApiError, request } from '../lib/api';
import type { Session } from '../lib/types';
import { explainError } from '../lib/words';
import {
  domainProblem, NETWORK_POLICIES, parseDomains, POLICY_LABELS, policyRank, type NetworkFields, type NetworkPolicy as Policy,
} from '../lib/web';
import type { ToastFn } from './Toasts';

type WebSession = Session & NetworkFields;

interface Props {
  session: Session;
  onChanged: (s: Session) => void;
  toast: ToastFn;
}

export function NetworkPolicy({ session, onChanged, toast }: Props) {
  const s = session as WebSession;
  const current: Policy = s.network_policy ?? 'off';
  const [open, setOpen] = useState(false);
  const [policy, setPolicy] = useState<Policy>(current);
  const [domains, setDomains] = useState((s.allowed_domains ?? []).join('\n'));
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (open) return;
    setPolicy(current);
    setDomains((s.allowed_domains ?? []).join('\n'));
  }, [current, s.allowed_domains, open]); // eslint-disable-line react-hooks/exhaustive-deps

  const max = s.network_policy_max ?? 'on';
  const save = async () => {
    setSaving(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { network_policy: policy };
      if (policy === 'allowlist') {
        const list = parseDomains(domains);
        const bad = list.map(domainProblem).find((m) => m !== null);
        if (bad || list.length === 0) {
          setError(bad ?? 'List at least one domain, or choose another policy.');
          return;
        }
        body.allowed_domains = list;
      }
      const next = await request<Session>('PATCH', `/api/sessions/${encodeURIComponent(session.id)}`, { body });
      onChanged(next);
      setOpen(false);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 400 || e.status === 403)) setError(e.message);
      else toast({ level: 'error', ...explainError(e, 'change the network policy') });
    } finally {
      setSaving(false);
    }
  };

  return (
    <div class="net-policy">
      <button type="button" class={`btn subtle net-policy-btn net-${current}`} aria-expanded={open} aria-controls="net-policy-panel"
        title="Web access and sandbox network for this session" onClick={() => setOpen((o) => !o)}>
        Web: {current}
      </button>
      {open && (
        <form id="net-policy-panel" class="net-policy-panel card" aria-label="Network policy"
          onSubmit={(e) => { e.preventDefault(); void save(); }}>
          <fieldset disabled={saving}>
            <legend>Network policy</legend>
            {NETWORK_POLICIES.map((p) => (
              <label key={p} class={`net-choice${policyRank(p) > policyRank(max) ? ' disabled' : ''}`}>
                <input type="radio" name="network_policy" value={p} checked={policy === p}
                  disabled={policyRank(p) > policyRank(max)} onChange={() => setPolicy(p)} />
                {POLICY_LABELS[p]}
                {policyRank(p) > policyRank(max) && <span class="muted small"> (not allowed for your role)</span>}
              </label>
            ))}
            {policy === 'allowlist' && (
              <label class="net-domains">
                Allowed domains (one per line; subdomains included)
                <textarea rows={4} value={domains} placeholder="docs.python.org"
                  onInput={(e) => setDomains((e.target as HTMLTextAreaElement).value)} />
              </label>
            )}
            <p class="muted small">
              {policy === 'on'
                ? (s.sandbox_network || current !== 'on'
                  ? 'Commands in the sandbox also get network, where the server allows it (never the server\'s own addresses).'
                  : 'The server does not give commands network (SANDBOX_NETWORK=off): only Claude\'s web tools are on.')
                : 'Commands in the sandbox have no network. (An allowlist applies to web search and fetch only: the sandbox cannot filter by domain.)'}
            </p>
            {error && <p class="notice-inline warn" role="alert">{error}</p>}
            <div class="net-actions">
              <button type="submit" class="btn primary">Save</button>
              <button type="button" class="btn subtle" onClick={() => { setOpen(false); setError(null); }}>Cancel</button>
            </div>
          </fieldset>
        </form>
      )}
    </div>
  );
}
