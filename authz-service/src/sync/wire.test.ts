import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import * as protoLoader from '@grpc/proto-loader';
import { KeyTable } from '../state/key-table.js';
import { KeySchema, type KeySpec } from '../state/schema.js';
import type { ReceivedSyncMessage, WireKey } from './messages.js';
import { loadSyncDefinition } from './protos.js';
import { consumerFromWire, consumerToWire, keyFromDocument, keyFromWire, keyToDocument, keyToWire } from './wire.js';

const hash = () => randomBytes(32).toString('base64url');

const fullKey: KeySpec = {
  id: 'key_1',
  consumer_id: 'con_1',
  secrets: [{ hash: hash() }, { hash: hash(), not_after: '2031-02-03T04:05:06.000Z' }],
  services: ['llm', 'embed'],
  scopes: ['chat', 'models:read'],
  plan: 'gold',
  limits: [{ window: '1m', requests: 60 }],
  expires_at: '2032-01-01T00:00:00.000Z',
  revoked: true,
};

/** Through the real protobuf encoding, with the serializers grpc-js uses for the Subscribe stream. */
function overTheWire(key: KeySpec): WireKey {
  const subscribe = (loadSyncDefinition()['portcullis.v1.StateSync'] as protoLoader.ServiceDefinition)['Subscribe']!;
  const received = subscribe.responseDeserialize(subscribe.responseSerialize({ keys: { keys: [keyToWire(key)] } })) as ReceivedSyncMessage;
  if (received.message !== 'keys') throw new Error(`expected keys, got ${received.message}`);
  return received.keys.keys[0]!;
}

describe('sync wire forms', () => {
  it('carries a key control plane → wire → index → snapshot document unchanged', () => {
    const input = keyFromWire(overTheWire(fullKey));
    expect(input.ok).to.equal(true);
    if (!input.ok) return;
    const table = new KeyTable();
    table.upsert(input.value);
    const [out] = [...table.export()];
    expect(keyToDocument(out!)).to.deep.equal(fullKey);
    expect(keyFromDocument(JSON.parse(JSON.stringify(fullKey)))).to.deep.equal(input);
  });

  it('carries a consumer with its defaults', () => {
    const consumer = { id: 'c', name: 'C', plan: 'gold', subjects: [{ issuer: 'https://idp.example/realms/x', sub: 'u1' }], disabled: false };
    expect(consumerFromWire(consumerToWire(consumer))).to.deep.equal({ ok: true, value: consumer });
    const noPlan = consumerFromWire({ id: 'c', name: 'C', plan: '', subjects: [], disabled: true });
    expect(noPlan).to.deep.equal({ ok: true, value: { id: 'c', name: 'C', subjects: [], disabled: true } });
    const bad = consumerFromWire({ id: 'c', name: '', plan: '', subjects: [], disabled: false });
    expect(bad.ok).to.equal(false);
  });

  describe('the hand-written key check agrees with KeySchema', () => {
    const good: Record<string, unknown> = JSON.parse(JSON.stringify(fullKey));
    const variants: [string, Record<string, unknown>][] = [
      ['valid as is', {}],
      ['minimal', { services: undefined, scopes: undefined, limits: undefined, plan: undefined, expires_at: undefined, revoked: undefined }],
      ['empty id', { id: '' }],
      ['long id', { id: 'x'.repeat(129) }],
      ['no consumer', { consumer_id: undefined }],
      ['no secrets', { secrets: [] }],
      ['nine secrets', { secrets: Array.from({ length: 9 }, () => ({ hash: hash() })) }],
      ['short hash', { secrets: [{ hash: 'abc' }] }],
      ['bad not_after', { secrets: [{ hash: hash(), not_after: 'tomorrow' }] }],
      ['service not a slug', { services: ['Not A Slug'] }],
      ['scope with a space', { scopes: ['a b'] }],
      ['plan not a slug', { plan: 'Gold!' }],
      ['bad window', { limits: [{ window: '5x', requests: 1 }] }],
      ['zero requests', { limits: [{ window: '1s', requests: 0 }] }],
      ['fractional requests', { limits: [{ window: '1s', requests: 1.5 }] }],
      ['seventeen limits', { limits: Array.from({ length: 17 }, () => ({ window: '1s', requests: 1 })) }],
      ['bad expiry', { expires_at: 'never' }],
      ['revoked not boolean', { revoked: 'yes' }],
    ];
    for (const [name, change] of variants) {
      it(name, () => {
        const doc = { ...good, ...change };
        for (const [k, v] of Object.entries(change)) if (v === undefined) delete doc[k];
        expect(keyFromDocument(doc).ok, 'hand check').to.equal(KeySchema.safeParse(doc).success);
      });
    }
  });
});
