/**
 * The crash matrix: a clean night makes K calls (EC2 and EventBridge); for every call k that changes something, and
 * every call just before one that does, the same night is replayed from the same start with the invocation that makes
 * the k-th call killed right after it (every later call of that invocation fails at once, as if Lambda had timed it
 * out), Lambda's retries and the schedules carrying on. The promises must hold after that night and after the start of
 * the next. A cut after any other call (a read followed by a read) leaves the world as the cut after that next read
 * does, since reads change nothing: the every-minute passes that find nothing to do are left out that way.
 *
 * Restore tests run in the crashed night too: deployed with a subnet and security group, and scheduled (here daily) at
 * 05:00, after the night's backups, with checking passes every 5 minutes until 05:25 (the launch plus the timeout).
 * Their calls (the launches, the checks, the results recorded, the terminations) are crash points like the others,
 * sampled where they repeat (of a pass's launches, the first and the last), and no test instance may outlive its
 * test, whatever was cut.
 *
 * So does sharing (the fleet's `web` and `vault` share their good backups with another account, unencrypted and
 * under the AWS managed key, and `keyed`, under a customer managed key, starts to on the crashed night): the share passes' key grants, re-encrypted copies,
 * permission changes and records, and rotation's unsharing before an expiry and its expiry of copies with their source.
 *
 * So do the copies to another Region (the fleet's `db` copies its good backups to us-west-2, keeping one there): the
 * copy passes' CopyImage, the outcomes recorded on copy and source, and the rotation of the copies there are cut
 * like the rest, and each good backup must have exactly one copy, recorded good, with no orphan snapshot and nothing
 * foreign touched in that Region either.
 */
import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { ShareTag } from '../../../lib/tags';
import type { Violation, World } from '../../../local/runner/invariants';
import {
  COPY_REGION,
  type Harness,
  MIXED_FLEET,
  night,
  type Saved,
  SHARE_ACCOUNT,
  SOAK,
  SOAK_FLEET,
  startHarness,
} from './harness';

interface CrashFailure {
  k: number;
  after: string | undefined;
  when: string;
  violations: Violation[];
}

let harness: Harness;
let saved: Saved;
let before: World;
let calls: number;
/** The calls to cut after, 1-based. */
let crashPoints: number[];
/** The calls of the restore tests' passes cut after. */
let restoreTestSteps: string[];
/** The calls cut after, each once. */
let stepsCut: string[];

/** Restore tests on, inside the crashed night's window (the weekly default would fall on a Sunday afternoon). */
const RESTORE_TEST_PARAMS = {
  restoreTestSubnetId: 'subnet-0123456789abcdef0',
  restoreTestSecurityGroupId: 'sg-0123456789abcdef0',
  restoreTestSchedule: 'cron(0 5 * * ? *)',
  restoreTestCheckSchedule: 'cron(0-25/5 5 * * ? *)',
};

const CRASH_NIGHT_START = night(2, '02:55');
/** The restore tests' passes: from the launch to the last check. */
const RESTORE_TESTS_START = night(2, '04:59');
const RESTORE_TESTS_END = night(2, '05:29');
const CRASH_NIGHT_END = night(2, '06:05');
// The soak carries on through the next night's rotation too.
const NEXT_NIGHT_CHECK = SOAK ? night(3, '06:05') : night(3, '03:30');

beforeAll(async () => {
  harness = await startHarness(SOAK ? SOAK_FLEET : MIXED_FLEET, { params: RESTORE_TEST_PARAMS });
  // A first night, so that the crashed night's rotation has images to expire.
  await harness.run(CRASH_NIGHT_START);
  // keyed starts sharing tonight: its key's grant to the account is among the crashed night's calls.
  const keyed = harness.fleet.find((member) => member.name === 'keyed')?.instanceId ?? '';
  await harness.client.send(
    new CreateTagsCommand({ Resources: [keyed], Tags: [{ Key: ShareTag.shareWith, Value: SHARE_ACCOUNT }] }),
  );
  saved = harness.save();
  await harness.restore(saved);
  before = harness.world();
  const start = harness.ec2.faults.requests;
  await harness.run(RESTORE_TESTS_START);
  const windowStart = harness.ec2.faults.requests - start;
  await harness.run(RESTORE_TESTS_END);
  const windowEnd = harness.ec2.faults.requests - start;
  await harness.run(CRASH_NIGHT_END);
  const actions = harness.ec2.faults.actions.slice(start);
  calls = actions.length;
  const writes = (action: string | undefined): boolean => action !== undefined && !action.startsWith('Describe');
  crashPoints = actions.flatMap((action, index) => (writes(action) || writes(actions[index + 1]) ? [index + 1] : []));
  // The restore tests' passes, sampled: within a run of the same call (a launch per image), only its first and last.
  const inWindow = (k: number): boolean => k > windowStart && k <= windowEnd;
  const sameAround = (k: number): boolean => actions[k - 2] === actions[k - 1] && actions[k] === actions[k - 1];
  crashPoints = crashPoints.filter((k) => !inWindow(k) || !sameAround(k));
  restoreTestSteps = [...new Set(crashPoints.filter(inWindow).map((k) => actions[k - 1] ?? ''))].sort();
  stepsCut = [...new Set(crashPoints.map((k) => actions[k - 1] ?? ''))].sort();
}, 60_000);

afterAll(async () => {
  await harness.stop();
});

it('a clean night keeps every promise', () => {
  expect(harness.check(before, night(2, '03:00'))).toEqual([]);
  expect(calls).toBeGreaterThan(20);
  expect(crashPoints.length).toBeGreaterThan(20);
  // The restore tests' steps are among the calls cut after: the launches, the checks, the results, the terminations.
  expect(restoreTestSteps).toEqual(
    expect.arrayContaining(['RunInstances', 'DescribeInstanceStatus', 'PutEvents', 'CreateTags', 'TerminateInstances']),
  );
  // The copy steps are among them: the copy started, its outcome recorded, the older copy expired in its Region.
  expect(stepsCut).toEqual(expect.arrayContaining(['CopyImage', 'DeregisterImage', 'EnableRule', 'DisableRule']));
  // And the sharing steps: create-volume on the snapshots, launch on the image, unsharing before an expiry, the key
  // grant, the re-encrypted copy (CopyImage, above) and its expiry with its source.
  expect(stepsCut).toEqual(expect.arrayContaining(['ModifySnapshotAttribute', 'ModifyImageAttribute', 'CreateGrant']));
  const copies = [...harness.ec2.backendIn(COPY_REGION).images.values()].filter(
    (image) => image.state === 'available' && image.tags.get('ami-backup:source-image') !== undefined,
  );
  expect(copies).toHaveLength(1);
});

it('every crash point converges: the promises hold after the night and after the start of the next', async () => {
  const failures: CrashFailure[] = [];
  for (const k of crashPoints) {
    await harness.restore(saved);
    harness.ec2.faults.cutAfter(k);
    await harness.run(CRASH_NIGHT_END);
    const after = harness.ec2.faults.cutAfterAction;
    const afterNight = harness.check(before, night(2, '03:00'));
    if (afterNight.length > 0) failures.push({ k, after, when: 'after the night', violations: afterNight });
    await harness.run(NEXT_NIGHT_CHECK);
    const nextNight = harness.check(before, night(3, '03:00'));
    if (nextNight.length > 0) failures.push({ k, after, when: 'after the next night', violations: nextNight });
    expect(after).toBeDefined();
  }
  expect(failures).toEqual([]);
}, 1_800_000);
