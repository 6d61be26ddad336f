/**
 * The deployment's floor and nightly cap, over nights: a retention cut far below what an instance holds takes effect
 * a few images a night, never below the floor, and a tag below the floor is reported and overruled.
 */
import { CreateImageCommand, CreateTagsCommand, type Tag } from '@aws-sdk/client-ec2';
import { BackupStep, formatRunId, ImageTag, InstanceTag, imageName, OperatorTag } from '../../../lib/tags';
import type { FleetMember } from '../../../local/runner/fleet';
import { type Harness, night, startHarness } from './harness';

const FLEET: readonly FleetMember[] = [
  { name: 'big', tags: { Backup: 'true', [OperatorTag.retain]: '20' }, optedIn: true },
  { name: 'low', tags: { Backup: 'true', [OperatorTag.retain]: '1' }, optedIn: true },
];

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness(FLEET, { params: { minRetain: '3', maxExpirePerRun: '2' } });
}, 60_000);

afterAll(async () => {
  await harness.stop();
});

function tagList(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

it('takes a cut from 20 to 1 two images a night down to the floor of 3, and reports the tags below it', async () => {
  // Prepare: ten good backups of big from earlier nights, then its retention cut to 1 (below the floor)
  const { owner } = harness.config;
  const [big, low] = harness.fleet;
  if (big === undefined || low === undefined) throw new Error('fleet not launched');
  for (let day = 10; day < 20; day += 1) {
    const run = `202611${day}T0300Z`;
    const tags = tagList({
      [ImageTag.managedBy]: owner,
      [ImageTag.instanceId]: big.instanceId,
      [ImageTag.run]: run,
      [ImageTag.retain]: '20',
      [InstanceTag.state]: BackupStep.succeeded,
    });
    await harness.client.send(
      new CreateImageCommand({
        InstanceId: big.instanceId,
        Name: imageName(big.instanceId, run),
        NoReboot: true,
        TagSpecifications: [
          { ResourceType: 'image', Tags: tags },
          { ResourceType: 'snapshot', Tags: tags },
        ],
      }),
    );
  }
  await harness.client.send(
    new CreateTagsCommand({ Resources: [big.instanceId], Tags: tagList({ [OperatorTag.retain]: '1' }) }),
  );
  const good = (instanceId: string): string[] =>
    harness
      .world()
      .images.filter((image) => image.tags[ImageTag.instanceId] === instanceId && image.state === 'available')
      .filter((image) => image.tags[ImageTag.managedBy] === owner && image.tags[InstanceTag.state] === 'succeeded')
      .map((image) => image.name)
      .sort();

  // Act: eight nights, counting what each leaves
  const left: number[] = [];
  const lowLeft: number[] = [];
  for (let n = 1; n <= 8; n += 1) {
    const before = harness.world();
    await harness.run(night(n, '09:30'));
    expect(harness.check(before, night(n, '03:00'))).toEqual([]);
    left.push(good(big.instanceId).length);
    lowLeft.push(good(low.instanceId).length);
  }

  // Assess: each night adds one backup and expires at most two, until the floor; the newest three stay
  expect(left).toEqual([9, 8, 7, 6, 5, 4, 3, 3]);
  expect(good(big.instanceId)).toEqual(
    [6, 7, 8].map((n) => imageName(big.instanceId, formatRunId(night(n, '03:00')))).sort(),
  );
  expect(lowLeft).toEqual([1, 2, 3, 3, 3, 3, 3, 3]);
  const instances = harness.world().instances;
  for (const member of [big, low]) {
    const tags = instances.find((instance) => instance.id === member.instanceId)?.tags ?? {};
    expect(tags[InstanceTag.policyError]).toBe(
      `${OperatorTag.retain}="1" is below the deployment's floor of 3 (minRetain): 3 kept`,
    );
  }
}, 120_000);
