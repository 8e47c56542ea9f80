// Hubble's observer API, loaded from our .proto files (src/hubble/proto): the package definition
// that gRPC server and client share, the enums as name/number maps, and proto3's JSON mapping
// (what `hubble observe -o jsonpb` prints) computed from the same descriptors.
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import type { DropReason__Output } from './generated/flow/DropReason.ts';

export const protoDir = join(dirname(fileURLToPath(import.meta.url)), 'proto');

/**
 * keepCase: field names as in the .proto; enums as names; 64-bit integers as JS numbers (flow
 * counts and nanosecond uptimes stay below 2^53 in practice). tools/generate.ts passes the same
 * options to proto-loader-gen-types, so src/hubble/generated/ types exactly these objects.
 */
export const loaderOptions = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: false,
  includeDirs: [protoDir],
};
export const observerProtoFiles = ['observer/observer.proto', 'peer/peer.proto', 'grpc/health/v1/health.proto'];

let cached: PackageDefinition | undefined;
export function observerPackage(): PackageDefinition {
  cached ??= loadSync(observerProtoFiles, loaderOptions);
  return cached;
}

interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}
interface MessageDescriptor {
  field: FieldDescriptor[];
  nestedType?: { name: string }[];
}
interface EnumDescriptor {
  value: { name: string; number: number }[];
}

function descriptor<T>(fullName: string): T | undefined {
  const def = observerPackage()[fullName] as { type?: T } | undefined;
  return def?.type;
}

/** name ↔ number for one enum, e.g. enumMaps('flow.DropReason'). */
export function enumMaps(fullName: string): { byNumber: Map<number, string>; byName: Map<string, number> } {
  const d = descriptor<EnumDescriptor>(fullName);
  if (!d) throw new Error(`hubble proto: no enum ${fullName}`);
  return {
    byNumber: new Map(d.value.map((v) => [v.number, v.name])),
    byName: new Map(d.value.map((v) => [v.name, v.number])),
  };
}

let dropReasons: Map<number, DropReason__Output> | undefined;
/** Cilium drop reason number → Hubble DropReason enum name (133 → "POLICY_DENIED"). */
export function dropReasonName(n: number): DropReason__Output | undefined {
  // the names come from the same flow.proto enum the DropReason type is generated from
  dropReasons ??= enumMaps('flow.DropReason').byNumber as Map<number, DropReason__Output>;
  return dropReasons.get(n);
}

// ---- proto3 JSON mapping ----
// Hubble prints JSON with the .proto field names (protojson's UseProtoNames), so that is the
// default here; { camelCase: true } gives the canonical lowerCamelCase json names instead.

/** protoc's json_name: underscores removed, the next letter upper-cased ("node_name" → "nodeName"). */
export function jsonName(field: string): string {
  return field.replace(/_([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A relative type name as written in a field, resolved against the scopes around `scope`. */
function resolveType(typeName: string, scope: string): string {
  const pkg = observerPackage();
  if (typeName.startsWith('.')) return typeName.slice(1);
  const parts = scope.split('.');
  for (let i = parts.length; i >= 0; i--) {
    const candidate = [...parts.slice(0, i), typeName].join('.');
    if (candidate in pkg) return candidate;
  }
  return typeName;
}

const wrapperTypes = new Set([
  'google.protobuf.BoolValue',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.StringValue',
  'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue',
]);
const int64Types = new Set(['TYPE_INT64', 'TYPE_UINT64', 'TYPE_SINT64', 'TYPE_FIXED64', 'TYPE_SFIXED64']);

/** RFC 3339 with as many fractional digits as needed (0, 3, 6 or 9), as protojson writes it. */
export function rfc3339(t: { seconds?: number | string; nanos?: number }): string {
  const seconds = Number(t.seconds ?? 0);
  const nanos = t.nanos ?? 0;
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  if (!nanos) return `${base}Z`;
  let frac = String(nanos).padStart(9, '0');
  if (frac.endsWith('000000')) frac = frac.slice(0, 3);
  else if (frac.endsWith('000')) frac = frac.slice(0, 6);
  return `${base}.${frac}Z`;
}

function isDefault(v: unknown): boolean {
  return v === undefined || v === null || v === 0 || v === '' || v === false || (Array.isArray(v) && v.length === 0);
}

export interface JsonOptions {
  camelCase?: boolean;
}

function scalarToJson(f: FieldDescriptor, v: unknown, scope: string, opts: JsonOptions): unknown {
  if (f.type === 'TYPE_MESSAGE')
    return messageToJson(resolveType(f.typeName, scope), v as Record<string, unknown>, opts);
  if (int64Types.has(f.type)) return String(v);
  if (f.type === 'TYPE_ENUM' && typeof v === 'number') {
    return enumMaps(resolveType(f.typeName, scope)).byNumber.get(v) ?? v;
  }
  return v;
}

/** A decoded message (keepCase object) in proto3's JSON mapping, default values left out. */
export function messageToJson(
  fullName: string,
  msg: Record<string, unknown> | undefined,
  opts: JsonOptions = {},
): unknown {
  if (msg === undefined || msg === null) return null;
  if (fullName === 'google.protobuf.Timestamp') return rfc3339(msg);
  if (wrapperTypes.has(fullName)) {
    // a wrapper's one field is a scalar: a number (64-bit ones too, longs: Number), a string or a bool
    const value = msg.value as number | string | boolean | undefined;
    const v = value ?? (fullName === 'google.protobuf.BoolValue' ? false : 0);
    return fullName.includes('64') ? String(v) : v;
  }
  const d = descriptor<MessageDescriptor>(fullName);
  if (!d) return msg;
  const out: Record<string, unknown> = {};
  for (const f of d.field) {
    const v = msg[f.name];
    const isMessage = f.type === 'TYPE_MESSAGE';
    if (isMessage ? v === undefined || v === null : isDefault(v)) continue;
    const key = opts.camelCase ? jsonName(f.name) : f.name;
    if (f.label === 'LABEL_REPEATED') {
      if (!Array.isArray(v) || v.length === 0) continue;
      out[key] = v.map((x) => scalarToJson(f, x, fullName, opts));
    } else {
      out[key] = scalarToJson(f, v, fullName, opts);
    }
  }
  return out;
}
