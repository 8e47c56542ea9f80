// Certificates and keys made in-process (ECDSA P-256 via WebCrypto and @peculiar/x509): the local
// control plane's throwaway PKI, and later the webhook's CA and serving certificates.
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;

const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority extends KeyPairPem {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

export interface IssueOptions {
  commonName: string;
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: 'server' | 'client' | 'both';
  validDays?: number;
}

async function keyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function serial(): string {
  // Positive 16-byte serial: RFC 5280 asks for unique, unpredictable serial numbers.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

function subject(commonName: string, organizations: string[] = []): string {
  const esc = (s: string) => s.replace(/([,+"\\<>;=])/g, '\\$1');
  return [`CN=${esc(commonName)}`, ...organizations.map((o) => `O=${esc(o)}`)].join(', ');
}

// Valid from a little before now, to tolerate clock skew between us and whoever checks: a minute,
// or a tenth of the lifetime for short-lived test certificates.
function backdated(validDays: number): Date {
  return new Date(Date.now() - Math.min(60_000, validDays * 8_640_000));
}

export async function createCA(commonName: string, validDays = 365): Promise<CertificateAuthority> {
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const notBefore = backdated(validDays);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subject(commonName),
    notBefore,
    notAfter: new Date(Date.now() + validDays * 86_400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys, certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** A CA from its stored PEMs (certificate and PKCS#8 key), to issue more certificates with. */
export async function loadCA(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const privateKey = await crypto.subtle.importKey('pkcs8', x509.PemConverter.decode(keyPem)[0]!, alg, true, ['sign']);
  // what cert.publicKey.export() does for ECDSA, typed by node:crypto (x509's CryptoKey is the DOM's)
  const publicKey = await crypto.subtle.importKey('spki', cert.publicKey.rawData, alg, true, ['verify']);
  return { cert, keys: { privateKey, publicKey }, certPem, keyPem };
}

export async function issue(ca: CertificateAuthority, opts: IssueOptions): Promise<KeyPairPem & { notAfter: Date }> {
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const notBefore = backdated(opts.validDays ?? 365);
  const notAfter = new Date(Date.now() + (opts.validDays ?? 365) * 86_400_000);
  const usages: string[] = [];
  if (opts.usage !== 'client') usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (opts.usage !== 'server') usages.push(x509.ExtendedKeyUsage.clientAuth);
  const names = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: subject(opts.commonName, opts.organizations),
    issuer: ca.cert.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(usages, false),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey), notAfter };
}

/** A bare key pair (PEM), e.g. the service-account token signing key. */
export async function keyPair(): Promise<{ publicPem: string; privatePem: string }> {
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const spki = await crypto.subtle.exportKey('spki', keys.publicKey);
  return { publicPem: x509.PemConverter.encode(spki, 'PUBLIC KEY'), privatePem: await keyPem(keys.privateKey) };
}
