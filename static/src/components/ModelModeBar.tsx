import { MODE_LABELS, MODES } from '../lib/commands';
import type { PermissionMode } from '../lib/types';

export interface ModelChoice {
  id: string;
  name?: string;
}

interface Props {
  model: string;
  mode: PermissionMode;
  models: ModelChoice[];
  /** A PATCH is in flight. */
  saving: boolean;
  onModel: (id: string) => void;
  onMode: (m: PermissionMode) => void;
}

/**
 * The session's model and permission mode, under the message box: both
 * switch mid-session (the next step of a running run uses them).
 * Shift+Tab in the message box cycles the mode.
 */
export function ModelModeBar({ model, mode, models, saving, onModel, onMode }: Props) {
  const list = models.some((m) => m.id === model) ? models : [{ id: model }, ...models];
  return (
    <div class="model-mode-bar">
      <label class="mode-badge-wrap" title="Permission mode (Shift+Tab in the message box cycles it)">
        <span class="sr-only">Permission mode</span>
        <select
          class={`mode-badge mode-${mode}`}
          data-mode={mode}
          value={mode}
          disabled={saving}
          onChange={(e) => onMode((e.target as HTMLSelectElement).value as PermissionMode)}
        >
          {MODES.map((m) => <option key={m} value={m}>{MODE_LABELS[m]}</option>)}
        </select>
      </label>
      <label class="model-picker-wrap" title="Model for the next request">
        <span class="sr-only">Model</span>
        <select
          class="model-picker"
          value={model}
          disabled={saving}
          onChange={(e) => onModel((e.target as HTMLSelectElement).value)}
        >
          {list.map((m) => <option key={m.id} value={m.id}>{m.name || m.id}</option>)}
        </select>
      </label>
    </div>
  );
}
