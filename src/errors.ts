/**
 * Every failure a user can act on is an UpscaleError with a stable `code`; messages name the file and say what
 * was expected and what was found, on one line.
 */
export type UpscaleErrorCode =
  | 'INVALID_OPTION'
  | 'INPUT_NOT_FOUND'
  | 'INPUT_EMPTY'
  | 'INPUT_UNSUPPORTED'
  | 'INPUT_CORRUPT'
  | 'INPUT_TOO_LARGE'
  | 'OUTPUT_EXISTS'
  | 'OUTPUT_FAILED'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_INVALID'
  | 'INFERENCE_FAILED'
  /** A program the task needs (ffmpeg for video and APNG) is missing, too old or lacks a feature. */
  | 'DEPENDENCY_MISSING'
  | 'ABORTED';

export class UpscaleError extends Error {
  override readonly name = 'UpscaleError' as const;
  readonly code: UpscaleErrorCode;
  /** The file the error is about, when there is one. */
  readonly file: string | undefined;

  constructor(code: UpscaleErrorCode, message: string, options: { file?: string; cause?: unknown } = {}) {
    super(options.file === undefined ? message : `${options.file}: ${message}`, { cause: options.cause });
    this.code = code;
    this.file = options.file;
  }
}

export function isUpscaleError(error: unknown): error is UpscaleError {
  return error instanceof UpscaleError;
}

/** Throws the standard cancellation error when the signal has fired; called between tiles, strips and files. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new UpscaleError('ABORTED', 'cancelled');
}
