// The webhook process: certificates (from and into their Secret), the HTTPS server, the caBundle
// in the webhook configuration, and a timer that renews before expiry — all without downtime.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  AdmissionregistrationV1Api,
  type KubeConfig,
  type V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { WebhookCertificates, defaultCertOptions, type CertOptions } from './certs.ts';
import { startWebhookServer } from './server.ts';
import { statusOf } from '../lib/kube.ts';
import { repoRoot } from '../lib/paths.ts';
import { logger } from '../lib/log.ts';

export const webhookConfigurationName = 'cilium-ts-policy-validation';

export interface WebhookOptions {
  kc: KubeConfig;
  namespace: string;
  host?: string;
  port?: number;
  /** in-cluster: the Service in front of us (its DNS names go into the certificate) */
  service?: string;
  /**
   * Outside a cluster (the lab): register the webhook configuration ourselves, pointing the
   * apiserver at this URL host (e.g. 127.0.0.1) and our port.
   */
  registerUrlHost?: string;
  /** how often to check the certificates; they are renewed when a third of their life is left */
  checkIntervalMs?: number;
  cert?: Partial<Pick<CertOptions, 'servingValidityMs' | 'caValidityMs' | 'renewFraction'>>;
}

export interface RunningWebhook {
  port: number;
  certs: WebhookCertificates;
  /** check the certificates now (the timer does this too) */
  renew(): Promise<void>;
  stop(): Promise<void>;
}

/** Our webhook configuration as config/webhook/ defines it: one definition for cluster and lab. */
export function webhookConfiguration(): V1ValidatingWebhookConfiguration {
  return parse(
    readFileSync(join(repoRoot, 'config', 'webhook', 'validating-webhook.yaml'), 'utf8'),
  ) as V1ValidatingWebhookConfiguration;
}

async function register(kc: KubeConfig, url: string, caBundle: string): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const body = webhookConfiguration();
  for (const w of body.webhooks ?? []) w.clientConfig = { url, caBundle: Buffer.from(caBundle).toString('base64') };
  try {
    const existing = await api.readValidatingWebhookConfiguration({ name: body.metadata!.name! });
    body.metadata!.resourceVersion = existing.metadata?.resourceVersion;
    await api.replaceValidatingWebhookConfiguration({ name: body.metadata!.name!, body });
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
    await api.createValidatingWebhookConfiguration({ body });
  }
}

export async function runWebhook(opts: WebhookOptions): Promise<RunningWebhook> {
  const log = logger('webhook');
  const dnsNames = opts.service
    ? [
        `${opts.service}.${opts.namespace}.svc`,
        `${opts.service}.${opts.namespace}.svc.cluster.local`,
        `${opts.service}.${opts.namespace}`,
      ]
    : ['localhost'];
  const certs = new WebhookCertificates(
    opts.kc,
    {
      ...defaultCertOptions,
      ...opts.cert,
      namespace: opts.namespace,
      webhookConfigurations: [webhookConfigurationName],
      dnsNames,
      ipAddresses: opts.registerUrlHost ? [opts.registerUrlHost] : [],
    },
    log,
  );
  let current = await certs.ensure();
  const server = await startWebhookServer({
    host: opts.host,
    port: opts.port,
    certPem: current.certPem,
    keyPem: current.keyPem,
    log,
  });
  if (opts.registerUrlHost) {
    await register(opts.kc, `https://${opts.registerUrlHost}:${server.port}/validate`, current.caBundle);
  }
  log.info('webhook serving', { port: server.port, notAfter: current.notAfter.toISOString() });

  let renewing: Promise<void> | undefined;
  const renew = () =>
    (renewing ??= (async () => {
      try {
        const next = await certs.ensure();
        if (next.certPem !== current.certPem) {
          server.setCertificate(next.certPem, next.keyPem);
          log.info('webhook certificate rotated', { notAfter: next.notAfter.toISOString() });
        }
        current = next;
      } catch (err) {
        // keep serving the certificate we have; the next tick tries again
        log.warn('certificate check failed', { error: (err as Error).message });
      } finally {
        renewing = undefined;
      }
    })());
  // renew() catches its own failures, so the interval has nothing to await
  const timer = setInterval(() => void renew(), opts.checkIntervalMs ?? 60_000);
  timer.unref();
  return {
    port: server.port,
    certs,
    renew,
    async stop() {
      clearInterval(timer);
      await renewing;
      await server.close();
    },
  };
}
