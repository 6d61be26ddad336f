/**
 * Rotation runs until its work is done: a rotation that runs out of time turns its follow-up passes on, a pass that
 * finishes turns them off, and the nightly cap counts across all of them (on each instance's newest good image).
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { seedHistory } from '../../../bench/history';
import { RotationTag, utcDay } from '../../../lib/tags';
import { LOCAL_ACCOUNT_ID, type LocalEc2 } from '../../../local/ec2';
import { launchFleet } from '../../../local/runner/fleet';
import { scheduledEvent } from '../../../local/runner/simulation';
import { type ServiceUnderTest, startService } from './fixtures';
import { inventory, tagsOf } from './support';

const ROTATION_PASSES_RULE = 'ami-backup-dev-rotation-passes';
/** The nightly schedule's rule (unnamed in serverless.yml: any other name). */
const ROTATE_SCHEDULE_RULE = 'ami-backup-dev-RotateEventsRuleSchedule1';
const DAY_MS = 86_400_000;

let ec2: LocalEc2;
let client: EC2Client;
let invoke: ServiceUnderTest['invoke'];

beforeAll(async () => {
  ({ ec2, client, invoke } = await startService());
});

afterAll(async () => {
  client.destroy();
  await ec2.stop();
});

const rotationPassesOn = (): boolean => ec2.eventRules.isEnabled(ROTATION_PASSES_RULE);

/** Rotates at `time`, fired by `rule`, with `timeoutSeconds` left in the invocation. */
async function rotateAt(time: Date, rule: string, timeoutSeconds = 900): Promise<Record<string, unknown>> {
  ec2.clock.advanceTo(time);
  return invoke('rotate', scheduledEvent(rule, time, 'us-east-1', LOCAL_ACCOUNT_ID), timeoutSeconds);
}

it('carries on with passes until done, expiring at most the day’s cap per instance across all invocations', async () => {
  // Two instances keeping one image, with ten good ones each: nine due, five a day at most.
  const members = await launchFleet(
    client,
    ['a', 'b'].map((name) => ({ name, tags: { Backup: 'true', 'ami-backup:retain': '1' }, optedIn: true })),
  );
  // The nights before, the last one the coming night (the first must come after the clock: it only moves on).
  const lastRun = new Date(Math.ceil((ec2.clock.now().getTime() + 10 * DAY_MS) / DAY_MS) * DAY_MS + 3 * 3_600_000);
  seedHistory({ ec2, members, nights: 10, lastRun, owner: 'ami-backup-dev', defaultRetain: 7 });
  const morning = new Date(lastRun.getTime() + 3 * 3_600_000);
  const imagesLeft = async (): Promise<number[]> => {
    const after = await inventory(client);
    return members.map((member) => after.imagesOf(member.instanceId, 'available').length);
  };
  expect(await imagesLeft()).toEqual([10, 10]);
  expect(rotationPassesOn()).toBe(false);

  // The nightly rotation has no time left for its work: it defers it all, counting nothing, and turns the passes on.
  const first = await rotateAt(morning, ROTATE_SCHEDULE_RULE, 20);
  expect(first.deferred).toBe(10);
  expect(await imagesLeft()).toEqual([10, 10]);
  expect(rotationPassesOn()).toBe(true);

  // A pass does the work: five of each instance's nine due images, the oldest, counted on the newest one.
  const pass = await rotateAt(new Date(morning.getTime() + 15 * 60_000), ROTATION_PASSES_RULE);
  expect(pass.deferred).toBe(0);
  expect(pass.imagesExpired).toBe(10);
  expect(await imagesLeft()).toEqual([5, 5]);
  expect(rotationPassesOn()).toBe(false);
  const after = await inventory(client);
  for (const member of members) {
    const newest = after
      .imagesOf(member.instanceId, 'available')
      .reduce((a, b) => ((a.CreationDate ?? '') > (b.CreationDate ?? '') ? a : b));
    expect(tagsOf(newest)[RotationTag.expiredToday]).toBe(`${utcDay(morning)}/5`);
    // The oldest went first: what is left is the newest five.
    const created = after.imagesOf(member.instanceId, 'available').map((image) => image.CreationDate ?? '');
    expect(created.every((date) => date >= new Date(lastRun.getTime() - 4 * DAY_MS).toISOString())).toBe(true);
  }
  // More invocations the same day expire nothing more; the snapshots of what went are gone with it.
  await rotateAt(new Date(morning.getTime() + 3_600_000), ROTATE_SCHEDULE_RULE);
  await rotateAt(new Date(morning.getTime() + 2 * 3_600_000), ROTATE_SCHEDULE_RULE);
  expect(await imagesLeft()).toEqual([5, 5]);
  expect((await inventory(client)).snapshots).toHaveLength(2 * 5);

  // The next day, the rest.
  await rotateAt(new Date(morning.getTime() + DAY_MS), ROTATE_SCHEDULE_RULE);
  expect(await imagesLeft()).toEqual([1, 1]);
  expect(rotationPassesOn()).toBe(false);
});
