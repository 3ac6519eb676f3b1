/**
 * The HTTP application: the JSON API under /api (docs/web-api.md) and the built front end at /. Every failure is
 * answered as `{ error: { code, message } }` with a meaningful status; nothing a client sends can crash the process.
 */
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import fastifyMultipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import { fastify, type FastifyError, type FastifyInstance } from 'fastify';
import { listModels } from '../models/registry.js';
import { openEventStream, TERMINAL_EVENTS } from './events.js';
import type { JobStore } from './jobs.js';
import { ApiError, apiErrorFrom, attachment, parseJobFields, type NormalizedServerOptions } from './limits.js';

const debug = debuglog('upscale:server');

/** Form parts beyond these are refused: one file and the few text fields of a job. */
const FORM_LIMITS = { files: 1, fields: 16, parts: 17, fieldSize: 1024, fieldNameSize: 64, headerPairs: 64 } as const;

const NO_FRONT_END = `<!doctype html>
<html lang="en"><meta charset="utf-8"><title>upscale</title>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 4em auto">
<h1>upscale</h1>
<p>The web app has not been built. Run <code>npm run build</code> (it writes <code>dist/web/</code>), then start
<code>upscale serve</code> again.</p>
<p>The JSON API works without it: <a href="/api/models">/api/models</a>, <a href="/api/jobs">/api/jobs</a>
(docs/web-api.md).</p>
</body></html>
`;

interface IdParams {
  id: string;
}

export async function buildApp(store: JobStore, options: NormalizedServerOptions): Promise<FastifyInstance> {
  const app = fastify({ logger: false, bodyLimit: 64 * 1024, forceCloseConnections: true });

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const api = toApiError(error, options);
    if (api.status >= 500) debug('%s: %O', api.code, error);
    void reply.status(api.status).type('application/json; charset=utf-8').send({ error: { code: api.code, message: api.message } });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
  });

  await app.register(fastifyMultipart, { limits: { ...FORM_LIMITS, fileSize: options.maxUploadBytes } });

  if (existsSync(join(options.webRoot, 'index.html'))) {
    await app.register(fastifyStatic, { root: options.webRoot, prefix: '/', wildcard: true, index: 'index.html' });
  } else {
    app.get('/', (_request, reply) => reply.type('text/html; charset=utf-8').send(NO_FRONT_END));
  }

  app.get('/api/models', () => listModels());

  app.get('/api/jobs', () => store.list());

  app.post('/api/jobs', async (request, reply) => {
    if (!request.isMultipart()) {
      throw new ApiError(400, 'BAD_REQUEST', 'expected a multipart/form-data body with a "file" part (the image) and text fields (model, scale, width, height, fit, format, denoise)');
    }
    const fields = new Map<string, string>();
    /** Fields given more than once, and how many times: refused once the body has been read. */
    const repeated = new Map<string, number>();
    let file: { filename: string; bytes: Buffer } | undefined;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'file') {
            part.file.resume();
            throw new ApiError(400, 'BAD_REQUEST', `unexpected file part "${part.fieldname.slice(0, 40)}"; the image goes in the "file" part`);
          }
          file = { filename: part.filename, bytes: await part.toBuffer() };
        } else if (fields.has(part.fieldname)) {
          repeated.set(part.fieldname, (repeated.get(part.fieldname) ?? 1) + 1);
        } else {
          fields.set(part.fieldname, typeof part.value === 'string' ? part.value : String(part.value));
        }
      }
    } catch (error) {
      // The parser's own errors (truncated or malformed bodies) carry no status: they are the client's.
      if (error instanceof ApiError || (error as FastifyError).statusCode !== undefined) throw error;
      throw new ApiError(400, 'BAD_REQUEST', `malformed multipart/form-data body (${error instanceof Error ? error.message : String(error)})`);
    }
    for (const [name, times] of repeated) {
      throw new ApiError(400, 'INVALID_OPTION', `Expected the field "${name.slice(0, 40)}" once, got it ${times} times`);
    }
    if (file === undefined) throw new ApiError(400, 'BAD_REQUEST', 'expected a "file" part holding the image');
    const job = await store.create({ filename: file.filename, bytes: file.bytes, request: parseJobFields(fields) });
    return reply.status(201).header('location', `/api/jobs/${job.id}`).send(job);
  });

  app.get<{ Params: IdParams }>('/api/jobs/:id', (request) => store.get(request.params.id));

  app.post<{ Params: IdParams }>('/api/jobs/:id/cancel', (request, reply) => reply.status(202).send(store.cancel(request.params.id)));

  app.delete<{ Params: IdParams }>('/api/jobs/:id', async (request, reply) => {
    await store.delete(request.params.id);
    return reply.status(204).send();
  });

  app.get<{ Params: IdParams }>('/api/jobs/:id/input', (request, reply) => {
    const input = store.input(request.params.id);
    return reply.type(input.mimeType).header('content-length', input.bytes).send(createReadStream(input.path));
  });

  app.get<{ Params: IdParams }>('/api/jobs/:id/result', (request, reply) => {
    const result = store.result(request.params.id);
    return reply
      .type(result.mimeType)
      .header('content-length', result.bytes)
      .header('content-disposition', attachment(result.filename))
      .send(createReadStream(result.path));
  });

  app.get<{ Params: IdParams & { pass: string; index: string } }>('/api/jobs/:id/tiles/:pass/:index', async (request, reply) => {
    const { id, pass, index } = request.params;
    const p = Number(pass);
    const i = Number(index);
    if (!/^\d{1,6}$/.test(pass) || !/^\d{1,9}$/.test(index)) {
      throw new ApiError(400, 'BAD_REQUEST', `expected /tiles/<pass>/<index> with integers, got /tiles/${pass.slice(0, 20)}/${index.slice(0, 20)}`);
    }
    const png = await store.tile(id, p, i);
    if (png === undefined) throw new ApiError(404, 'NOT_FOUND', `tile ${p}/${i} of job ${id} is not finished, or no longer kept`);
    return reply.type('image/png').header('cache-control', 'no-store').send(png);
  });

  app.get<{ Params: IdParams }>('/api/jobs/:id/events', (request, reply) => {
    const id = request.params.id;
    store.get(id); // 404 before the stream starts when there is no such job
    reply.hijack();
    let unsubscribe = (): void => undefined;
    const stream = openEventStream(reply.raw, () => unsubscribe());
    const subscription = store.subscribe(id, (type, data) => {
      stream.send(type, data);
      if (TERMINAL_EVENTS.has(type)) stream.end();
    });
    unsubscribe = subscription.unsubscribe;
    const { job } = subscription;
    stream.send('snapshot', job);
    if (job.status === 'done' || job.status === 'failed' || job.status === 'cancelled') {
      unsubscribe();
      stream.send(job.status, job);
      stream.end();
    }
  });

  return app;
}

/** Maps anything thrown in a handler (ours, the library's, fastify's or its plugins') to a status and a code. */
function toApiError(error: FastifyError, options: NormalizedServerOptions): ApiError {
  if (error instanceof ApiError) return error;
  switch (error.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return new ApiError(413, 'UPLOAD_TOO_LARGE', `upload is larger than the limit of ${megabytes(options.maxUploadBytes)}`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'UPLOAD_TOO_LARGE', 'request body too large; images go in a multipart/form-data "file" part');
    case 'FST_FILES_LIMIT':
      return new ApiError(400, 'BAD_REQUEST', 'expected one file per job, got several');
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new ApiError(400, 'BAD_REQUEST', 'too many form fields (expected file, model, scale, width, height, fit, format, denoise)');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new ApiError(400, 'BAD_REQUEST', 'expected a multipart/form-data body');
    default:
      break;
  }
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new ApiError(error.statusCode, error.statusCode === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', error.message);
  }
  const api = apiErrorFrom(error);
  return api.status >= 500 && api.code === 'INTERNAL' ? new ApiError(500, 'INTERNAL', 'internal error (run with NODE_DEBUG=upscale:server for details)') : api;
}

function megabytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Number((bytes / 1024 / 1024).toPrecision(3))} MB` : `${bytes} bytes`;
}

