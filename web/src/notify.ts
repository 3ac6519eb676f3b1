/** Messages for people: errors from the API and notices, in a live region so screen readers read them. */
import { ApiError } from './api.js';
import { byId, h } from './dom.js';

export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Shows a message; errors stay until dismissed, notices fade after a few seconds. */
export function notify(text: string, kind: 'error' | 'info' = 'error'): void {
  const region = byId('messages');
  const close = h('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss message' }, '×');
  const item = h('div', { class: `message ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, h('span', {}, text), close);
  close.addEventListener('click', () => item.remove());
  region.append(item);
  if (kind === 'info') setTimeout(() => item.remove(), 4000);
  while (region.children.length > 4) region.firstElementChild?.remove();
}

export function reportError(context: string, error: unknown): void {
  notify(`${context}: ${messageOf(error)}`);
}
