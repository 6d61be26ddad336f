/**
 * One backup night for the demo fleet, the real handlers wired by serverless.yml, against the local EC2 endpoint
 * (throttling on): what it leaves in tags, images and snapshots.
 */
import type { Image } from '@aws-sdk/client-ec2';
import { BackupStep, ImageTag, InstanceTag, imageName, OperatorTag } from '../../../lib/tags';
import { type NightFixture, runFleet } from './fixtures';
import { type Inventory, inventory, OWNER, tagsOf } from './support';

const RUN = '20261126T0300Z';
const BACKED_UP = ['web-1', 'web-2', 'db-1', 'batch-1', 'cache-1', 'legacy-1', 'typo-1'];

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
    expect(after.instance('batch-1').State?.Name).toBe('stopped');
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
    expect(events.filter((event) => event.type === 'Backup Failed').map((event) => event.instanceId)).toEqual([
      after.instance('flaky-1').InstanceId,
    ]);
    expect(new Set(events.map((event) => event.source))).toEqual(new Set(['ami-backup']));
  });
});
