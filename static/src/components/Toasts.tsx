export interface Toast {
  id: number;
  level: 'info' | 'error';
  title: string;
  next?: string;
}

export type ToastFn = (t: Omit<Toast, 'id'>) => void;

/** Short-lived messages, announced to screen readers. */
export function Toasts({ toasts }: { toasts: Toast[] }) {
  return (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} class={`toast ${t.level}`}>
          <strong>{t.title}</strong>
          {t.next && <span> {t.next}</span>}
        </div>
      ))}
    </div>
  );
}
