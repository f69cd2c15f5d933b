import type { SessionStatus } from '../lib/types';
import { STATUS_LABEL } from '../lib/words';

export function StatusBadge({ status, compact }: { status: SessionStatus; compact?: boolean }) {
  const label = STATUS_LABEL[status] || status;
  return (
    <span class={`badge status-${status}${compact ? ' compact' : ''}`} title={label}>
      <span class="dot" aria-hidden="true" />
      <span class="badge-text">{compact && status === 'waiting' ? 'Needs approval' : label}</span>
    </span>
  );
}
