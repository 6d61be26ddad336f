/**
 * Bad input, property-based: console payloads and EC2 events of every shape are rejected with an error that says
 * what is wrong, before anything is read or changed; operators' tag values of every shape (wrong types, huge,
 * unicode, injection-looking, instances with 50 tags) never crash a night: each opted-in instance ends it with a good
 * image or a recorded failure, and nothing is deleted that should not be.
 */
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import fc from 'fast-check';
import { InvalidInputError } from '../../../lib/input';
import { OperatorTag } from '../../../lib/tags';
import { type Harness, MINUTE, night, type Saved, SOAK, startHarness } from './harness';

/** More generated cases in the soak. */
const RUNS = SOAK ? 10 : 1;

const FUNCTIONS = ['reboot', 'createImages', 'recordImageState', 'rotate'];
const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;

let harness: Harness;
let empty: Saved;

beforeAll(async () => {
  harness = await startHarness([]);
  empty = harness.save();
  await harness.restore(empty);
}, 60_000);

afterAll(async () => {
  await harness.stop();
});

const nasty = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ minLength: 300, maxLength: 3000 }),
  fc.constantFrom(
    "'; DROP TABLE instances; --",
    '<script>alert(1)</script>',
    ['$', '{jndi:ldap://example.invalid/a}'].join(''),
    'i-0123456789abcdef0\n',
    '../../etc/passwd',
    'i-*',
    '*',
    'i-ZZZZZZZZ',
    '\u0000',
    '🙂'.repeat(300),
    '__proto__',
  ),
);

/** What the console accepts, written out independently of the parser: `{instanceIds?, dryRun?}` or a schedule. */
function acceptable(payload: unknown): boolean {
  if (payload === null || payload === undefined) return true;
  if (typeof payload !== 'object' || Array.isArray(payload)) return false;
  const record = payload as Record<string, unknown>;
  if (record.source === 'aws.events' && record['detail-type'] === 'Scheduled Event') {
    return typeof record.time === 'string' && ISO_TIME.test(record.time) && !Number.isNaN(Date.parse(record.time));
  }
  if (Object.keys(record).some((key) => key !== 'instanceIds' && key !== 'dryRun')) return false;
  if (record.dryRun !== undefined && typeof record.dryRun !== 'boolean') return false;
  const ids = record.instanceIds;
  if (ids === undefined) return true;
  return (
    Array.isArray(ids) &&
    ids.length > 0 &&
    ids.length <= 1000 &&
    ids.every((id) => typeof id === 'string' && INSTANCE_ID.test(id))
  );
}

const payloads = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.record(
    {
      instanceIds: fc.oneof(fc.array(nasty, { maxLength: 5 }), nasty, fc.integer(), fc.constant([]), fc.constant(null)),
      dryRun: fc.oneof(fc.boolean(), nasty, fc.integer(), fc.constant(null)),
      extra: fc.anything({ maxDepth: 2 }),
    },
    { requiredKeys: [] },
  ),
  fc.record({ source: fc.constant('aws.events'), 'detail-type': fc.constant('Scheduled Event'), time: nasty }),
  fc.array(fc.anything({ maxDepth: 1 })),
);

describe('console payloads of every shape', () => {
  it('are rejected by every function with an error naming the problem, before any EC2 call', async () => {
    await fc.assert(
      fc.asyncProperty(payloads, async (payload) => {
        fc.pre(!acceptable(payload));
        const requests = harness.ec2.faults.requests;
        for (const name of FUNCTIONS) {
          const outcome = await harness.invoke(name, payload).then(
            () => undefined,
            (error: unknown) => error,
          );
          expect(outcome).toBeInstanceOf(InvalidInputError);
          const message = (outcome as Error).message;
          expect(message.length).toBeGreaterThan(0);
          expect(message.length).toBeLessThan(300);
        }
        expect(harness.ec2.faults.requests).toBe(requests);
      }),
      { numRuns: 300 * RUNS },
    );
  });

  it('AMI state-change events of every shape: rejected, or ignored for an image that is not ours; nothing changes', async () => {
    const detail = fc.record(
      {
        ImageId: fc.oneof(nasty, fc.stringMatching(/^ami-[0-9a-f]{8}$/), fc.integer()),
        State: fc.oneof(fc.constantFrom('available', 'failed', 'deregistered'), nasty, fc.integer()),
        RequestId: nasty,
      },
      { requiredKeys: [] },
    );
    const event = fc.record({
      source: fc.constant('aws.ec2'),
      'detail-type': fc.constant('EC2 AMI State Change'),
      time: fc.oneof(fc.constant('2026-11-27T03:10:00Z'), nasty),
      detail: fc.oneof(detail, fc.anything({ maxDepth: 1 })),
    });
    await fc.assert(
      fc.asyncProperty(event, async (payload) => {
        const before = JSON.stringify(harness.world());
        const outcome = await harness.invoke('recordImageState', payload).then(
          (summary) => summary,
          (error: unknown) => error,
        );
        if (outcome instanceof Error) expect(outcome).toBeInstanceOf(InvalidInputError);
        else
          expect(outcome).toMatchObject({
            ignored: [expect.objectContaining({ reason: expect.any(String) })],
            instances: [],
          });
        expect(JSON.stringify(harness.world())).toBe(before);
      }),
      { numRuns: 100 * RUNS },
    );
  });
  it('queue batches of every shape: each message is rejected on its own or ignored; nothing changes', async () => {
    const body = fc.oneof(
      nasty,
      fc.json(),
      fc
        .record({
          source: fc.constant('aws.ec2'),
          'detail-type': fc.constant('EC2 AMI State Change'),
          time: fc.oneof(fc.constant('2026-11-27T03:10:00Z'), nasty),
          detail: fc.record({ ImageId: fc.oneof(nasty, fc.stringMatching(/^ami-[0-9a-f]{8}$/)), State: nasty }),
        })
        .map((event) => JSON.stringify(event)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(body, { minLength: 1, maxLength: 6 }), async (bodies) => {
        const before = JSON.stringify(harness.world());
        const batch = {
          Records: bodies.map((text, index) => ({ messageId: `m-${index}`, body: text, eventSource: 'aws:sqs' })),
        };
        const summary = (await harness.invoke('recordImageState', batch)) as {
          batchItemFailures: { itemIdentifier: string }[];
          ignored?: unknown[];
          instances?: unknown[];
        };
        expect(summary.batchItemFailures.length + (summary.ignored?.length ?? 0)).toBeGreaterThan(0);
        expect(summary.instances ?? []).toEqual([]);
        expect(JSON.stringify(harness.world())).toBe(before);
      }),
      { numRuns: 100 * RUNS },
    );
  });
});

const tagKey = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
  .filter((key) => !key.toLowerCase().startsWith('aws:') && key.trim() === key && key.length > 0);
const tagValue = fc.oneof(
  nasty.map((value) => Array.from(value).slice(0, 128).join('')),
  fc.constantFrom('1', '7', '0', '-1', '1e3', ' 2', '2.5', '1001'),
);

/** An instance's tags: the opt-in tag in some form, operator tags of any shape, and up to 50 tags in all. */
const instanceTags = fc
  .record({
    optIn: fc.constantFrom('true', 'true', 'true', 'TRUE', 'false', ''),
    retain: fc.option(tagValue, { nil: undefined }),
    retainDays: fc.option(tagValue, { nil: undefined }),
    mode: fc.option(fc.oneof(fc.constantFrom('reboot', 'no-reboot'), tagValue), { nil: undefined }),
    extra: fc.dictionary(tagKey, tagValue, { maxKeys: 12 }),
    full: fc.boolean(),
  })
  .map(({ optIn, retain, retainDays, mode, extra, full }) => {
    const tags: Record<string, string> = { Backup: optIn };
    if (retain !== undefined) tags[OperatorTag.retain] = retain;
    if (retainDays !== undefined) tags[OperatorTag.retainDays] = retainDays;
    if (mode !== undefined) tags[OperatorTag.mode] = mode;
    for (const [key, value] of Object.entries(extra))
      if (Object.keys(tags).length < 50 && !(key in tags)) tags[key] = value;
    // An instance carrying all the 50 tags EC2 allows leaves no room for the service's own.
    for (let index = 0; full && Object.keys(tags).length < 50; index += 1) tags[`filler-${index}`] = 'x';
    return tags;
  });

describe('operator tags of every shape', () => {
  it('never crash a night: each opted-in instance gets a good image or a recorded failure, and every promise holds', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(instanceTags, { minLength: 1, maxLength: 3 }), async (fleet) => {
        await harness.restore(empty);
        for (const tags of fleet) {
          await harness.client.send(
            new RunInstancesCommand({
              ImageId: 'ami-0123456789abcdef0',
              InstanceType: 't3.micro',
              MinCount: 1,
              MaxCount: 1,
              TagSpecifications: [
                { ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
              ],
            }),
          );
        }
        harness.ec2.clock.advance(10 * MINUTE);
        const before = harness.world();
        const records = await harness.run(night(1, '06:05'));
        expect(records.filter((record) => record.error !== undefined)).toEqual([]);
        expect(harness.check(before, night(1, '03:00'))).toEqual([]);
      }),
      {
        numRuns: 12 * RUNS,
        // Once failed: a policy error quoting a value with characters outside the BMP and escaped quotes.
        examples: [
          [
            [
              {
                Backup: 'true',
                [OperatorTag.retain]: '𐀀',
                [OperatorTag.retainDays]: `\\${' '.repeat(40)}"${' '.repeat(20)}\\`.repeat(4),
              },
            ],
          ],
        ],
      },
    );
  }, 1_200_000);
});
