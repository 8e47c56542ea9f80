// The TypeScript codecs against the C structs, byte for byte: offsets and sizes of every
// member and of every struct come from the BTF clang wrote into bpf/build/*.o.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  allCodecs,
  ctKeyCodec,
  flowEventCodec,
  ipcacheKeyCodec,
  policyKeyCodec,
  portRangeToPrefixes,
  remoteEndpointInfoCodec,
  endpointInfoCodec,
  policyEntryCodec,
} from '../../src/datapath/codecs.ts';
import { bytesToIp, ipToBytes } from '../../src/datapath/ip.ts';
import {
  CtState,
  DropReason,
  EndpointFlags,
  EnforcementMode,
  POLICY_MAP_SIZE,
  ReservedIdentity,
  Verdict,
} from '../../src/datapath/constants.ts';
import { POLICY_F_DENY, IPCACHE_STATIC_PREFIX, POLICY_STATIC_PREFIX } from '../../src/datapath/codecs.ts';

interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: Array<{ name: string; type_id: number; bits_offset: number }>;
}

const buildDir = fileURLToPath(new URL('../../bpf/build/', import.meta.url));
const haveBpftool = (() => {
  try {
    execFileSync('bpftool', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const typesObj = `${buildDir}btf_types.o`,
  lxcObj = `${buildDir}bpf_lxc.o`;
const why = !haveBpftool ? 'bpftool missing' : !existsSync(typesObj) ? `${typesObj} not built (make -C bpf)` : null;
// make test builds everything first: a missing piece is a failure, never a skip
if (why) throw new Error(`the layout test needs the BPF build: ${why}`);

function loadBtf(path: string): Map<number, BtfType> {
  const out = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', path], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const types = (JSON.parse(out) as { types: BtfType[] }).types;
  return new Map(types.map((t) => [t.id, t]));
}

function sizeOf(btf: Map<number, BtfType>, id: number): number {
  const t = btf.get(id);
  if (!t) throw new Error(`BTF type ${id} missing`);
  switch (t.kind) {
    case 'INT':
    case 'STRUCT':
    case 'UNION':
    case 'ENUM':
    case 'ENUM64':
    case 'FLOAT':
      return t.size ?? 0;
    case 'TYPEDEF':
    case 'VOLATILE':
    case 'CONST':
    case 'RESTRICT':
    case 'TYPE_TAG':
      return sizeOf(btf, t.type_id ?? 0);
    case 'ARRAY':
      return (t.nr_elems ?? 0) * sizeOf(btf, t.type_id ?? 0);
    case 'PTR':
      return 8;
    default:
      throw new Error(`size of BTF kind ${t.kind}`);
  }
}

function cLayout(btf: Map<number, BtfType>, name: string) {
  const s = [...btf.values()].find((t) => t.kind === 'STRUCT' && t.name === name);
  if (!s) return undefined;
  return {
    size: s.size,
    fields: (s.members ?? []).map((m) => ({ name: m.name, offset: m.bits_offset / 8, size: sizeOf(btf, m.type_id) })),
  };
}

describe('codec layouts match the C structs', () => {
  const typesBtf = loadBtf(typesObj);
  const lxcBtf = loadBtf(lxcObj);
  for (const codec of allCodecs) {
    it(`struct ${codec.layout.cName}`, () => {
      const c = cLayout(typesBtf, codec.layout.cName);
      assert.ok(c, `struct ${codec.layout.cName} not in ${typesObj}`);
      assert.deepEqual({ size: codec.layout.size, fields: codec.layout.fields }, c);
      // Where bpf_lxc.o carries the struct too, it is the same one.
      const inLxc = cLayout(lxcBtf, codec.layout.cName);
      if (inLxc) assert.deepEqual(inLxc, c);
    });
  }
});

describe('codecs round-trip and encode the fields where C reads them', () => {
  it('ipcache key: prefixlen counts the 32 static bits, host bits cleared', () => {
    const b = ipcacheKeyCodec.encode('10.1.2.3/16');
    assert.equal(b.readUInt32LE(0), 48);
    assert.equal(b[7], 1);
    assert.deepEqual([...b.subarray(8, 12)], [10, 1, 0, 0]);
    assert.equal(ipcacheKeyCodec.decode(b), '10.1.0.0/16');
    assert.equal(ipcacheKeyCodec.decode(ipcacheKeyCodec.encode('fd00::1/128')), 'fd00::1/128');
    assert.equal(ipcacheKeyCodec.encode('fd00::1/128')[7], 2);
  });
  it('policy key: prefix lengths for L3-only, protocol-only, port and range entries', () => {
    const k = (protocol: number, port: number, portPrefixLen: number) =>
      policyKeyCodec.encode({ identity: 7, direction: 'egress', protocol, port, portPrefixLen });
    assert.equal(k(0, 0, 0).readUInt32LE(0), 40);
    assert.equal(k(6, 0, 0).readUInt32LE(0), 48);
    assert.equal(k(6, 80, 16).readUInt32LE(0), 64);
    assert.equal(k(6, 8000, 10).readUInt32LE(0), 58);
    assert.equal(k(6, 80, 16).readUInt16BE(10), 80);
    assert.equal(k(6, 80, 16)[8], 1);
    const round = { identity: 9, direction: 'ingress' as const, protocol: 17, port: 8192, portPrefixLen: 3 };
    assert.deepEqual(policyKeyCodec.decode(policyKeyCodec.encode(round)), round);
  });
  it('port ranges split into aligned prefixes covering exactly the range', () => {
    for (const [from, to] of [
      [80, 80],
      [8000, 8099],
      [0, 1023],
      [1, 65535],
      [0, 65535],
      [1000, 1001],
    ] as const) {
      const covered = new Set<number>();
      for (const p of portRangeToPrefixes(from, to)) {
        const size = 2 ** (16 - p.portPrefixLen);
        assert.equal(p.port % size, 0);
        for (let i = 0; i < size; i++) covered.add(p.port + i);
      }
      assert.equal(covered.size, to - from + 1);
      assert.ok([...covered].every((p) => p >= from && p <= to));
    }
  });
  it('other structs round-trip', () => {
    const ct = {
      family: 6 as const,
      saddr: 'fd00::1',
      daddr: 'fd00::2',
      sport: 1,
      dport: 443,
      protocol: 6,
      dir: 'egress' as const,
    };
    assert.deepEqual(ctKeyCodec.decode(ctKeyCodec.encode(ct)), ct);
    const ep = { epId: 1, identity: 70000, flags: 3, mode: 1, mac: '02:00:00:00:00:0a', nodeMac: 'aa:bb:cc:dd:ee:ff' };
    assert.deepEqual(endpointInfoCodec.decode(endpointInfoCodec.encode(ep)), ep);
    const ri = { identity: 5, tunnelEndpoint: '192.0.2.7', flags: 1 };
    assert.deepEqual(remoteEndpointInfoCodec.decode(remoteEndpointInfoCodec.encode(ri)), ri);
    const pe = { deny: true, proxyPort: 15001, authType: 0, lpmPrefixLength: 64 };
    assert.deepEqual(policyEntryCodec.decode(policyEntryCodec.encode(pe)), pe);
    const ev = {
      timestamp: 5n,
      srcIdentity: 1,
      dstIdentity: 2,
      ifindex: 3,
      epId: 4,
      family: 4 as const,
      saddr: '10.0.0.1',
      daddr: '10.0.0.2',
      sport: 5,
      dport: 6,
      protocol: 17,
      verdict: 2,
      dropReason: 133,
      direction: 'egress' as const,
      tcpFlags: 0,
      ctState: 0,
      icmpType: 0,
      len: 60,
    };
    assert.deepEqual(flowEventCodec.decode(flowEventCodec.encode(ev)), ev);
  });
  it('IPv6 text form is RFC 5952', () => {
    for (const a of ['::', '::1', 'fd00::', '2001:db8::1:0:0:1', 'fe80::1:2', '1:2:3:4:5:6:7:8']) {
      assert.equal(bytesToIp(ipToBytes(a), 6), a);
    }
    // IPv4-mapped addresses print as Go's netip does, like every address in the project
    assert.equal(bytesToIp(ipToBytes('::ffff:10.0.0.1'), 6), '::ffff:10.0.0.1');
  });
});

describe('numbers shared by bpf/lib/*.h and src/datapath agree', () => {
  const libDir = fileURLToPath(new URL('../../bpf/lib/', import.meta.url));
  const defines = new Map<string, number>();
  for (const f of readdirSync(libDir)) {
    for (const m of readFileSync(libDir + f, 'utf8').matchAll(/^#define\s+(\w+)\s+(0x[0-9a-fA-F]+|\d+)\b/gm)) {
      defines.set(m[1]!, Number(m[2]));
    }
  }
  const c = (name: string): number => {
    const v = defines.get(name);
    assert.ok(v !== undefined, `#define ${name} not found in bpf/lib`);
    return v;
  };
  it('drop reasons (Cilium numbering)', () => {
    const inC = [...defines].filter(([k]) => k.startsWith('DROP_')).map(([k, v]) => [k.slice(5), v] as const);
    assert.ok(inC.length >= 10);
    for (const [name, v] of inC) assert.equal((DropReason as Record<string, number>)[name], v, `DROP_${name}`);
    assert.equal(DropReason.FORWARDED, c('REASON_FORWARDED'));
  });
  it('flags, modes, verdicts, conntrack states, reserved identities, sizes', () => {
    assert.equal(EndpointFlags.ENFORCE_INGRESS, c('EP_F_ENFORCE_INGRESS'));
    assert.equal(EndpointFlags.ENFORCE_EGRESS, c('EP_F_ENFORCE_EGRESS'));
    assert.deepEqual(
      [EnforcementMode.DEFAULT, EnforcementMode.ALWAYS, EnforcementMode.NEVER],
      [c('EP_MODE_DEFAULT'), c('EP_MODE_ALWAYS'), c('EP_MODE_NEVER')],
    );
    assert.deepEqual([Verdict.FORWARDED, Verdict.DROPPED], [c('VERDICT_FORWARDED'), c('VERDICT_DROPPED')]);
    assert.deepEqual(
      [CtState.NEW, CtState.ESTABLISHED, CtState.REPLY, CtState.RELATED],
      [c('CT_NEW'), c('CT_ESTABLISHED'), c('CT_REPLY'), c('CT_RELATED')],
    );
    assert.deepEqual(
      [ReservedIdentity.UNKNOWN, ReservedIdentity.HOST, ReservedIdentity.WORLD],
      [c('IDENTITY_UNKNOWN'), c('IDENTITY_HOST'), c('IDENTITY_WORLD')],
    );
    assert.equal(POLICY_MAP_SIZE, c('POLICY_MAP_SIZE'));
    assert.equal(POLICY_F_DENY, c('POLICY_F_DENY'));
    assert.equal(POLICY_STATIC_PREFIX, c('POLICY_MIN_PREFIX'));
    assert.equal(IPCACHE_STATIC_PREFIX, c('IPCACHE_STATIC_PREFIX'));
  });
});
