// Kubernetes networking.k8s.io/v1 NetworkPolicy: the API server already checks most fields; these
// checks add what it reports poorly or not at all, and the footguns users hit with Cilium enforcing it.

import { isSvcName, MAX_PORT, NETWORK_POLICY_PROTOCOLS, svcNameRules } from '../../policy/api/index.ts';
import { at, error, warning, type ValidationIssue } from '../issues.ts';
import { arr, isObj, obj, show, str, type Obj } from './json.ts';
import { canonical, containsPrefix, familyName, isCanonical, parseAddr, parsePrefix } from '../../lib/ip.ts';
import { checkSelector } from './selector.ts';

function checkIPBlock(b: Obj, path: string): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const cidr = str(b.cidr);
  if (cidr === undefined) return out;
  const p = parsePrefix(cidr);
  if (!p) {
    const a = parseAddr(cidr);
    out.push(
      error(
        at(path, 'cidr'),
        a
          ? `cidr ${show(cidr)} has no prefix length: write ${cidr}/${a.family === 4 ? 32 : 128} for the single address`
          : `cidr ${show(cidr)} is not an IP prefix: write e.g. 192.0.2.0/24 or 2001:db8::/32`,
      ),
    );
    return out;
  }
  if (!isCanonical(p))
    out.push(
      warning(at(path, 'cidr'), `${cidr} has host bits set, so it means ${canonical(p)}: write ${canonical(p)}`),
    );
  if (p.bits === 0) {
    out.push(
      warning(
        at(path, 'cidr'),
        `${cidr} looks like "everything", but with Cilium an ipBlock matches only addresses outside the cluster, never pods or nodes: add podSelector / namespaceSelector peers for in-cluster traffic`,
      ),
    );
  }
  arr(b.except).forEach((e, i) => {
    const s = str(e);
    if (s === undefined) return;
    const ep = at(path, 'except', i);
    const x = parsePrefix(s);
    if (!x) {
      out.push(error(ep, `except ${show(s)} is not an IP prefix: write a sub-range of ${cidr} in CIDR notation`));
    } else if (x.addr.family !== p.addr.family) {
      out.push(
        error(
          ep,
          `except ${s} is ${familyName(x.addr.family)} but cidr ${cidr} is ${familyName(p.addr.family)}: an except must be a smaller range inside its cidr; use a separate ipBlock for the other family`,
        ),
      );
    } else if (!containsPrefix(p, x) || x.bits === p.bits) {
      out.push(
        error(
          ep,
          `except ${s} is not strictly inside cidr ${canonical(p)}: list only smaller ranges within the cidr${x.bits === p.bits && containsPrefix(p, x) ? ' (this one removes all of it; drop the ipBlock instead)' : ''}`,
        ),
      );
    }
  });
  return out;
}

function checkPorts(list: unknown[], path: string): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  list.forEach((p, i) => {
    const pp = obj(p);
    if (!pp) return;
    const path_ = at(path, i);
    const protocol = str(pp.protocol);
    if (protocol !== undefined && !NETWORK_POLICY_PROTOCOLS.has(protocol)) {
      out.push(
        error(at(path_, 'protocol'), `protocol ${show(protocol)} is not supported: use TCP (the default), UDP or SCTP`),
      );
    }
    const port = pp.port;
    const endPort = typeof pp.endPort === 'number' ? pp.endPort : undefined;
    if (typeof port === 'number') {
      if (!Number.isInteger(port) || port < 1 || port > MAX_PORT)
        out.push(
          error(
            at(path_, 'port'),
            `port ${port} is out of range: use a number from 1 to ${MAX_PORT}, or omit port for all ports`,
          ),
        );
      if (endPort !== undefined && endPort < port) {
        out.push(
          error(
            at(path_, 'endPort'),
            `endPort ${endPort} is below port ${port}: set endPort to ${port} or more, or drop it for a single port`,
          ),
        );
      }
      if (endPort !== undefined && endPort > MAX_PORT)
        out.push(error(at(path_, 'endPort'), `endPort ${endPort} is out of range: use at most ${MAX_PORT}`));
    } else if (typeof port === 'string') {
      if (/^[0-9]+$/.test(port)) {
        out.push(
          error(
            at(path_, 'port'),
            `port ${show(port)} is a number written as a string: write it without quotes (port: ${port}), since a string is read as a port name`,
          ),
        );
      } else if (!isSvcName(port, true)) {
        out.push(error(at(path_, 'port'), `${show(port)} is not a valid port name: ${svcNameRules}`));
      }
      if (endPort !== undefined)
        out.push(
          error(
            at(path_, 'endPort'),
            `endPort needs a numeric port, but port is the name ${show(port)}: use a port number, or drop endPort`,
          ),
        );
    } else if (endPort !== undefined) {
      out.push(error(at(path_, 'endPort'), 'endPort needs port: set port to the first port of the range'));
    }
  });
  return out;
}

function checkPeer(peer: Obj, path: string): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  if (isObj(peer.podSelector)) out.push(...checkSelector(peer.podSelector, at(path, 'podSelector'), false));
  if (isObj(peer.namespaceSelector))
    out.push(...checkSelector(peer.namespaceSelector, at(path, 'namespaceSelector'), false));
  const ip = obj(peer.ipBlock);
  if (ip) {
    if (isObj(peer.podSelector) || isObj(peer.namespaceSelector)) {
      out.push(
        error(
          at(path, 'ipBlock'),
          'ipBlock cannot be combined with podSelector or namespaceSelector in one peer: make it a separate entry of the list',
        ),
      );
    }
    out.push(...checkIPBlock(ip, at(path, 'ipBlock')));
  }
  return out;
}

export function networkPolicySemantics(doc: unknown): ValidationIssue[] {
  const spec = obj(obj(doc)?.spec);
  if (!spec) return [];
  const out: ValidationIssue[] = [];
  if (isObj(spec.podSelector)) out.push(...checkSelector(spec.podSelector, at('spec', 'podSelector'), false));
  const types = Array.isArray(spec.policyTypes)
    ? spec.policyTypes.filter((t): t is string => typeof t === 'string')
    : undefined;
  for (const dir of ['ingress', 'egress'] as const) {
    const peerField = dir === 'ingress' ? 'from' : 'to';
    const typeName = dir === 'ingress' ? 'Ingress' : 'Egress';
    const list = arr(spec[dir]);
    list.forEach((r, i) => {
      const rule = obj(r);
      if (!rule) return;
      const rp = at('spec', dir, i);
      arr(rule[peerField]).forEach((p, j) => {
        if (isObj(p)) out.push(...checkPeer(p, at(rp, peerField, j)));
      });
      out.push(...checkPorts(arr(rule.ports), at(rp, 'ports')));
      if (!isObj(rule) || (arr(rule[peerField]).length === 0 && arr(rule.ports).length === 0)) {
        out.push(
          warning(
            rp,
            `an empty ${dir} rule allows all ${dir} traffic, from and to everywhere: to deny all ${dir} instead, use ${dir}: [] with policyTypes including ${typeName}`,
          ),
        );
      }
    });
    if (types && !types.includes(typeName) && list.length > 0) {
      out.push(
        warning(
          at('spec', dir),
          `policyTypes does not include ${typeName}, so these ${dir} rules are ignored: add ${typeName} to policyTypes, or remove ${dir}`,
        ),
      );
    }
    if (dir === 'egress' && types?.includes('Egress') && list.length === 0) {
      out.push(
        warning(
          at('spec', 'policyTypes'),
          'policyTypes includes Egress and there are no egress rules, so the selected pods can send nothing, not even DNS lookups: add an egress rule to kube-dns on port 53 (UDP and TCP) if they need name resolution',
        ),
      );
    }
  }
  return out;
}
