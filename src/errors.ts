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

  /**
   * Control characters in the message or the file name (which may quote a file's contents: a blob name of a .param
   * file, a key of a checkpoint) are escaped, so that no file can move the cursor, retitle the terminal or print NUL
   * bytes through an error message; the message stays on one line.
   */
  constructor(code: UpscaleErrorCode, message: string, options: { file?: string; cause?: unknown } = {}) {
    super(terminalSafe(options.file === undefined ? message : `${options.file}: ${message}`), { cause: options.cause });
    this.code = code;
    this.file = options.file;
  }
}

/** C0 and C1 control characters (ESC, BEL, NUL, newlines...) and line separators as visible `\xNN` / `\uNNNN` escapes. */
export function terminalSafe(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

export function isUpscaleError(error: unknown): error is UpscaleError {
  return error instanceof UpscaleError;
}

/** Throws the standard cancellation error when the signal has fired; called between tiles, strips and files. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new UpscaleError('ABORTED', 'cancelled');
}
