/**
 * Resources that look like the service's but are not — named as it names its images, tagged like them without the
 * ownership tag or with another stage's (or one spelled differently), snapshots left behind by such an image, an
 * image another account shares under the service's very name and tags, images carrying the ownership tag that EC2 did
 * not make as the service makes them — are never touched, night after night.
 */
import { CreateImageCommand, type Tag } from '@aws-sdk/client-ec2';
import { BackupStep, formatRunId, ImageTag, InstanceTag, imageName } from '../../../lib/tags';
import type { World } from '../../../local/runner/invariants';
import { type Harness, night, startHarness } from './harness';

function tagList(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
}, 60_000);

afterAll(async () => {
  await harness.stop();
});

function foreign(world: World, owner: string): { images: string[]; snapshots: string[] } {
  return {
    images: world.images
      .filter((image) => image.tags[ImageTag.managedBy] !== owner || image.ownerId !== undefined)
      .map((image) => `${image.id} ${image.state} ${JSON.stringify(image.tags)}`)
      .sort(),
    snapshots: world.snapshots
      .filter((snapshot) => snapshot.tags[ImageTag.managedBy] !== owner)
      .map((snapshot) => `${snapshot.id} ${JSON.stringify(snapshot.tags)}`)
      .sort(),
  };
}

it('three nights of rotation leave every look-alike as it was, and keep every promise', async () => {
  const before = harness.world();
  const { owner } = harness.config;
  const lookAlikes = foreign(before, owner);
  expect(lookAlikes.images.filter((image) => image.includes('available')).length).toBeGreaterThanOrEqual(8);
  expect(lookAlikes.images.filter((image) => image.includes(`"${ImageTag.managedBy}":"${owner}"`)).length).toBe(2);
  const orphaned = before.snapshots.filter(
    (snapshot) =>
      !before.images.some((image) => image.state !== 'deregistered' && image.snapshotIds.includes(snapshot.id)),
  );
  expect(orphaned.length).toBeGreaterThan(0);

  await harness.run(night(3, '06:05'));

  const after = harness.world();
  expect(foreign(after, owner)).toEqual({
    images: lookAlikes.images.filter((image) => !image.includes(' deregistered ')),
    snapshots: lookAlikes.snapshots,
  });
  expect(harness.check(before, night(3, '03:00'))).toEqual([]);
}, 60_000);

it('images tagged as ours that EC2 did not make as ours are never expired nor counted, and are reported once a night', async () => {
  // Prepare: after night 4's backups, two forgeries of db's backups, newer than its real ones and recorded good: one
  // named otherwise, one named right but made by CreateImage of another instance
  const { owner } = harness.config;
  await harness.run(night(4, '05:00'));
  const db = harness.fleet.find((member) => member.name === 'db');
  const web = harness.fleet.find((member) => member.name === 'web');
  if (db === undefined || web === undefined) throw new Error('fleet without db or web');
  const forged = async (source: string, name: string, run: string): Promise<string> => {
    const tags = tagList({
      [ImageTag.managedBy]: owner,
      [ImageTag.instanceId]: db.instanceId,
      [ImageTag.run]: run,
      [ImageTag.retain]: '1',
      [InstanceTag.state]: BackupStep.succeeded,
    });
    const made = await harness.client.send(
      new CreateImageCommand({
        InstanceId: source,
        Name: name,
        NoReboot: true,
        TagSpecifications: [
          { ResourceType: 'image', Tags: tags },
          { ResourceType: 'snapshot', Tags: tags },
        ],
      }),
    );
    return made.ImageId ?? '';
  };
  const misnamed = await forged(db.instanceId, `forged-${db.instanceId}`, '20261129T0300Z');
  const elsewhere = await forged(web.instanceId, imageName(db.instanceId, '20261101T0300Z'), '20261101T0300Z');
  const before = harness.world();
  const realOfNight4 = imageName(db.instanceId, formatRunId(night(4, '03:00')));
  const published = harness.ec2.putEvents.length;

  // Act: night 4's rotation, night 5's backup and rotation
  await harness.run(night(5, '09:30'));

  // Assess: the forgeries are untouched, db's two newest real backups kept (retain 2), nothing else of db's
  const after = harness.world();
  for (const id of [misnamed, elsewhere]) {
    const image = after.images.find((each) => each.id === id);
    expect(image?.state).toBe('available');
    expect(image?.tags).toEqual(before.images.find((each) => each.id === id)?.tags);
  }
  const real = after.images
    .filter((image) => image.tags[ImageTag.instanceId] === db.instanceId && image.tags[ImageTag.managedBy] === owner)
    .filter((image) => image.state === 'available' && image.id !== misnamed && image.id !== elsewhere)
    .map((image) => image.name)
    .sort();
  expect(real).toEqual([realOfNight4, imageName(db.instanceId, formatRunId(night(5, '03:00')))]);
  const reports = harness.ec2.putEvents
    .slice(published)
    .filter((entry) => entry.DetailType === 'Foreign Image Tagged')
    .map((entry) => JSON.parse(entry.Detail ?? '{}') as { imageId: string; instanceId: string; reasons: string });
  // Once a night each (nights 4 and 5), and for nothing else: images without our tag are simply not ours
  expect(reports.map((report) => report.imageId).sort()).toEqual([elsewhere, elsewhere, misnamed, misnamed].sort());
  expect(reports.find((report) => report.imageId === misnamed)).toEqual({
    imageId: misnamed,
    instanceId: db.instanceId,
    reasons: `named "forged-${db.instanceId}", not "${imageName(db.instanceId, '20261129T0300Z')}"`,
  });
  expect(reports.find((report) => report.imageId === elsewhere)).toEqual({
    imageId: elsewhere,
    instanceId: db.instanceId,
    reasons: `made from ${web.instanceId}, not ${db.instanceId}`,
  });
  expect(harness.check(before, night(5, '03:00'))).toEqual([]);
}, 60_000);
