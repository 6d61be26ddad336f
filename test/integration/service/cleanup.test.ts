/**
 * `npm run cleanup`: after backup nights, a stage's restore-test instances, images and snapshots are listed, then
 * removed, all of them and nothing else (the look-alikes of other stages and tools stay); a second run finds nothing.
 */
import {
  CreateImageCommand,
  EC2Client,
  type Instance,
  RunInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { Ec2Gateway } from '../../../lib/ec2-gateway';
import { ImageTag, RestoreTestTag } from '../../../lib/tags';
import { cleanupStage } from '../../../scripts/cleanup';
import { run } from '../runner/process';
import { type NightFixture, runFleet } from './fixtures';
import { inventory, OWNER, tagsOf } from './support';

let fixture: NightFixture;
let gateway: Ec2Gateway;
let client: EC2Client;
let forgedImageId: string;
/** Restore-test instances: the stage's own (one running, one stopped), and look-alikes. */
const testInstances: Record<'own' | 'ownStopped' | 'noOwner' | 'otherStage' | 'ownedNotATest', string> = {
  own: '',
  ownStopped: '',
  noOwner: '',
  otherStage: '',
  ownedNotATest: '',
};

async function launchTagged(tags: Record<string, string>): Promise<string> {
  const launched = await fixture.client.send(
    new RunInstancesCommand({
      ImageId: 'ami-0123456789abcdef0',
      MinCount: 1,
      MaxCount: 1,
      TagSpecifications: [
        { ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
      ],
    }),
  );
  return launched.Instances?.[0]?.InstanceId ?? '';
}

const stateOf = (instances: readonly Instance[], id: string): string | undefined =>
  instances.find((instance) => instance.InstanceId === id)?.State?.Name;

beforeAll(async () => {
  fixture = await runFleet(2);
  // Tagged as this stage's, but named otherwise: a forgery (or another tool's image) the cleanup must not touch.
  const scratch = (await inventory(fixture.client)).instance('scratch-1').InstanceId ?? '';
  const forged = await fixture.client.send(
    new CreateImageCommand({
      InstanceId: scratch,
      Name: 'golden-web',
      NoReboot: true,
      TagSpecifications: [
        {
          ResourceType: 'image',
          Tags: [
            { Key: ImageTag.managedBy, Value: OWNER },
            { Key: ImageTag.instanceId, Value: scratch },
            { Key: ImageTag.run, Value: '20261126T0300Z' },
          ],
        },
      ],
    }),
  );
  forgedImageId = forged.ImageId ?? '';
  // Restore-test instances, as the restoreTests function tags them at launch, and instances that only look like them.
  const test = {
    [ImageTag.managedBy]: OWNER,
    [RestoreTestTag.testInstance]: '20261129T1200Z',
    [RestoreTestTag.imageId]: forgedImageId,
    [ImageTag.instanceId]: scratch,
  };
  const { [ImageTag.managedBy]: _owner, ...unowned } = test;
  const { [RestoreTestTag.testInstance]: _test, ...notATest } = test;
  testInstances.own = await launchTagged(test);
  testInstances.ownStopped = await launchTagged(test);
  testInstances.noOwner = await launchTagged(unowned);
  testInstances.otherStage = await launchTagged({ ...test, [ImageTag.managedBy]: 'ami-backup-prod' });
  testInstances.ownedNotATest = await launchTagged(notATest);
  fixture.ec2.clock.advance(3_600_000);
  await fixture.client.send(new StopInstancesCommand({ InstanceIds: [testInstances.ownStopped] }));
  fixture.ec2.clock.advance(600_000);
  client = new EC2Client({
    endpoint: fixture.ec2.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  gateway = new Ec2Gateway(client);
});

afterAll(async () => {
  client.destroy();
  fixture.client.destroy();
  await fixture.ec2.stop();
});

it("lists the stage's images and snapshots without touching anything, and the look-alike with its reasons", async () => {
  const before = await inventory(fixture.client);
  const report = await cleanupStage(gateway, 'dev', false);

  // Every registered image of the stage: the nights made them all, none is a look-alike.
  const own = before.images.filter(
    (image) =>
      tagsOf(image)[ImageTag.managedBy] === OWNER && image.State !== 'deregistered' && image.ImageId !== forgedImageId,
  );
  expect(own.length).toBeGreaterThan(0);
  expect([...report.images].sort()).toEqual(own.map((image) => image.ImageId).sort());
  expect(report.leftAlone).toEqual([
    { id: forgedImageId, reasons: [expect.stringMatching(/named "golden-web"/)] },
    { id: testInstances.ownedNotATest, reasons: [expect.stringMatching(/not a restore-test instance/)] },
  ]);
  expect([...report.instances].sort()).toEqual([testInstances.own, testInstances.ownStopped].sort());
  for (const id of Object.values(testInstances)) expect(stateOf(before.instances, id)).toMatch(/^(running|stopped)$/);
  for (const id of fixture.lookAlikeImageIds) expect(report.images).not.toContain(id);
  const after = await inventory(fixture.client);
  expect(after.images).toHaveLength(before.images.length);
  for (const id of Object.values(testInstances))
    expect(stateOf(after.instances, id)).toBe(stateOf(before.instances, id));
});

it('removes all of them and nothing else, and a second run finds nothing', async () => {
  const before = await inventory(fixture.client);
  const report = await cleanupStage(gateway, 'dev', true);
  expect(report.errors).toEqual([]);

  const after = await inventory(fixture.client);
  const owned = (tags: Record<string, string>) => tags[ImageTag.managedBy] === OWNER;
  // What remains carrying this stage's tag is a look-alike (a renamed or forged image), listed as left alone.
  const leftAlone = new Set(report.leftAlone.map(({ id }) => id));
  const registered = after.images.filter((image) => image.State !== 'deregistered');
  for (const image of registered.filter((candidate) => owned(tagsOf(candidate)))) {
    expect(leftAlone).toContain(image.ImageId);
  }
  // The forgery and the look-alikes of other owners are all still there, with their snapshots.
  for (const id of [forgedImageId, ...fixture.lookAlikeImageIds]) {
    const image = after.images.find((candidate) => candidate.ImageId === id);
    expect(image?.State).toBe('available');
    for (const snapshot of before.snapshotsOf(image ?? {})) {
      expect(after.snapshots.map((candidate) => candidate.SnapshotId)).toContain(snapshot.SnapshotId);
    }
  }
  const usedByRemaining = new Set(registered.flatMap((image) => after.snapshotsOf(image).map((s) => s.SnapshotId)));
  expect(
    after.snapshots.filter((snapshot) => owned(tagsOf(snapshot)) && !usedByRemaining.has(snapshot.SnapshotId)),
  ).toEqual([]);
  // The stage's test instances terminated, running or stopped; every other instance as it was.
  expect([...report.instances].sort()).toEqual([testInstances.own, testInstances.ownStopped].sort());
  for (const id of [testInstances.own, testInstances.ownStopped]) {
    expect(stateOf(after.instances, id)).toMatch(/^(shutting-down|terminated)$/);
  }
  for (const instance of before.instances) {
    const id = instance.InstanceId ?? '';
    if (id === testInstances.own || id === testInstances.ownStopped) continue;
    expect({ id, state: stateOf(after.instances, id) }).toEqual({ id, state: instance.State?.Name });
  }

  const again = await cleanupStage(gateway, 'dev', true);
  expect({ instances: again.instances, images: again.images, snapshots: again.snapshots }).toEqual({
    instances: [],
    images: [],
    snapshots: [],
  });
  expect(again.errors).toEqual([]);
});

it('is a command that lists by default and refuses a missing stage', async () => {
  const credentials = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
  const listed = await run(
    'scripts/cleanup.ts',
    ['--stage', 'dev', '--endpoint', fixture.ec2.url, '--json'],
    credentials,
  );
  expect(listed.code).toBe(0);
  expect(JSON.parse(listed.stdout)).toMatchObject({
    owner: 'ami-backup-dev',
    removed: false,
    instances: [],
    images: [],
  });
  const refused = await run('scripts/cleanup.ts', ['--endpoint', fixture.ec2.url], credentials);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toMatch(/--stage is required/);
});
