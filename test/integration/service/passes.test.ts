/**
 * createImages passes run only while a run has work in flight: a run's start turns their rule on, a pass that finds
 * nothing left turns it off, and the sweep turns it back on for work left behind. While regular passes would see an
 * instance back from its image's reboot late, passes come every minute instead.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { BackupStep, InstanceTag } from '../../../lib/tags';
import { LOCAL_ACCOUNT_ID, type LocalEc2 } from '../../../local/ec2';
import { launchFleet } from '../../../local/runner/fleet';
import { scheduledEvent } from '../../../local/runner/simulation';
import { nextRunTime, type ServiceUnderTest, startService } from './fixtures';
import { inventory, tagsOf } from './support';

const MINUTE = 60_000;
/** The regular passes' interval (createImagesSchedule's default). */
const INTERVAL = 5 * MINUTE;
const PASSES_RULE = 'ami-backup-dev-passes';
const MINUTE_PASSES_RULE = 'ami-backup-dev-minute-passes';

let ec2: LocalEc2;
let client: EC2Client;
let invoke: ServiceUnderTest['invoke'];

const at = (time: Date): unknown => scheduledEvent('test', time, 'us-east-1', LOCAL_ACCOUNT_ID);
const passesOn = (): boolean => ec2.eventRules.isEnabled(PASSES_RULE);
const minutePassesOn = (): boolean => ec2.eventRules.isEnabled(MINUTE_PASSES_RULE);

/** Moves the clock by `ms` and runs a createImages pass then, fired by the passes' rule (or another: the sweep). */
async function passAfter(ms: number, rule = PASSES_RULE): Promise<void> {
  ec2.clock.advance(ms);
  await invoke('createImages', scheduledEvent(rule, ec2.clock.now(), 'us-east-1', LOCAL_ACCOUNT_ID));
}

// One endpoint for the file: the handlers' clients are made once, at their cold start. Tests run in order.
beforeAll(async () => {
  ({ ec2, client, invoke } = await startService());
});

afterAll(async () => {
  client.destroy();
  await ec2.stop();
});

/** Runs passes as their rules fire while one is on (at most an hour of them): the runs in flight end. */
async function settle(): Promise<void> {
  for (let pass = 0; pass < 60 && (passesOn() || minutePassesOn()); pass += 1) {
    if (minutePassesOn()) await passAfter(MINUTE, MINUTE_PASSES_RULE);
    else await passAfter(INTERVAL);
  }
}

describe('the passes of createImages', () => {
  it('stop after a pass that finds no run in flight, and start again with the next run', async () => {
    const [member] = await launchFleet(client, [{ name: 'web', tags: { Backup: 'true' }, optedIn: true }]);
    const instanceId = member?.instanceId ?? '';
    // Deployed enabled; nothing is in flight yet.
    expect(passesOn()).toBe(true);
    await passAfter(MINUTE);
    expect(passesOn()).toBe(false);

    const start = nextRunTime(ec2);
    ec2.clock.advanceTo(start);
    await invoke('reboot', at(start));
    expect(passesOn()).toBe(true);

    // Passes carry the run to its end (the image, the reboot's return), then stop.
    await settle();
    const after = await inventory(client);
    const tags = tagsOf(after.instances.find((instance) => instance.InstanceId === instanceId) ?? {});
    expect(tags[InstanceTag.state]).toBe(BackupStep.succeeded);
    expect(passesOn()).toBe(false);
  });

  it('stay on while an instance waits for its turn, and a sweep turns them back on for work left behind', async () => {
    await launchFleet(
      client,
      ['a', 'b'].map((name) => ({ name, tags: { Backup: 'true', 'ami-backup:group': 'pair' }, optedIn: true })),
    );
    const start = nextRunTime(ec2);
    ec2.clock.advanceTo(start);
    await invoke('reboot', at(start));
    await passAfter(MINUTE);
    // One is down for its image, the other waits for its turn: work remains.
    expect(passesOn()).toBe(true);

    // Lost: the rule turned off by hand (or by a call that raced a run's start).
    ec2.eventRules.put(PASSES_RULE, 'rate(1 minute)', 'DISABLED');
    // The hourly sweep is a pass like any other: it finds the work and turns the passes back on.
    await passAfter(MINUTE, 'ami-backup-dev-sweep');
    expect(passesOn()).toBe(true);
    await settle();
    expect(passesOn()).toBe(false);
    // A sweep with nothing to do leaves the passes off, at the cost of one call.
    const calls = ec2.callCount();
    await passAfter(60 * MINUTE, 'ami-backup-dev-sweep');
    expect(passesOn()).toBe(false);
    expect(ec2.callCount() - calls).toBe(1);
  });

  it('come every minute while regular passes would see a reboot end late, until no instance is down', async () => {
    await launchFleet(
      client,
      ['a', 'b', 'c'].map((name) => ({ name, tags: { Backup: 'true', 'ami-backup:group': 'trio' }, optedIn: true })),
    );
    const trio = async (): Promise<(string | undefined)[]> =>
      (await inventory(client)).instances
        .filter((instance) => tagsOf(instance)['ami-backup:group'] === 'trio')
        .map((instance) => tagsOf(instance)[InstanceTag.state]);
    const start = nextRunTime(ec2);
    ec2.clock.advanceTo(start);
    await invoke('reboot', at(start));
    // The first member is imaged at the pass's minute: its grace ends as the regular pass 5 minutes later looks.
    await passAfter(MINUTE);
    expect([passesOn(), minutePassesOn()]).toEqual([true, false]);
    // A pass two minutes later (a sweep, or the rule fired off its beat) would leave the next regular pass 2 minutes
    // after the grace's end: passes hand over to the minute rule.
    await passAfter(2 * MINUTE);
    expect([passesOn(), minutePassesOn()]).toEqual([false, true]);
    // The minute passes see each member back as its grace ends and image the next one at once: the group's three
    // turns end 5 minutes apart. They go on while one is down; the last one's image is ready when it is back, so the
    // pass that records it finds nothing left and stops.
    let minutes = 0;
    while (minutePassesOn() && minutes < 30) {
      await passAfter(MINUTE, MINUTE_PASSES_RULE);
      minutes += 1;
    }
    expect(minutes).toBe(3 + 5 + 5);
    expect([passesOn(), minutePassesOn()]).toEqual([false, false]);
    expect(await trio()).toEqual([BackupStep.succeeded, BackupStep.succeeded, BackupStep.succeeded]);
  });

  it('leave a run started by hand for chosen instances to the passes too', async () => {
    const [member] = await launchFleet(client, [{ name: 'one', tags: { Backup: 'true' }, optedIn: true }]);
    await settle();
    expect(passesOn()).toBe(false);
    await invoke('reboot', { instanceIds: [member?.instanceId ?? ''] });
    expect(passesOn()).toBe(true);
  });
});
