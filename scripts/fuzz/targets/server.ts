/**
 * Fuzz target for the server's intake, kept to the pure functions: a multipart/form-data body is split here the way
 * @fastify/multipart (busboy) hands it over, within the server's form limits, and its text fields go through
 * parseJobFields and the upload's file name through displayName and attachment. No network, no server.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError, attachment, displayName, parseJobFields } from '../../../src/server/limits.js';
import type { FuzzInput } from '../mutate.js';
import type { FuzzTarget } from '../target.js';

/** src/server/app.ts FORM_LIMITS: busboy stops at 16 fields, truncates names to 64 bytes and values to 1024. */
const LIMITS = { fields: 16, fieldSize: 1024, fieldNameSize: 64 } as const;

const decoder = new TextDecoder();

/** The fields and the file name of a multipart body; the boundary is taken from its first line. */
function splitMultipart(body: Uint8Array): { fields: Map<string, string>; filename: string | undefined } {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1');
  const fields = new Map<string, string>();
  let filename: string | undefined;
  const boundary = text.slice(0, Math.max(0, text.indexOf('\r\n')));
  if (!boundary.startsWith('--') || boundary.length < 3) return { fields, filename };
  let count = 0;
  for (const part of text.split(boundary).slice(1)) {
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd < 0) continue;
    const headers = part.slice(0, headerEnd);
    const disposition = /content-disposition:\s*form-data((?:\s*;\s*[\w*]+="[^"]*")*)/i.exec(headers);
    if (disposition === null) continue;
    const params = new Map([...(disposition[1] ?? '').matchAll(/([\w*]+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
    // Values and names are bytes read as UTF-8 (busboy does the same, replacing invalid sequences).
    const utf8 = (latin1: string): string => decoder.decode(Buffer.from(latin1, 'latin1'));
    const value = part.slice(headerEnd + 4).replace(/\r\n$/, '');
    if (params.has('filename')) {
      filename = utf8(params.get('filename')!);
      continue;
    }
    if (++count > LIMITS.fields) break;
    fields.set(utf8((params.get('name') ?? '').slice(0, LIMITS.fieldNameSize)), utf8(value.slice(0, LIMITS.fieldSize)));
  }
  return { fields, filename };
}

function body(fields: Readonly<Record<string, string>>, filename: string): Uint8Array {
  const boundary = '----upscalefuzz7MA4YWxkTrZu0gW';
  const parts = Object.entries(fields).map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  const file = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n\r\n`;
  return new Uint8Array(Buffer.from(`${parts.join('')}${file}--${boundary}--\r\n`, 'latin1'));
}

export const multipart: FuzzTarget = {
  name: 'multipart',
  about: 'parseJobFields, displayName and attachment (src/server/limits.ts) on the fields of a multipart body',
  contract: 'ApiError with status 400 (INVALID_OPTION, MODEL_NOT_FOUND) from parseJobFields; nothing from displayName or attachment',
  parts: ['text'],
  seeds: async ({ tmp }) => {
    // The model list includes the user's library: an empty one here, so that runs do not depend on this machine.
    const library = join(tmp, 'models');
    mkdirSync(library, { recursive: true });
    process.env['UPSCALE_MODELS_DIR'] = library;
    const seeds: FuzzInput[] = [
      [body({ model: 'photo', scale: '2.5', format: 'webp' }, 'holiday.jpg')],
      [body({ model: 'anime', width: '1920', denoise: '0.5' }, '../../etc/passwd.png')],
      [body({ model: 'fast-x2', fit: '3840x2160', format: 'jpg' }, 'café × 2.png')],
      [body({ model: 'lanczos3', height: '300' }, '')],
      [body({ model: 'PHOTO-GAN ', scale: '4', denoise: '1' }, 'a"b;c\\d.tiff')],
    ];
    return seeds;
  },
  run: ([bytes]) => {
    const { fields, filename } = splitMultipart(bytes!);
    const name = displayName(filename);
    attachment(`${name.replace(/\.[^.]*$/, '')}@2x.png`);
    return Object.keys(parseJobFields(fields)).sort().join('+');
  },
  accepts: (error) => error instanceof ApiError && error.status === 400,
};
