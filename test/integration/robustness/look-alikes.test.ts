/**
 * Resources that look like the service's but are not — named as it names its images, tagged like them without the
 * ownership tag or with another stage's (or one spelled differently), snapshots left behind by such an image, an
 * image another account shares under the service's very name and tags — are never touched, night after night.
 */
import { ImageTag } from '../../../lib/tags';
import type { World } from '../../../local/runner/invariants';
import { type Harness, night, startHarness } from './harness';

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
