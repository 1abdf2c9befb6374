/**
 * A strict reader of protobuf JSON (as Envoy reads a bootstrap file) against loaded protobufjs descriptors.
 * protobufjs' own `fromObject` drops unknown fields without a word, so a misspelt Envoy field would pass it
 * and then fail (or be ignored) in a real Envoy. This walks the document instead and reports:
 * - unknown fields (proto name or lowerCamel JSON name accepted), recursing into google.protobuf.Any by `@type`;
 * - wrong JSON shapes for scalars, enums, repeated and map fields, and the well-known types;
 * - two members of one oneof set, deprecated fields;
 * - the protoc-gen-validate rules Envoy enforces most often: required messages and oneofs, string min_len,
 *   repeated min_items, numeric bounds.
 */
import type * as Protobuf from 'protobufjs';

type Json = unknown;

const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);

const WRAPPERS: Readonly<Record<string, string>> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

const DURATION = /^-?[0-9]+(\.[0-9]{1,9})?s$/;
const TIMESTAMP = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$/;
const REQUIRED_RULE = /^\(validate\.rules\)\.(message|duration|any|timestamp)\.required$/;
const TYPE_URL_PREFIX = 'type.googleapis.com/';

const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const camel = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

class Walker {
  readonly errors: string[] = [];
  constructor(private readonly root: Protobuf.Root) {}

  fail(path: string, message: string): void {
    this.errors.push(`${path || '(root)'}: ${message}`);
  }

  /** A value of message type `type` (its JSON form, well-known types included). */
  message(type: Protobuf.Type, value: Json, path: string): void {
    const wkt = type.fullName.slice(1);
    if (wkt in WRAPPERS) return this.scalar(WRAPPERS[wkt]!, value, path);
    switch (wkt) {
      case 'google.protobuf.Duration':
        if (typeof value !== 'string' || !DURATION.test(value)) this.fail(path, `expected a duration such as "1.5s", got ${JSON.stringify(value)}`);
        return;
      case 'google.protobuf.Timestamp':
        if (typeof value !== 'string' || !TIMESTAMP.test(value)) this.fail(path, `expected an RFC 3339 timestamp, got ${JSON.stringify(value)}`);
        return;
      case 'google.protobuf.FieldMask':
        if (typeof value !== 'string') this.fail(path, 'expected a field mask string');
        return;
      case 'google.protobuf.Value':
        return;
      case 'google.protobuf.Struct':
        if (!isObject(value)) this.fail(path, 'expected a JSON object (Struct)');
        return;
      case 'google.protobuf.ListValue':
        if (!Array.isArray(value)) this.fail(path, 'expected a JSON array (ListValue)');
        return;
      case 'google.protobuf.Any':
        return this.any(value, path);
    }
    if (!isObject(value)) return this.fail(path, `expected an object for ${wkt}`);
    this.fields(type, value, path, new Set());
  }

  private any(value: Json, path: string): void {
    if (!isObject(value)) return this.fail(path, 'expected an object with "@type" (Any)');
    const url = value['@type'];
    if (typeof url !== 'string' || !url.startsWith(TYPE_URL_PREFIX)) return this.fail(`${path}.@type`, `expected "${TYPE_URL_PREFIX}<message>", got ${JSON.stringify(url)}`);
    let packed: Protobuf.Type;
    try {
      packed = this.root.lookupType(url.slice(TYPE_URL_PREFIX.length));
    } catch {
      return this.fail(`${path}.@type`, `unknown message type ${url.slice(TYPE_URL_PREFIX.length)} (misspelt, or its proto is not loaded)`);
    }
    const name = packed.fullName.slice(1);
    // well-known types with a special JSON form travel in "value"
    if (name.startsWith('google.protobuf.') && (name in WRAPPERS || /\.(Duration|Timestamp|FieldMask|Struct|Value|ListValue|Any)$/.test(name))) {
      for (const key of Object.keys(value)) if (key !== '@type' && key !== 'value') this.fail(`${path}.${key}`, 'unknown field of a packed well-known type');
      return this.message(packed, value['value'], `${path}.value`);
    }
    this.fields(packed, value, path, new Set(['@type']));
  }

  private fields(type: Protobuf.Type, value: Record<string, Json>, path: string, ignore: ReadonlySet<string>): void {
    const byName = new Map<string, Protobuf.Field>();
    for (const field of type.fieldsArray) {
      byName.set(field.name, field);
      byName.set(camel(field.name), field);
    }
    const present = new Set<Protobuf.Field>();
    for (const [key, child] of Object.entries(value)) {
      if (ignore.has(key)) continue;
      const at = `${path}.${key}`;
      const field = byName.get(key);
      if (field === undefined) {
        this.fail(at, `unknown field of ${type.fullName.slice(1)}`);
        continue;
      }
      if (present.has(field)) this.fail(at, `field ${field.name} given twice (proto and JSON name)`);
      present.add(field);
      if (field.options?.['deprecated'] === true) this.fail(at, 'deprecated field');
      if (child === null) {
        this.fail(at, 'null (leave the field out instead)');
        continue;
      }
      this.field(field, child, at);
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.fieldsArray.filter((f) => present.has(f));
      if (set.length > 1) this.fail(path, `oneof ${oneof.name} has ${set.map((f) => f.name).join(' and ')} set; at most one is allowed`);
      if (set.length === 0 && oneof.options?.['(validate.required)'] === true) this.fail(path, `oneof ${oneof.name} requires one of ${oneof.oneof.join(', ')}`);
    }
    for (const field of type.fieldsArray) {
      // a oneof member's rules apply only when it is the member that is set
      if (field.partOf !== null && !present.has(field)) continue;
      this.rules(field, present.has(field) ? value[field.name] ?? value[camel(field.name)] : undefined, `${path}.${field.name}`);
    }
  }

  /** The protoc-gen-validate rules checked here; absent scalars count as their proto3 default. */
  private rules(field: Protobuf.Field, value: Json, path: string): void {
    const options = field.options ?? {};
    for (const [rule, setting] of Object.entries(options)) {
      if (REQUIRED_RULE.test(rule) && setting === true && value === undefined) this.fail(path, 'required');
      if (rule === '(validate.rules).string.min_len' && typeof setting === 'number' && ((value as string | undefined) ?? '').length < setting) {
        this.fail(path, `needs at least ${setting} character(s)`);
      }
      if (rule === '(validate.rules).repeated.min_items' && typeof setting === 'number' && ((value as Json[] | undefined) ?? []).length < setting) {
        this.fail(path, `needs at least ${setting} item(s)`);
      }
      const bound = /^\(validate\.rules\)\.(?:u?int32|u?int64|double|float|fixed32|sfixed32)\.(lte|lt|gte|gt)$/.exec(rule);
      if (bound && typeof setting === 'number' && typeof value === 'number') {
        const ok = { lte: value <= setting, lt: value < setting, gte: value >= setting, gt: value > setting }[bound[1] as 'lte' | 'lt' | 'gte' | 'gt'];
        if (!ok) this.fail(path, `must be ${bound[1]} ${setting}`);
      }
    }
  }

  private field(field: Protobuf.Field, value: Json, path: string): void {
    if (field.map) {
      if (!isObject(value)) return this.fail(path, 'expected an object (map)');
      for (const [key, entry] of Object.entries(value)) this.single(field, entry, `${path}.${key}`);
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) return this.fail(path, 'expected an array (repeated)');
      value.forEach((item, i) => this.single(field, item, `${path}[${i}]`));
      return;
    }
    this.single(field, value, path);
  }

  private single(field: Protobuf.Field, value: Json, path: string): void {
    const resolved = field.resolvedType;
    if (resolved === null) return this.scalar(field.type, value, path);
    if ('values' in resolved) {
      const values = (resolved as Protobuf.Enum).values;
      const ok = typeof value === 'string' ? Object.hasOwn(values, value) : typeof value === 'number' && Object.values(values).includes(value);
      if (!ok) this.fail(path, `${JSON.stringify(value)} is not a value of enum ${resolved.fullName.slice(1)}`);
      return;
    }
    this.message(resolved as Protobuf.Type, value, path);
  }

  private scalar(type: string, value: Json, path: string): void {
    const integer = (v: Json) => (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?[0-9]+$/.test(v));
    let ok: boolean;
    if (type === 'string') ok = typeof value === 'string';
    else if (type === 'bool') ok = typeof value === 'boolean';
    else if (type === 'bytes') ok = typeof value === 'string' && /^[A-Za-z0-9+/_-]*=*$/.test(value);
    else if (type === 'double' || type === 'float') ok = typeof value === 'number' || value === 'NaN' || value === 'Infinity' || value === '-Infinity';
    else if (INT32.has(type)) ok = integer(value) && Math.abs(Number(value)) <= 2 ** 31;
    else if (UINT32.has(type)) ok = integer(value) && Number(value) >= 0 && Number(value) < 2 ** 32;
    else if (INT64.has(type)) ok = integer(value);
    else ok = false;
    if (!ok) this.fail(path, `expected ${type}, got ${JSON.stringify(value)}`);
  }
}

/** Every problem found reading `json` as the message `typeName`; empty when Envoy would accept the shape. */
export function strictProtoJsonErrors(root: Protobuf.Root, typeName: string, json: unknown): string[] {
  const walker = new Walker(root);
  walker.message(root.lookupType(typeName), json, '');
  return walker.errors;
}
