/**
 * Four nights in a row for the demo fleet: rotation keeps what each retention asks for, deregisters the rest with
 * their snapshots, keeps a terminated instance's last images, and never leaves a snapshot of its own without an image.
 */
import { CopyTag, ImageTag, InstanceTag } from '../../../lib/tags';
import { DEMO_COPY_REGION } from '../../../local/runner/fleet';
import { clientIn } from '../local-ec2/helpers';
import { type NightFixture, runFleet } from './fixtures';
import { type Inventory, inventory, OWNER, tagsOf } from './support';

let fixture: NightFixture;
let after: Inventory;
/** The second Region, where db-1's good backups are copied. */
let copies: Inventory;

beforeAll(async () => {
  fixture = await runFleet(4);
  after = await inventory(fixture.client);
  const west = clientIn(fixture.ec2.url, DEMO_COPY_REGION, 3);
  copies = await inventory(west);
  west.destroy();
}, 120_000);

afterAll(async () => {
  await fixture.ec2.stop();
});

function runsKept(name: string): string[] {
  const instanceId = after.instance(name).InstanceId ?? '';
  return after
    .imagesOf(instanceId, 'available')
    .map((image) => tagsOf(image)[ImageTag.run] ?? '')
    .sort();
}

describe('four backup nights', () => {
  it('reports that every instance was backed up and every retention holds', () => {
    expect(fixture.report.problems).toEqual([]);
  });

  it('keeps the newest N images of each instance', () => {
    expect(runsKept('web-1')).toEqual(['20261126T0300Z', '20261127T0300Z', '20261128T0300Z', '20261129T0300Z']);
    expect(runsKept('web-2')).toEqual(['20261128T0300Z', '20261129T0300Z']);
    expect(runsKept('db-1')).toEqual(['20261127T0300Z', '20261128T0300Z', '20261129T0300Z']);
    expect(runsKept('batch-1')).toEqual(['20261128T0300Z', '20261129T0300Z']);
  });

  it('keeps the images whose instance never came back healthy: none is a good backup, so none pushes one out', () => {
    expect(runsKept('fragile-1')).toEqual(['20261126T0300Z', '20261127T0300Z', '20261128T0300Z', '20261129T0300Z']);
    const instanceId = after.instance('fragile-1').InstanceId ?? '';
    const states = after.imagesOf(instanceId).map((image) => tagsOf(image)[InstanceTag.state]);
    expect(states).toEqual(['failed', 'failed', 'failed', 'failed']);
  });

  it('backs up each member of a group every night, one at a time', () => {
    for (const name of ['web-3', 'worker-1', 'worker-2']) expect(runsKept(name)).toHaveLength(4);
    expect(fixture.report.totals.maxDownInOneGroup).toBe(1);
  });

  it('also keeps images younger than retain-days', () => {
    // cache-1 keeps 1 image, and those younger than 2 days at the last rotation (06:00 on the 29th).
    expect(runsKept('cache-1')).toEqual(['20261128T0300Z', '20261129T0300Z']);
  });

  it('keeps the last images of a terminated instance, by the retention recorded on them', () => {
    const legacy = fixture.report.instances.find((entry) => entry.name === 'legacy-1');
    expect(legacy).toBeDefined();
    // Terminated after the first night and gone since: only its images remain.
    expect(after.instances.find((instance) => instance.InstanceId === legacy?.instanceId)).toBeUndefined();
    expect(after.imagesOf(legacy?.instanceId ?? '', 'available').length).toBe(1);
  });

  it('expires nothing while an instance’s retention tag is invalid', () => {
    expect(runsKept('typo-1').length).toBe(4);
  });

  it('deletes the snapshots of every image it deregisters, and leaves no snapshot of its own without an image', () => {
    const imageIds = new Set(after.images.map((image) => image.ImageId));
    const owned = after.snapshots.filter((snapshot) => tagsOf(snapshot)[ImageTag.managedBy] === OWNER);
    const orphans = owned.filter(
      (snapshot) => !imageIds.has(/for (ami-[0-9a-f]+)/.exec(snapshot.Description ?? '')?.[1] ?? ''),
    );
    expect(orphans).toEqual([]);
    const ownedImages = after.images.filter((image) => tagsOf(image)[ImageTag.managedBy] === OWNER);
    const volumes = ownedImages.reduce((sum, image) => sum + (image.BlockDeviceMappings?.length ?? 0), 0);
    expect(owned.length).toBe(volumes);
    expect(fixture.report.totals.snapshotsDeleted).toBe(fixture.report.totals.imagesExpired);
    expect(fixture.report.totals.imagesExpired).toBeGreaterThan(0);
  });

  it('never touches images that look like its own but lack its ownership tag', () => {
    const lookAlikes = after.images.filter((image) => fixture.lookAlikeImageIds.includes(image.ImageId ?? ''));
    expect(lookAlikes.length).toBe(3);
  });

  it("copies db-1's good backups to the second Region once each, keeping its copy-retain of two there", () => {
    const db = after.instance('db-1').InstanceId ?? '';
    const kept = copies.imagesOf(db).filter((image) => image.State !== 'deregistered');
    // Copies of the last two nights' backups (its three at home keep going: the copies follow their own retention).
    expect(kept.map((image) => tagsOf(image)[ImageTag.run]).sort()).toEqual(['20261128T0300Z', '20261129T0300Z']);
    expect(kept.map((image) => tagsOf(image)[InstanceTag.state])).toEqual(['succeeded', 'succeeded']);
    const homeRuns = new Map(after.imagesOf(db, 'available').map((image) => [image.ImageId, image]));
    for (const copy of kept) {
      const source = homeRuns.get(tagsOf(copy)[CopyTag.sourceImage]);
      expect(tagsOf(source ?? {})[CopyTag.copies]).toBe(`${DEMO_COPY_REGION}=succeeded:${copy.ImageId}`);
    }
    expect(fixture.report.totals).toMatchObject({ copiesCreated: 4, copiesExpired: 2 });
    // Every snapshot there belongs to a copy still there: the expired copies' went with them.
    const used = new Set(kept.flatMap((image) => copies.snapshotsOf(image).map((snapshot) => snapshot.SnapshotId)));
    expect(copies.snapshots.filter((snapshot) => !used.has(snapshot.SnapshotId))).toEqual([]);
    // Nothing else was copied there.
    expect(copies.images.filter((image) => tagsOf(image)[ImageTag.instanceId] !== db)).toEqual([]);
  });
});
