/**
 * Server-Sent Events: each message is `event: <type>` and `data: <JSON>`; a comment line every 15 s keeps proxies
 * and browsers from timing the stream out.
 */
import type { ServerResponse } from 'node:http';

export type JobEventType = 'snapshot' | 'started' | 'frame' | 'tile' | 'done' | 'failed' | 'cancelled';

export const TERMINAL_EVENTS: ReadonlySet<JobEventType> = new Set(['done', 'failed', 'cancelled']);

const HEARTBEAT_MS = 15_000;

export interface EventStream {
  send(type: JobEventType, data: unknown): void;
  /** Ends the stream (idempotent). */
  end(): void;
  readonly closed: boolean;
}

/** Starts an event stream on a raw response; `onClose` runs once, whichever side ends it. */
export function openEventStream(response: ServerResponse, onClose: () => void): EventStream {
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let closed = false;
  const heartbeat = setInterval(() => {
    if (!closed) response.write(': keep-alive\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();
  const finish = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    onClose();
  };
  response.on('close', finish);
  response.on('error', finish);
  return {
    send(type, data) {
      if (closed) return;
      response.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end() {
      if (closed) return;
      finish();
      response.end();
    },
    get closed() {
      return closed;
    },
  };
}
