/**
 * A hostile night: 30% of mutating calls throttled, 10% of all calls answered 500 InternalError and some connections
 * reset, from the evening on. The handlers keep the SDK's classification and their own attempts (no AWS_MAX_ATTEMPTS):
 * every instance is backed up, no invocation fails (so nothing reaches the failure queue or a dead-letter queue) and
 * every promise holds. Time is virtual: the retries' backoff and the pacing pass on the simulated clock.
 */

import { formatRunId, InstanceTag, imageName } from '../../../lib/tags';
import { CONNECTION_RESET, INTERNAL_ERROR } from '../../../local/ec2';
import type { FleetMember } from '../../../local/runner/fleet';
import type { InvocationRecord } from '../../../local/runner/simulation';
import { type Harness, MIXED_FLEET, night, startHarness } from './harness';

/** The mixed fleet without its failing images, and more of each mode. */
const FLEET: readonly FleetMember[] = [
  ...MIXED_FLEET.filter((member) => member.imagesFail !== true),
  ...Array.from({ length: 6 }, (_, index) => ({
    name: `node-${index + 1}`,
    tags: { Backup: 'true', 'ami-backup:retain': '1', ...(index % 2 === 0 ? { 'ami-backup:mode': 'no-reboot' } : {}) },
    optedIn: true,
  })),
];

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness(FLEET, { virtualTimeLatencyMs: 50 });
}, 60_000);

afterAll(async () => {
  await harness.stop();
});

const partialFailures = (record: InvocationRecord): unknown[] => {
  const result = record.result;
  if (typeof result !== 'object' || result === null || !('batchItemFailures' in result)) return [];
  return Array.isArray(result.batchItemFailures) ? result.batchItemFailures : [];
};

it('two nights of throttling, server errors and connection resets: every instance backed up, no invocation failed', async () => {
  // Prepare
  const { faults } = harness.ec2;
  faults.throttle(0.3, { calls: 'mutating', seed: 11 });
  faults.failCalls({ probability: 0.1, error: INTERNAL_ERROR, calls: 'all', seed: 12 });
  faults.failCalls({ probability: 0.02, error: CONNECTION_RESET, calls: 'all', seed: 13 });
  const optedIn = harness.fleet.filter((member) => member.optedIn);
  const records: InvocationRecord[] = [];

  for (const n of [1, 2]) {
    const before = harness.world();

    // Act: the night's run, its images and their reboots, and the rotation of the night before's images.
    records.push(...(await harness.run(night(n, '09:05'))));

    // Assess
    const runId = formatRunId(night(n, '03:00'));
    const world = harness.world();
    const backedUp = optedIn.filter((member) =>
      world.images.some(
        (image) =>
          image.name === imageName(member.instanceId, runId) &&
          image.state === 'available' &&
          image.tags[InstanceTag.state] === 'succeeded',
      ),
    );
    expect(backedUp.map((member) => member.name)).toEqual(optedIn.map((member) => member.name));
    expect(harness.check(before, night(n, '03:00'))).toEqual([]);
  }
  expect(harness.failedInvocations).toEqual([]);
  expect(records.filter((record) => record.error !== undefined)).toEqual([]);
  expect(records.reduce((sum, record) => sum + (record.deadLettered ?? 0), 0)).toBe(0);
  expect(records.flatMap(partialFailures)).toEqual([]);
  // The nights were hostile: many calls failed before the SDK's retries got them through (10% of all calls answered
  // 500 alone; throttling and resets come on top).
  expect(faults.injected).toBeGreaterThan(20);
  expect(faults.injected / faults.requests).toBeGreaterThan(0.1);
  expect(harness.ec2.audit.filter((entry) => entry.kind === 'image-deregistered').length).toBeGreaterThan(0);
}, 60_000);
