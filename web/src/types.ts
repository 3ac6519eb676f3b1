/** The shapes the server sends (the web contract: `GET /api/models`, the Job JSON, the SSE events). */

export interface QualityScore {
  psnr: number;
  ssim: number;
}

export interface ModelDescriptor {
  id: string;
  name: string;
  kind: 'network' | 'classical' | string;
  scale: number;
  scales?: number[];
  aliases?: string[];
  description?: string;
  suits?: string;
  parameters?: number;
  quality?: Record<string, QualityScore>;
  secondsPerMegapixel?: number;
  /** Denoise strength 0..1 of a model that has one (`photo`, `photo-gan`, `anime`): its default in the model list. */
  denoise?: number;
  /** The strengths of a family with separately trained noise levels (`anime`: 0, 0.5, 1); absent for a blend. */
  denoiseLevels?: number[];
}

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Size {
  width: number;
  height: number;
}

export interface JobOptions {
  model: string;
  /** The denoise strength used, for a model that has one. */
  denoise?: number;
  scale?: number;
  width?: number;
  height?: number;
  fit?: string;
  format: string;
}

export interface Progress {
  fraction: number;
  etaMs: number | null;
  tilesDone: number;
  tilesTotal: number;
  /** 1-based network pass and the number of passes (x16 with a x4 network: 2). */
  pass: number;
  passes: number;
  /** Animations: the frame being upscaled (0-based) and the frame count. */
  frame?: number;
  frames?: number;
}

export interface Job {
  id: string;
  status: JobStatus;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  position?: number;
  input: { name: string; bytes: number; width: number; height: number; format: string };
  options: JobOptions;
  output?: { name: string; width: number; height: number; format: string; bytes: number };
  progress: Progress;
  error?: { code: string; message: string };
}

export interface TileEvent {
  /** 1-based. */
  pass: number;
  passes: number;
  index: number;
  total: number;
  rect: Rect;
  passSize: Size;
  fraction: number;
  etaMs: number | null;
  url: string;
  frame?: number;
}

/** What the size part of the form asks for: exactly one of these goes with a job. */
export type SizeRequest =
  | { kind: 'scale'; scale: number }
  | { kind: 'size'; width?: number; height?: number }
  | { kind: 'fit'; fit: string };

export interface JobRequest {
  model: string;
  size: SizeRequest;
  /** Empty: the input's format when writable. */
  format: string;
  /** Denoise strength 0..1, only for a model that has one. */
  denoise?: number;
}

export const TERMINAL: ReadonlySet<JobStatus> = new Set(['done', 'failed', 'cancelled']);
