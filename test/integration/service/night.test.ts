/**
 * One backup night for the demo fleet, the real handlers wired by serverless.yml, against the local EC2 endpoint
 * (throttling on): what it leaves in tags, images and snapshots.
 */
import type { Image } from '@aws-sdk/client-ec2';
import { BackupStep, ImageTag, InstanceTag, imageName, OperatorTag } from '../../../lib/tags';
import { type NightFixture, runFleet } from './fixtures';
import { type Inventory, inventory, OWNER, tagsOf } from './support';

const RUN = '20261126T0300Z';
const BACKED_UP = [
  'web-1',
  'web-2',
  'web-3',
  'db-1',
  'vault-1',
  'batch-1',
  'cache-1',
  'legacy-1',
  'typo-1',
  'worker-1',
  'worker-2',
];
/** Instances whose backup fails, each for its own reason. */
const FAILED = ['flaky-1', 'ephemeral-1', 'sleepy-1', 'fragile-1'];

let fixture: NightFixture;
let after: Inventory;

beforeAll(async () => {
  fixture = await runFleet(1);
  after = await inventory(fixture.client);
}, 60_000);

afterAll(async () => {
  await fixture.ec2.stop();
});

function recordedImage(name: string): Image {
  const instance = after.instance(name);
  const run = tagsOf(instance)[InstanceTag.lastSuccess] ?? '';
  const image = after.images.find((candidate) => candidate.Name === imageName(instance.InstanceId ?? '', run));
  if (image === undefined) throw new Error(`${name}: image of the last good run ${run} not found`);
  return image;
}

describe('a backup night', () => {
  it('reports that every instance that could be backed up was', () => {
    expect(fixture.report.problems).toEqual([]);
  });

  it("needed nothing beyond each function's deployed role, enforced on every call", () => {
    expect(fixture.report.totals.deniedCalls).toBe(0);
    expect(fixture.ec2.denied).toEqual([]);
    // The functions did call: with their own credentials, under their roles.
    expect(fixture.report.totals.ec2Calls).toBeGreaterThan(0);
  });

  it.each(BACKED_UP)('records a new available image of %s, named for the run and tagged as the service’s', (name) => {
    const instance = after.instance(name);
    const tags = tagsOf(instance);
    expect(tags[InstanceTag.state]).toBe(BackupStep.succeeded);
    expect(tags[InstanceTag.run]).toBe(RUN);
    const image = recordedImage(name);
    expect(image.State).toBe('available');
    expect(image.Name).toBe(imageName(instance.InstanceId ?? '', RUN));
    expect(tagsOf(image)).toMatchObject({
      [ImageTag.managedBy]: OWNER,
      [ImageTag.instanceId]: instance.InstanceId,
      [ImageTag.run]: RUN,
    });
    expect(tags[InstanceTag.lastSuccess]).toBe(RUN);
  });

  it.each(BACKED_UP)('tags every snapshot of the image of %s with ownership and its source', (name) => {
    const image = recordedImage(name);
    const snapshots = after.snapshotsOf(image);
    expect(snapshots.length).toBe(image.BlockDeviceMappings?.length);
    for (const snapshot of snapshots) {
      expect(snapshot.State).toBe('completed');
      expect(snapshot.Description).toBe(
        `Created by CreateImage(${after.instance(name).InstanceId}) for ${image.ImageId}`,
      );
      expect(tagsOf(snapshot)).toMatchObject({ [ImageTag.managedBy]: OWNER, [ImageTag.run]: RUN });
      expect(Object.keys(tagsOf(snapshot)).filter((key) => key.startsWith('aws:'))).toEqual([]);
    }
  });

  it('records the retention that applied on the image, and none when the tag is invalid', () => {
    expect(tagsOf(recordedImage('web-2'))[ImageTag.retain]).toBe('2');
    expect(tagsOf(recordedImage('web-1'))[ImageTag.retain]).toBe('7');
    expect(tagsOf(recordedImage('cache-1'))).toMatchObject({ [ImageTag.retain]: '1', [ImageTag.retainDays]: '2' });
    expect(tagsOf(recordedImage('typo-1'))[ImageTag.retain]).toBeUndefined();
  });

  it('reports an invalid tag value on the instance', () => {
    expect(tagsOf(after.instance('typo-1'))[InstanceTag.policyError]).toContain(OperatorTag.retain);
    expect(tagsOf(after.instance('web-1'))[InstanceTag.policyError]).toBeUndefined();
  });

  it('reboots instances in reboot mode, and neither no-reboot nor stopped ones', () => {
    const downtime = Object.fromEntries(fixture.report.instances.map((entry) => [entry.name, entry.downtimeSeconds]));
    expect(downtime['web-1']).toBeGreaterThan(0);
    expect(downtime['db-1']).toBe(0);
    expect(downtime['batch-1']).toBe(0);
    expect(after.instance('batch-1').State?.Name).toBe('stopped');
  });

  it('makes the calls the modes ask for: never RebootInstances, EC2’s reboot (NoReboot=false) for every running reboot-mode instance', () => {
    expect(fixture.ec2.callCount('RebootInstances')).toBe(0);
    const created = fixture.ec2.audit.filter(
      (entry) => entry.kind === 'image-created' && entry.tags.get(ImageTag.managedBy) === OWNER,
    );
    const byName = (name: string) => created.filter((entry) => entry.instanceId === after.instance(name).InstanceId);
    for (const name of [
      'web-1',
      'web-2',
      'web-3',
      'vault-1',
      'cache-1',
      'typo-1',
      'worker-1',
      'worker-2',
      'fragile-1',
    ]) {
      expect(byName(name)).toEqual([expect.objectContaining({ noReboot: false, instanceState: 'running' })]);
    }
    expect(byName('db-1')).toEqual([expect.objectContaining({ noReboot: true, instanceState: 'running' })]);
    expect(byName('batch-1')).toEqual([expect.objectContaining({ instanceState: 'stopped' })]);
    const rebootMode = created.filter((entry) => {
      const instance = after.instances.find((candidate) => candidate.InstanceId === entry.instanceId);
      return entry.instanceState === 'running' && tagsOf(instance ?? {})[OperatorTag.mode] === undefined;
    });
    expect(rebootMode.length).toBeGreaterThan(0);
    expect(rebootMode.filter((entry) => entry.noReboot !== false)).toEqual([]);
  });

  it('takes the members of a group down one at a time, whether grouped by tag or by Auto Scaling group', () => {
    const report = new Map(fixture.report.instances.map((entry) => [entry.name, entry]));
    expect(['web-1', 'web-2', 'web-3'].map((name) => report.get(name)?.group)).toEqual(['web', 'web', 'web']);
    expect(['worker-1', 'worker-2'].map((name) => report.get(name)?.group)).toEqual(['workers-asg', 'workers-asg']);
    expect(fixture.report.totals.maxDownInOneGroup).toBe(1);
    // Several ungrouped instances went down together: only the groups held back.
    expect(fixture.report.totals.maxDownAtOnce).toBeGreaterThan(2);
    const reboots = (names: string[]) =>
      fixture.ec2.audit
        .filter(
          (entry) =>
            entry.kind === 'image-created' && names.some((n) => after.instance(n).InstanceId === entry.instanceId),
        )
        .map((entry) => [entry.downAt ?? 0, entry.healthyAt ?? 0] as const)
        .sort((a, b) => a[0] - b[0]);
    for (const group of [
      ['web-1', 'web-2', 'web-3'],
      ['worker-1', 'worker-2'],
    ]) {
      const windows = reboots(group);
      expect(windows).toHaveLength(group.length);
      windows.slice(1).forEach(([downAt], index) => {
        expect(downAt).toBeGreaterThanOrEqual(windows[index]?.[1] ?? Number.POSITIVE_INFINITY);
      });
    }
  });

  it('records a backup whose instance does not come back healthy as failed verification, and keeps its image', () => {
    const fragile = after.instance('fragile-1');
    const tags = tagsOf(fragile);
    expect(tags[InstanceTag.state]).toBe(BackupStep.failed);
    expect(tags[InstanceTag.lastError]).toMatch(new RegExp(`^${RUN}: failed-verification: `));
    const images = after.imagesOf(fragile.InstanceId ?? '');
    expect(images.map((image) => [image.Name, image.State])).toEqual([
      [imageName(fragile.InstanceId ?? '', RUN), 'available'],
    ]);
    expect(tagsOf(images[0] ?? {})[InstanceTag.state]).toBe(BackupStep.failed);
    const report = fixture.report.instances.find((entry) => entry.name === 'fragile-1');
    expect(report).toMatchObject({ verified: false, imagesKept: 1 });
    expect(fixture.report.instances.find((entry) => entry.name === 'web-1')?.verified).toBe(true);
  });

  it.each([
    ['ephemeral-1', 'root device is instance-store'],
    ['sleepy-1', 'instance is hibernated'],
  ])('screens %s: its failure recorded with the reason, never imaged nor rebooted', (name, reason) => {
    const instance = after.instance(name);
    expect(tagsOf(instance)[InstanceTag.state]).toBe(BackupStep.failed);
    expect(tagsOf(instance)[InstanceTag.lastError]).toContain(`${RUN}: ${reason}`);
    expect(after.imagesOf(instance.InstanceId ?? '')).toEqual([]);
    expect(fixture.ec2.audit.filter((entry) => entry.instanceId === instance.InstanceId)).toEqual([]);
    expect(fixture.report.instances.find((entry) => entry.name === name)?.downtimeSeconds).toBe(0);
  });

  it('records a failed image as a failed run, and rotation removes the failed image with its snapshots', () => {
    const flaky = after.instance('flaky-1');
    expect(tagsOf(flaky)[InstanceTag.state]).toBe(BackupStep.failed);
    expect(tagsOf(flaky)[InstanceTag.lastError]).toMatch(new RegExp(`^${RUN}: image ami-[0-9a-f]+ is failed`));
    expect(after.imagesOf(flaky.InstanceId ?? '')).toEqual([]);
    expect(after.snapshots.filter((snapshot) => tagsOf(snapshot)[ImageTag.instanceId] === flaky.InstanceId)).toEqual(
      [],
    );
  });

  it('leaves instances that are not opted in alone', () => {
    const scratch = after.instance('scratch-1');
    expect(Object.keys(tagsOf(scratch)).filter((key) => key.startsWith('ami-backup:'))).toEqual([]);
    expect(after.imagesOf(scratch.InstanceId ?? '')).toEqual([]);
  });

  it('never touches images that look like its own but lack its ownership tag', () => {
    const lookAlikes = after.images.filter((image) => fixture.lookAlikeImageIds.includes(image.ImageId ?? ''));
    expect(lookAlikes.map((image) => image.State)).toEqual(['available', 'available', 'available']);
    for (const image of lookAlikes) expect(after.snapshotsOf(image).length).toBe(image.BlockDeviceMappings?.length);
  });

  it('publishes one outcome event per opted-in instance', () => {
    const events = fixture.ec2.putEvents.map((entry) => ({
      source: entry.Source,
      type: entry.DetailType,
      instanceId: (JSON.parse(entry.Detail ?? '{}') as { instanceId?: string }).instanceId,
    }));
    const succeeded = events.filter((event) => event.type === 'Backup Succeeded').map((event) => event.instanceId);
    expect(succeeded.sort()).toEqual(BACKED_UP.map((name) => after.instance(name).InstanceId).sort());
    expect(
      events
        .filter((event) => event.type === 'Backup Failed')
        .map((event) => event.instanceId)
        .sort(),
    ).toEqual(FAILED.map((name) => after.instance(name).InstanceId).sort());
    expect(new Set(events.map((event) => event.source))).toEqual(new Set(['ami-backup']));
  });
});
