// /healthz, /readyz and /metrics on one plain-HTTP port (probes and Prometheus scrape in-cluster).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthServerOptions {
  host?: string;
  /** 0 picks a free port */
  port: number;
  /** prom-client's registry: served as /metrics in the Prometheus text format */
  registry: Registry;
  /** undefined = healthy; a string says what is wrong */
  healthz: () => string | undefined;
  readyz: () => string | undefined;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const probe = (check: () => string | undefined) => {
      const problem = check();
      res.writeHead(problem === undefined ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(problem === undefined ? 'ok\n' : `${problem}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
    } else if (path === '/healthz' || path === '/livez') {
      probe(opts.healthz);
    } else if (path === '/readyz') {
      probe(opts.readyz);
    } else if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
        (e: unknown) =>
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${String(e)}\n`),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
