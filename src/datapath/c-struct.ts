// A C struct described once, as a table of members in declaration order: each member's C name,
// its field type (storage and conversion) and the TypeScript property it holds. Offsets, padding
// and the struct's size follow C's rules for natural alignment, the way clang lays the struct
// out; encode, decode and the layout that test/datapath/layout.test.ts checks against the BTF are
// all derived from that one table.

export interface FieldLayout {
  name: string;
  offset: number;
  size: number;
}
export interface StructLayout {
  cName: string;
  size: number;
  fields: FieldLayout[];
}

export interface Codec<T> {
  layout: StructLayout;
  encode(value: T): Buffer;
  decode(buf: Buffer): T;
}

/** Reads the bytes of another member of the same struct (an address needs its family's). */
export type MemberReader = <V>(cName: string, type: FieldType<V>) => V;

/** How one C member is stored (its size and alignment) and how its bytes map to a value. */
export interface FieldType<V> {
  readonly size: number;
  readonly align: number;
  readonly write: (buf: Buffer, offset: number, value: V) => void;
  readonly read: (buf: Buffer, offset: number, member: MemberReader) => V;
}

const scalar = <V>(
  size: number,
  read: (b: Buffer, off: number) => V,
  write: (b: Buffer, off: number, v: V) => void,
): FieldType<V> => ({ size, align: size, read, write });

export const u8 = scalar<number>(
  1,
  (b, o) => b.readUInt8(o),
  (b, o, v) => b.writeUInt8(v, o),
);
export const u16 = scalar<number>(
  2,
  (b, o) => b.readUInt16LE(o),
  (b, o, v) => b.writeUInt16LE(v, o),
);
export const u32 = scalar<number>(
  4,
  (b, o) => b.readUInt32LE(o),
  (b, o, v) => b.writeUInt32LE(v >>> 0, o),
);
export const u64 = scalar<bigint>(
  8,
  (b, o) => b.readBigUInt64LE(o),
  (b, o, v) => b.writeBigUInt64LE(v, o),
);
/** A __u16 holding a value in network byte order (ports). */
export const be16 = scalar<number>(
  2,
  (b, o) => b.readUInt16BE(o),
  (b, o, v) => b.writeUInt16BE(v, o),
);

/** A member stored as `base`, seen in TypeScript through a conversion (a flag, an enum). */
export function mapped<A, V>(base: FieldType<A>, toC: (v: V) => A, fromC: (a: A) => V): FieldType<V> {
  return {
    size: base.size,
    align: base.align,
    write: (b, o, v) => base.write(b, o, toC(v)),
    read: (b, o, m) => fromC(base.read(b, o, m)),
  };
}

/** A byte array (`__u8 x[n]`, alignment 1) read and written as a value of its own. */
export function byteArray<V>(
  size: number,
  toC: (v: V) => Uint8Array,
  fromC: (bytes: Buffer, member: MemberReader) => V,
): FieldType<V> {
  return {
    size,
    align: 1,
    write: (b, o, v) => b.set(toC(v).subarray(0, size), o),
    read: (b, o, m) => fromC(b.subarray(o, o + size), m),
  };
}

/** A member that only holds the struct's shape (`pad`, `pad[3]`): written as zeros, never read. */
export interface Padding {
  readonly padding: true;
  readonly size: number;
  readonly align: number;
}
export const pad = (size: number, align = 1): Padding => ({ padding: true, size, align });

/** One row of a struct's table: [C member name, field type, TypeScript property]. */
export type Member<V> =
  | Exclude<{ [K in keyof V]: readonly [cName: string, type: FieldType<V[K]>, prop: K] }[keyof V], undefined>
  | readonly [cName: string, type: Padding];

// Inside, a member's value is just unknown: the Member rows already tied each type to its property.
interface Slot {
  cName: string;
  offset: number;
  size: number;
  type: FieldType<unknown> | Padding;
  prop?: PropertyKey;
}
type Field = Slot & { type: FieldType<unknown>; prop: PropertyKey };
type Row = readonly [cName: string, type: FieldType<unknown> | Padding, prop?: PropertyKey];

const alignUp = (n: number, align: number): number => Math.ceil(n / align) * align;

function layoutOf<V>(cName: string, members: ReadonlyArray<Member<V>>): { layout: StructLayout; slots: Slot[] } {
  const slots: Slot[] = [];
  let end = 0;
  let maxAlign = 1;
  for (const [name, type, prop] of members as ReadonlyArray<Row>) {
    if (slots.some((s) => s.cName === name)) throw new Error(`struct ${cName}: member ${name} twice`);
    const offset = alignUp(end, type.align);
    slots.push({ cName: name, offset, size: type.size, type, prop });
    end = offset + type.size;
    maxAlign = Math.max(maxAlign, type.align);
  }
  const fields = slots.map(({ cName: name, offset, size }) => ({ name, offset, size }));
  return { layout: { cName, size: alignUp(end, maxAlign), fields }, slots };
}

/**
 * The codec of a C struct whose members hold the properties of V, one member per property
 * (padding aside). `view` maps the exported value T to and from V where they differ (a key kept
 * as a CIDR string, a prefix length computed from the other members).
 */
export function struct<V extends object>(cName: string, members: ReadonlyArray<Member<V>>): Codec<V>;
export function struct<T, V extends object>(
  cName: string,
  members: ReadonlyArray<Member<V>>,
  view: { toC(value: T): V; fromC(fields: V): T },
): Codec<T>;
export function struct<T, V extends object>(
  cName: string,
  members: ReadonlyArray<Member<V>>,
  view?: { toC(value: T): V; fromC(fields: V): T },
): Codec<T> {
  const { layout, slots } = layoutOf(cName, members);
  const offsets = new Map(slots.map((s) => [s.cName, s.offset]));
  const fields = slots.filter((s): s is Field => s.prop !== undefined && !('padding' in s.type));
  // Without a view T is V (the first overload).
  const toC = view ? view.toC.bind(view) : (v: T) => v as unknown as V;
  const fromC = view ? view.fromC.bind(view) : (v: V) => v as unknown as T;
  return {
    layout,
    encode(value) {
      const buf = Buffer.alloc(layout.size);
      const v = toC(value) as Record<PropertyKey, unknown>;
      for (const f of fields) f.type.write(buf, f.offset, v[f.prop]);
      return buf;
    },
    decode(buf) {
      if (buf.length !== layout.size) {
        throw new RangeError(`${cName}: expected ${layout.size} bytes, got ${buf.length}`);
      }
      const member: MemberReader = (name, type) => {
        const offset = offsets.get(name);
        if (offset === undefined) throw new Error(`${cName} has no member ${name}`);
        return type.read(buf, offset, member);
      };
      const v: Record<PropertyKey, unknown> = {};
      for (const f of fields) v[f.prop] = f.type.read(buf, f.offset, member);
      return fromC(v as V); // one property per member, as the Member rows typed them
    },
  };
}

/** The codec of a bare C scalar (a map key or value that is one __u32). */
export function scalarCodec<V>(cName: string, type: FieldType<V>): Codec<V> {
  const layout: StructLayout = { cName, size: type.size, fields: [] };
  return {
    layout,
    encode(value) {
      const buf = Buffer.alloc(type.size);
      type.write(buf, 0, value);
      return buf;
    },
    decode(buf) {
      if (buf.length !== type.size) throw new RangeError(`${cName}: expected ${type.size} bytes, got ${buf.length}`);
      return type.read(buf, 0, () => {
        throw new Error(`${cName} has no members`);
      });
    },
  };
}
