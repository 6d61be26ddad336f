/**
 * Overlap: every invocation of every function made twice at once on the same fleet (EventBridge delivers at least
 * once, and a slow run can meet the next). One image per instance and run, no error surfacing from the other
 * invocation's work (an image or snapshot it already deleted), and every promise kept.
 */
import { ImageTag, ShareTag } from '../../../lib/tags';
import type { RotateSummary } from '../../../lib/use-cases/rotate';
import { type Harness, night, startHarness } from './harness';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness(undefined, { overlap: true });
}, 60_000);

afterAll(async () => {
  await harness.stop();
});

/** The per-instance errors and rotation errors in a pair of summaries. */
function errorsIn(result: unknown): unknown[] {
  const summaries = Array.isArray(result) ? result : [result];
  return summaries.flatMap((summary: { instances?: { error?: string }[]; errors?: string[] }) => [
    ...(summary.instances ?? []).flatMap((outcome) => (outcome.error === undefined ? [] : [outcome])),
    ...(summary.errors ?? []),
  ]);
}

it('two of each invocation at once, over two nights: one image per instance and run, no errors, every promise', async () => {
  const start = night(2, '02:55');
  await harness.run(start);
  const before = harness.world();
  const records = await harness.run(night(2, '06:05'));

  expect(records.filter((record) => record.error !== undefined)).toEqual([]);
  expect(records.flatMap((record) => errorsIn(record.result))).toEqual([]);
  const rotations = records.filter((record) => record.functionName === 'rotate');
  expect(rotations.length).toBe(1);
  // Both rotations set out to expire the same images: each image went once, and neither reported the other's work.
  const pair = (rotations[0]?.result ?? []) as RotateSummary[];
  expect(pair.flatMap((summary) => summary.instances.flatMap((outcome) => outcome.expired)).length).toBeGreaterThan(0);
  // The backups (a copy re-encrypted for sharing carries its source's instance and run).
  const images = harness
    .world()
    .images.filter(
      (image) =>
        image.tags[ImageTag.managedBy] === harness.config.owner && image.tags[ShareTag.reencryptedFrom] === undefined,
    );
  const runs = images.map((image) => `${image.tags[ImageTag.instanceId]} ${image.tags[ImageTag.run]}`);
  expect(new Set(runs).size).toBe(runs.length);
  // One reboot per running reboot-mode instance: the second CreateImage of each pair was refused, not made again;
  // the web group's two members went down one after the other (the invariants below check it on the timeline).
  const rebooted = harness.ec2.audit
    .filter((entry) => entry.kind === 'image-created' && entry.downAt !== undefined && entry.at >= start.getTime())
    .map((entry) => entry.instanceId)
    .sort();
  const rebootMode = ['web', 'web-b', 'keyed', 'flaky'].map(
    (name) => harness.fleet.find((member) => member.name === name)?.instanceId,
  );
  expect(rebooted).toEqual(rebootMode.sort());
  expect(harness.check(before, night(2, '03:00'))).toEqual([]);
}, 60_000);
