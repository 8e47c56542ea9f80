// The admission webhook's HTTPS server: POST /validate (AdmissionReview v1), /healthz, /readyz.
// Certificates can be swapped while it runs: new connections get the new one, open ones finish.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { review, type AdmissionReview } from './admission.ts';
import type { Logger } from '../lib/log.ts';

export interface WebhookServer {
  port: number;
  setCertificate(certPem: string, keyPem: string): void;
  close(): Promise<void>;
}

const maxBody = 3 * 1024 * 1024; // the apiserver's own request size limit

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBody) reject(new Error('request body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
  res.end(text);
}

export async function startWebhookServer(opts: {
  host?: string;
  port?: number;
  certPem: string;
  keyPem: string;
  log: Logger;
  ready?: () => boolean;
}): Promise<WebhookServer> {
  const { log } = opts;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url?.split('?')[0];
    if (req.method === 'GET' && url === '/healthz') return send(res, 200, 'ok');
    if (req.method === 'GET' && url === '/readyz')
      return (opts.ready?.() ?? true) ? send(res, 200, 'ok') : send(res, 503, 'not ready');
    if (req.method !== 'POST' || url !== '/validate') return send(res, 404, 'not found');
    let input: AdmissionReview;
    try {
      input = JSON.parse(await readBody(req)) as AdmissionReview;
    } catch (err) {
      return send(res, 400, `bad AdmissionReview: ${(err as Error).message}`);
    }
    try {
      const started = process.hrtime.bigint();
      const d = review(input);
      log.info('admission', {
        uid: input.request?.uid,
        operation: input.request?.operation,
        kind: d.kind,
        namespace: d.namespace,
        name: d.name,
        verdict: d.verdict,
        errors: d.errors,
        warnings: d.warnings,
        us: Number((process.hrtime.bigint() - started) / 1000n),
      });
      send(res, 200, d.review);
    } catch (err) {
      log.error('admission failed', { uid: input.request?.uid, error: (err as Error).message });
      send(res, 400, (err as Error).message);
    }
  };
  const server: Server = createServer({ cert: opts.certPem, key: opts.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res).catch((err) => send(res, 500, String(err)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    setCertificate(certPem, keyPem) {
      server.setSecureContext({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2' });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
