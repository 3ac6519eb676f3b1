/**
 * The client of the server's JSON API. Every URL is relative to the page, so the app works behind a reverse proxy
 * under any path. Failures become `ApiError`s whose message is written for people.
 */
import type { Job, JobRequest, ModelDescriptor, TileEvent } from './types.js';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Plain words for the statuses the contract names, used when the body carries no message. */
const STATUS_TEXT: Record<number, string> = {
  400: 'The request was not valid',
  404: 'Not found (the job may have been removed)',
  409: 'Not ready yet',
  413: 'The file is too large for this server',
  415: 'This file is not an image the server can read',
  422: 'The image is too large or damaged',
  429: 'Too many jobs are waiting; wait for some to finish',
};

async function request(url: string, init?: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError('The server cannot be reached. Is `upscale serve` still running?', 'NETWORK', 0);
  }
  if (response.ok) return response;
  let code = `HTTP_${response.status}`;
  let message = STATUS_TEXT[response.status] ?? `The server answered ${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string') code = body.error.code;
    if (typeof body.error?.message === 'string' && body.error.message) message = body.error.message;
  } catch {
    // not JSON: keep the status text
  }
  throw new ApiError(message, code, response.status);
}

async function json<T>(url: string, init?: RequestInit): Promise<T> {
  return (await (await request(url, init)).json()) as T;
}

export function listModels(): Promise<ModelDescriptor[]> {
  return json<ModelDescriptor[]>('api/models');
}

export function listJobs(): Promise<Job[]> {
  return json<Job[]>('api/jobs');
}

export function getJob(id: string): Promise<Job> {
  return json<Job>(`api/jobs/${encodeURIComponent(id)}`);
}

export function createJob(file: Blob, name: string, job: JobRequest): Promise<Job> {
  const form = new FormData();
  form.set('model', job.model);
  const size = job.size;
  if (size.kind === 'scale') form.set('scale', String(size.scale));
  else if (size.kind === 'fit') form.set('fit', size.fit);
  else {
    if (size.width !== undefined) form.set('width', String(size.width));
    if (size.height !== undefined) form.set('height', String(size.height));
  }
  if (job.format) form.set('format', job.format);
  if (job.denoise !== undefined) form.set('denoise', String(job.denoise));
  form.set('file', file, name); // last: a streaming server reads the fields before the file
  return json<Job>('api/jobs', { method: 'POST', body: form });
}

export function cancelJob(id: string): Promise<Job> {
  return json<Job>(`api/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
}

export async function deleteJob(id: string): Promise<void> {
  await request(`api/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

export function inputUrl(id: string): string {
  return `api/jobs/${encodeURIComponent(id)}/input`;
}

export function resultUrl(id: string): string {
  return `api/jobs/${encodeURIComponent(id)}/result`;
}

export async function fetchInput(id: string): Promise<Blob> {
  return (await request(inputUrl(id))).blob();
}

export interface JobEventHandlers {
  /** `snapshot`, `started` and the terminal events all carry the Job. */
  job(job: Job): void;
  tile(tile: TileEvent): void;
}

/**
 * Follows a job's Server-Sent Events until its terminal event. Returns a function that stops listening.
 * EventSource reconnects by itself after a dropped connection; the server then starts again with a snapshot.
 */
export function followJob(id: string, handlers: JobEventHandlers): () => void {
  const source = new EventSource(`api/jobs/${encodeURIComponent(id)}/events`);
  const onJob = (event: MessageEvent<string>): void => {
    const job = JSON.parse(event.data) as Job;
    handlers.job(job);
  };
  const onTerminal = (event: MessageEvent<string>): void => {
    source.close(); // otherwise EventSource reconnects when the stream ends
    onJob(event);
  };
  source.addEventListener('snapshot', onJob);
  source.addEventListener('started', onJob);
  source.addEventListener('tile', (event: MessageEvent<string>) => handlers.tile(JSON.parse(event.data) as TileEvent));
  for (const type of ['done', 'failed', 'cancelled']) source.addEventListener(type, onTerminal);
  return () => source.close();
}
