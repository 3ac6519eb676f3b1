/** Option value parsers shared by the commands: each returns the value or throws commander's InvalidArgumentError. */
import { InvalidArgumentError } from 'commander';

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`Expected a number above 0, got "${value}".`);
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`Expected a number of at least 0, got "${value}".`);
  return n;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`Expected a positive integer, got "${value}".`);
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`Expected an integer of at least 0, got "${value}".`);
  return n;
}

/** A strength from 0 to 1 (`--denoise`). */
export function unitInterval(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`Expected a number from 0 to 1, got "${value}".`);
  return n;
}

/** `WxH`, e.g. `3840x2160`. */
export function box(value: string): { width: number; height: number } {
  const match = /^(\d+)x(\d+)$/i.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`Expected WIDTHxHEIGHT such as 3840x2160, got "${value}".`);
  return { width: positiveInt(match[1]!), height: positiveInt(match[2]!) };
}

export function tileSize(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 16) throw new InvalidArgumentError(`Expected "auto" or an integer of at least 16, got "${value}".`);
  return n;
}
