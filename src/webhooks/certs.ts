// The webhook's certificates, managed by the process itself: a CA and a serving certificate kept
// in a Secret (so every replica serves the same), the CA injected as caBundle into our
// ValidatingWebhookConfiguration, renewed before expiry without downtime:
//  - the serving certificate is re-issued by the same CA, so the caBundle does not change;
//  - a CA near its end is replaced, and the bundle trusts old and new CA until the old expires.
import { X509Certificate } from 'node:crypto';
import { CoreV1Api, AdmissionregistrationV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { createCA, issue, loadCA, type CertificateAuthority } from '../lib/pki.ts';
import { statusOf } from '../lib/kube.ts';
import type { Logger } from '../lib/log.ts';

export interface ServingCertificate {
  certPem: string;
  keyPem: string;
  /** every CA the webhook configuration should trust, PEM concatenated, newest first */
  caBundle: string;
  notAfter: Date;
}

export interface CertOptions {
  namespace: string;
  secretName: string;
  /** ValidatingWebhookConfiguration names whose webhooks get our caBundle */
  webhookConfigurations: string[];
  dnsNames: string[];
  ipAddresses: string[];
  servingValidityMs: number;
  caValidityMs: number;
  /** renew when less than this fraction of the validity is left */
  renewFraction: number;
}

export const defaultCertOptions = {
  secretName: 'cilium-ts-webhook-tls',
  servingValidityMs: 90 * 86_400_000,
  caValidityMs: 5 * 365 * 86_400_000,
  renewFraction: 1 / 3,
};

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}
function unb64(s: string | undefined): string {
  return s ? Buffer.from(s, 'base64').toString('utf8') : '';
}

function pemBlocks(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

/** True when less than `fraction` of the certificate's lifetime is left (or it does not parse). */
export function needsRenewal(certPem: string, fraction: number, now = Date.now()): boolean {
  try {
    const c = new X509Certificate(certPem);
    const from = Date.parse(c.validFrom);
    const to = Date.parse(c.validTo);
    return now >= to - (to - from) * fraction;
  } catch {
    return true;
  }
}

export class WebhookCertificates {
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  private readonly opts: CertOptions;
  private readonly log: Logger;
  current: ServingCertificate | undefined;

  constructor(kc: KubeConfig, opts: CertOptions, log: Logger) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.admission = kc.makeApiClient(AdmissionregistrationV1Api);
    this.opts = opts;
    this.log = log;
  }

  /**
   * Read the Secret; create or renew what is missing or near its end; store it; inject the
   * caBundle. Safe to call from several replicas: the Secret write is conditional on its
   * resourceVersion, and the loser re-reads what the winner wrote.
   */
  async ensure(): Promise<ServingCertificate> {
    for (let attempt = 0; ; attempt++) {
      const secret = await this.readSecret();
      const data = secret?.data ?? {};
      const stored = {
        ca: unb64(data['ca.crt']),
        caKey: unb64(data['ca.key']),
        cert: unb64(data['tls.crt']),
        key: unb64(data['tls.key']),
      };
      const plan = await this.plan(stored);
      if (plan.changed) {
        try {
          await this.writeSecret(secret, plan.bundle, plan.caKeyPem);
        } catch (err) {
          if (statusOf(err) === 409 && attempt < 5) continue; // another replica renewed first
          throw err;
        }
        this.log.info('webhook certificate issued', {
          notAfter: plan.bundle.notAfter.toISOString(),
          rotatedCA: plan.rotatedCA,
        });
      }
      await this.injectCABundle(plan.bundle.caBundle);
      this.current = plan.bundle;
      return plan.bundle;
    }
  }

  private async plan(stored: { ca: string; caKey: string; cert: string; key: string }): Promise<{
    changed: boolean;
    rotatedCA: boolean;
    bundle: ServingCertificate;
    caKeyPem: string;
  }> {
    const o = this.opts;
    const cas = pemBlocks(stored.ca).filter((p) => !needsRenewal(p, 0)); // drop expired CAs
    let ca: CertificateAuthority | undefined;
    let rotatedCA = false;
    if (cas.length && stored.caKey && !needsRenewal(cas[0]!, o.renewFraction)) {
      ca = await loadCA(cas[0]!, stored.caKey);
    } else {
      ca = await createCA('cilium-ts-webhook-ca', o.caValidityMs / 86_400_000);
      cas.unshift(ca.certPem);
      rotatedCA = true;
    }
    const caBundle = cas.join('');
    const servingOk =
      !rotatedCA &&
      stored.cert &&
      stored.key &&
      !needsRenewal(stored.cert, o.renewFraction) &&
      this.coversNames(stored.cert);
    if (servingOk) {
      const notAfter = new Date(new X509Certificate(stored.cert).validTo);
      return {
        changed: caBundle !== stored.ca,
        rotatedCA,
        bundle: { certPem: stored.cert, keyPem: stored.key, caBundle, notAfter },
        caKeyPem: ca.keyPem,
      };
    }
    const serving = await issue(ca, {
      commonName: this.opts.dnsNames[0] ?? 'cilium-ts-webhook',
      usage: 'server',
      dnsNames: o.dnsNames,
      ipAddresses: o.ipAddresses,
      validDays: o.servingValidityMs / 86_400_000,
    });
    const bundle = { certPem: serving.certPem, keyPem: serving.keyPem, caBundle, notAfter: serving.notAfter };
    return { changed: true, rotatedCA, bundle, caKeyPem: ca.keyPem };
  }

  private coversNames(certPem: string): boolean {
    const c = new X509Certificate(certPem);
    return (
      this.opts.dnsNames.every((n) => c.checkHost(n) !== undefined) &&
      this.opts.ipAddresses.every((ip) => c.checkIP(ip) !== undefined)
    );
  }

  private async readSecret(): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ name: this.opts.secretName, namespace: this.opts.namespace });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  private async writeSecret(
    existing: V1Secret | undefined,
    bundle: ServingCertificate,
    caKeyPem: string,
  ): Promise<void> {
    const data = {
      ...(existing?.data ?? {}),
      'ca.crt': b64(bundle.caBundle),
      'ca.key': b64(caKeyPem),
      'tls.crt': b64(bundle.certPem),
      'tls.key': b64(bundle.keyPem),
    };
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: this.opts.secretName,
        namespace: this.opts.namespace,
        labels: { 'app.kubernetes.io/part-of': 'cilium-ts', 'app.kubernetes.io/component': 'webhook' },
        ...(existing?.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
      },
      type: 'Opaque',
      data,
    };
    if (existing)
      await this.core.replaceNamespacedSecret({ name: this.opts.secretName, namespace: this.opts.namespace, body });
    else await this.core.createNamespacedSecret({ namespace: this.opts.namespace, body });
  }

  private async injectCABundle(caBundle: string): Promise<void> {
    for (const name of this.opts.webhookConfigurations) {
      for (let attempt = 0; attempt < 5; attempt++) {
        let cfg;
        try {
          cfg = await this.admission.readValidatingWebhookConfiguration({ name });
        } catch (err) {
          if (statusOf(err) === 404) break; // not installed (yet): nothing to inject into
          throw err;
        }
        const want = b64(caBundle);
        if ((cfg.webhooks ?? []).every((w) => w.clientConfig.caBundle === want)) break;
        for (const w of cfg.webhooks ?? []) w.clientConfig.caBundle = want;
        try {
          await this.admission.replaceValidatingWebhookConfiguration({ name, body: cfg });
          this.log.info('caBundle injected', { webhookConfiguration: name });
          break;
        } catch (err) {
          if (statusOf(err) !== 409) throw err;
        }
      }
    }
  }
}
