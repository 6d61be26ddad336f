/**
 * Storms: the same night replayed under throttling, server errors, lost events and late-visible images, and a week
 * of nights with random (seeded) faults. The handlers keep the SDK's retries but fewer of them (AWS_MAX_ATTEMPTS), so
 * the faults reach the service instead of being absorbed by backoff; the promises must hold after every night.
 */
import { INTERNAL_ERROR, seededRandom } from '../../../local/ec2';
import type { World } from '../../../local/runner/invariants';
import { type Harness, MINUTE, night, type Saved, SOAK, startHarness } from './harness';

// Set before the handlers' SDK clients are made (at their cold start, in startHarness).
process.env.AWS_MAX_ATTEMPTS = '2';

let harness: Harness;
let saved: Saved;
let before: World;

const NIGHT_START = night(2, '02:55');
const NIGHT_END = night(2, '06:05');

beforeAll(async () => {
  harness = await startHarness();
  await harness.run(NIGHT_START);
  saved = harness.save();
}, 60_000);

beforeEach(async () => {
  await harness.restore(saved);
  before = harness.world();
});

afterAll(async () => {
  await harness.stop();
});

it('30% of mutating calls throttled: every promise holds', async () => {
  harness.ec2.faults.throttle(0.3, { seed: 1 });
  await harness.run(NIGHT_END);
  expect(harness.ec2.faults.injected).toBeGreaterThan(5);
  expect(harness.check(before, night(2, '03:00'))).toEqual([]);
}, 60_000);

it("the reboot's step tags refused (throttled past the SDK's retries): Lambda's retry starts the run", async () => {
  // Two faults on the first CreateTags: the call and the SDK's one retry are both throttled.
  harness.ec2.faults.failCalls({ calls: ['CreateTags'], nth: 1 });
  harness.ec2.faults.failCalls({ calls: ['CreateTags'], nth: 1 });
  const records = await harness.run(NIGHT_END);
  expect(records.filter((record) => record.functionName === 'reboot' && record.error !== undefined)).toEqual([]);
  expect(harness.ec2.faults.injected).toBe(2);
  expect(harness.check(before, night(2, '03:00'))).toEqual([]);
}, 60_000);

it('10% of all calls failing with 500: every promise holds', async () => {
  harness.ec2.faults.failCalls({ probability: 0.1, error: INTERNAL_ERROR, seed: 2 });
  await harness.run(NIGHT_END);
  expect(harness.ec2.faults.injected).toBeGreaterThan(5);
  expect(harness.check(before, night(2, '03:00'))).toEqual([]);
}, 60_000);

it('every EC2 AMI State Change event lost: the sweeps record every outcome', async () => {
  harness.ec2.events.drop((event) => event['detail-type'] === 'EC2 AMI State Change');
  const records = await harness.run(NIGHT_END);
  expect(records.filter((record) => record.functionName === 'recordImageState')).toEqual([]);
  expect(harness.check(before, night(2, '03:00'))).toEqual([]);
}, 60_000);

it('new images invisible to DescribeImages for 5 minutes: no duplicate image, no false failure', async () => {
  harness.ec2.faults.hideNewImages(5 * MINUTE);
  await harness.run(NIGHT_END);
  expect(harness.check(before, night(2, '03:00'))).toEqual([]);
  // Names are unique per account: the look-alike another account shares under a run's name does not count.
  const names = harness
    .world()
    .images.filter((image) => image.ownerId === undefined)
    .map((image) => image.name);
  expect(new Set(names).size).toBe(names.length);
}, 60_000);

const STORMY_NIGHTS = SOAK ? 30 : 7;

it(`${STORMY_NIGHTS} nights with random faults (seeded): every promise holds after each night`, async () => {
  const random = seededRandom(7);
  const nights: { night: number; injected: number; violations: unknown[] }[] = [];
  for (let n = 2; n < 2 + STORMY_NIGHTS; n += 1) {
    const { faults, events } = harness.ec2;
    faults.clear();
    faults.throttle(0.3 * random(), { seed: n });
    faults.failCalls({ probability: 0.1 * random(), error: INTERNAL_ERROR, seed: 100 + n });
    faults.hideNewImages(Math.floor(5 * random()) * MINUTE);
    events.setDropRate(random(), n);
    const injectedBefore = faults.injected;
    await harness.run(night(n, '06:05'));
    nights.push({
      night: n,
      injected: faults.injected - injectedBefore,
      violations: harness.check(before, night(n, '03:00')),
    });
    // The day after runs clean to the next night, as a storm passes.
    faults.clear();
    await harness.run(night(n + 1, '02:55'));
  }
  expect(nights.filter((entry) => entry.violations.length > 0)).toEqual([]);
  expect(nights.reduce((sum, entry) => sum + entry.injected, 0)).toBeGreaterThan(20);
}, 1_800_000);
