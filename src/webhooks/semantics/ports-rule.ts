// toPorts entries (PortRule / PortDenyRule) and icmps, following Cilium's PortRule.Validate,
// PortProtocol.Validate and L7Rules.Validate.

import { icmpTypesV4, icmpTypesV6, MAX_ICMP_TYPE, parsePort, PORTLESS_PROTOCOLS } from '../../policy/api/index.ts';
import { at, error, warning, type ValidationIssue } from '../issues.ts';
import { arr, caseTypoWarnings, count, has, isObj, obj, show, str, type Obj } from './json.ts';
import { checkFQDNSelector, checkHTTPRule, checkKafkaRule } from './l7.ts';

export interface PortContext {
  ingress: boolean;
  deny: boolean;
  /** the rule selects nodes (nodeSelector): a host policy */
  hostPolicy: boolean;
}

const maxPorts = 40;

interface PortInfo {
  zero: boolean;
  range: boolean;
  numeric?: number;
  protocol: string;
  /** whether protocol is written out (else ANY by default) */
  explicit: boolean;
}

function checkPortProtocol(pp: Obj, path: string, out: ValidationIssue[]): PortInfo {
  const protocol = (str(pp.protocol) ?? 'ANY').toUpperCase() || 'ANY';
  const info: PortInfo = {
    zero: false,
    range: false,
    protocol,
    explicit: typeof pp.protocol === 'string' && pp.protocol !== '',
  };
  const port = str(pp.port);
  const endPort = typeof pp.endPort === 'number' && Number.isInteger(pp.endPort) ? pp.endPort : undefined;
  if (PORTLESS_PROTOCOLS.has(protocol)) {
    if (port !== undefined && port !== '' && port !== '0') {
      out.push(
        error(
          at(path, 'port'),
          `${protocol} has no ports, so port must be empty or "0" (got ${show(port)}): remove port`,
        ),
      );
    }
    if (endPort !== undefined && endPort !== 0)
      out.push(error(at(path, 'endPort'), `${protocol} has no ports: remove endPort`));
    return info;
  }
  if (port === undefined || port === '') {
    if (pp.port === undefined || typeof pp.port === 'string') {
      out.push(
        error(
          at(path, 'port'),
          'port must be specified: give a port number ("0" for every port) or a container port name such as "http"',
        ),
      );
    }
    return info;
  }
  const parsed = parsePort(port);
  if (parsed.kind === 'invalid') {
    out.push(error(at(path, 'port'), parsed.reason));
    return info;
  }
  if (parsed.kind === 'name') {
    if (parsed.upper) {
      out.push(
        warning(
          at(path, 'port'),
          `port name ${show(port)} is compared in lowercase (${parsed.name}); container port names are lowercase: write ${show(parsed.name)}`,
        ),
      );
    }
    if (endPort !== undefined && endPort !== 0) {
      out.push(
        error(
          at(path, 'endPort'),
          `endPort needs a numeric port, but port is the name ${show(port)}: use a port number to start the range, or drop endPort`,
        ),
      );
    }
    return info;
  }
  info.numeric = parsed.value;
  info.zero = parsed.value === 0;
  if (parsed.octal) {
    out.push(
      warning(
        at(path, 'port'),
        `port ${show(port)} starts with 0, so Cilium reads it as octal (${parsed.value}): write ${show(String(parsed.value))} if you meant that port, or remove the leading zeros`,
      ),
    );
  }
  if (endPort !== undefined && endPort !== 0) {
    if (endPort < parsed.value) {
      out.push(
        error(
          at(path, 'endPort'),
          `endPort ${endPort} is below port ${parsed.value}: set endPort to ${parsed.value} or more, or drop it for a single port`,
        ),
      );
    } else if (endPort > parsed.value) {
      info.range = true;
    }
  }
  return info;
}

function hasL7(rules: Obj | undefined): { http: boolean; kafka: boolean; dns: boolean; any: boolean } {
  const http = !!rules && count(rules, 'http') > 0;
  const kafka = !!rules && count(rules, 'kafka') > 0;
  const dns = !!rules && count(rules, 'dns') > 0;
  return { http, kafka, dns, any: http || kafka || dns };
}

const l7OnlyFields = ['rules', 'listener', 'serverNames', 'terminatingTLS', 'originatingTLS'];

export function checkPortRule(v: unknown, path: string, ctx: PortContext): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const pr = obj(v);
  if (!pr) return out;
  out.push(...caseTypoWarnings(pr, ['ports', ...l7OnlyFields], path));
  if (ctx.deny) {
    for (const f of l7OnlyFields) {
      if (has(pr, f)) {
        out.push(
          error(
            at(path, f),
            `deny rules match ports only: ${f} is not supported in ${ctx.ingress ? 'ingressDeny' : 'egressDeny'} and would be dropped; remove it, or move the L7 part to an allow rule (${ctx.ingress ? 'ingress' : 'egress'})`,
          ),
        );
      }
    }
  }
  const ports = arr(pr.ports);
  if (ports.length > maxPorts) {
    out.push(
      error(
        at(path, 'ports'),
        `${ports.length} ports in one entry, at most ${maxPorts} are allowed: split them over several toPorts entries or use port ranges (endPort)`,
      ),
    );
  }
  const infos: Array<PortInfo & { path: string }> = [];
  ports.forEach((p, i) => {
    if (!isObj(p)) return;
    const pp = at(path, 'ports', i);
    out.push(...caseTypoWarnings(p, ['port', 'endPort', 'protocol'], pp));
    infos.push({ ...checkPortProtocol(p, pp, out), path: pp });
  });
  if (ctx.deny) return out;

  const rules = obj(pr.rules);
  const l7 = hasL7(rules);
  const listener = obj(pr.listener);
  if (listener && ctx.ingress) {
    out.push(
      error(
        at(path, 'listener'),
        'a listener (Envoy redirect) is only supported on egress: move this port rule to an egress rule, or remove listener',
      ),
    );
  }
  if (listener && l7.any) {
    out.push(
      error(
        at(path, 'listener'),
        "a listener cannot be combined with L7 rules: the listener's own Envoy configuration does the filtering; remove rules or listener",
      ),
    );
  }
  if (count(pr, 'serverNames') > 0 && l7.any && !has(pr, 'terminatingTLS')) {
    out.push(
      error(
        at(path, 'serverNames'),
        'serverNames with L7 rules need terminatingTLS, since the proxy must decrypt the traffic to apply the rules: add terminatingTLS or remove serverNames',
      ),
    );
  }
  if (!rules) return out;
  out.push(...caseTypoWarnings(rules, ['http', 'kafka', 'dns', 'l7proto', 'l7'], at(path, 'rules')));
  checkLegacyL7(rules, at(path, 'rules'), out);
  if (!l7.any) return out;
  const rp = at(path, 'rules');

  if (l7.dns && ctx.ingress) {
    out.push(
      error(
        at(rp, 'dns'),
        "DNS rules are only supported on egress (they filter the endpoints' own lookups): move them to an egress rule towards the DNS server",
      ),
    );
  }
  if ((l7.http || l7.kafka) && ctx.hostPolicy) {
    out.push(
      error(
        at(rp, l7.http ? 'http' : 'kafka'),
        `host policies (nodeSelector) do not support ${l7.http ? 'HTTP' : 'Kafka'} rules: remove rules, or write the policy for pods with endpointSelector`,
      ),
    );
  }
  const zero = infos.find((i) => i.zero);
  if (zero) {
    out.push(
      error(
        at(zero.path, 'port'),
        'L7 rules need a specific port, but port 0 means every port: give the port the application listens on',
      ),
    );
  }
  if (l7.dns) {
    if (ports.length === 0) {
      out.push(
        error(at(path, 'ports'), 'DNS rules need the DNS port listed: add ports: [{port: "53", protocol: ANY}]'),
      );
    }
    for (const i of infos) {
      if (i.range)
        out.push(
          error(at(i.path, 'endPort'), 'DNS rules do not support port ranges: list port 53 alone and drop endPort'),
        );
      else if (i.numeric !== undefined && i.numeric !== 0 && i.numeric !== 53) {
        out.push(
          warning(
            at(i.path, 'port'),
            `DNS rules on port ${i.numeric}: DNS servers such as kube-dns listen on 53, so lookups may bypass this rule; use port 53 unless your resolver really listens on ${i.numeric}`,
          ),
        );
      }
    }
    arr(rules.dns).forEach((d, i) => out.push(...checkFQDNSelector(d, at(rp, 'dns', i))));
  } else {
    const what = l7.http ? 'HTTP' : 'Kafka';
    for (const i of infos) {
      if (i.protocol !== 'TCP') {
        out.push(
          error(
            i.explicit ? at(i.path, 'protocol') : i.path,
            `${what} rules only apply to TCP, but this port's protocol is ${i.protocol}${i.protocol === 'ANY' ? ' (the default)' : ''}: set protocol: TCP`,
          ),
        );
      }
      if (i.range)
        out.push(
          error(
            at(i.path, 'endPort'),
            `${what} rules cannot apply to a port range: list each port on its own and drop endPort`,
          ),
        );
    }
  }
  arr(rules.http).forEach((h, i) => out.push(...checkHTTPRule(h, at(rp, 'http', i))));
  if (l7.kafka) {
    out.push(
      warning(
        at(rp, 'kafka'),
        'Kafka L7 rules are deprecated and were removed in Cilium 1.17: migrate to a Kafka-aware proxy or to L4 rules on the broker ports',
      ),
    );
    arr(rules.kafka).forEach((k, i) => out.push(...checkKafkaRule(k, at(rp, 'kafka', i))));
  }
  return out;
}

function checkLegacyL7(rules: Obj, path: string, out: ValidationIssue[]): void {
  if (has(rules, 'l7proto') || has(rules, 'l7')) {
    out.push(
      warning(
        at(path, has(rules, 'l7proto') ? 'l7proto' : 'l7'),
        'generic L7 rules (l7proto / l7) are not supported and are dropped: use http or dns rules, or a listener',
      ),
    );
  }
}

const icmpV4: ReadonlySet<string> = new Set(Object.keys(icmpTypesV4));
const icmpV6: ReadonlySet<string> = new Set(Object.keys(icmpTypesV6));

export function checkICMPRule(v: unknown, path: string): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const r = obj(v);
  if (!r) return out;
  arr(r.fields).forEach((f, i) => {
    const field = obj(f);
    if (!field) return;
    const fp = at(path, 'fields', i, 'type');
    const family = str(field.family) ?? 'IPv4';
    const t = field.type;
    if (typeof t === 'number') {
      if (!Number.isInteger(t) || t < 0 || t > MAX_ICMP_TYPE)
        out.push(
          error(
            fp,
            `ICMP type ${t} is out of range: use a number from 0 to ${MAX_ICMP_TYPE} or a type name such as EchoRequest`,
          ),
        );
      return;
    }
    if (typeof t !== 'string' || /^[0-9]+$/.test(t)) return;
    const names = family === 'IPv6' ? icmpV6 : family === 'IPv4' ? icmpV4 : undefined;
    if (names && !names.has(t)) {
      const other = family === 'IPv6' ? icmpV4 : icmpV6;
      out.push(
        error(
          fp,
          `${show(t)} is not an ${family === 'IPv6' ? 'ICMPv6' : 'ICMP (IPv4)'} type name${other.has(t) ? `; it is an ${family === 'IPv6' ? 'IPv4' : 'IPv6'} one: set family: ${family === 'IPv6' ? 'IPv4' : 'IPv6'}` : `: use a number or a name such as ${family === 'IPv6' ? 'EchoRequest, PacketTooBig' : 'EchoRequest, DestinationUnreachable'}`}`,
        ),
      );
    }
  });
  return out;
}
