/**
 * `npm run cleanup`: after backup nights, a stage's images and snapshots are listed, then removed, all of them and
 * nothing else (the look-alikes of other stages and tools stay); a second run finds nothing.
 */
import { CreateImageCommand, EC2Client } from '@aws-sdk/client-ec2';
import { Ec2Gateway } from '../../../lib/ec2-gateway';
import { ImageTag } from '../../../lib/tags';
import { cleanupStage } from '../../../scripts/cleanup';
import { run } from '../runner/process';
import { type NightFixture, runFleet } from './fixtures';
import { inventory, OWNER, tagsOf } from './support';

let fixture: NightFixture;
let gateway: Ec2Gateway;
let client: EC2Client;
let forgedImageId: string;

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
  fixture.ec2.clock.advance(3_600_000);
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
  expect(report.leftAlone).toEqual([{ id: forgedImageId, reasons: [expect.stringMatching(/named "golden-web"/)] }]);
  for (const id of fixture.lookAlikeImageIds) expect(report.images).not.toContain(id);
  expect((await inventory(fixture.client)).images).toHaveLength(before.images.length);
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
  expect(after.instances).toHaveLength(before.instances.length);

  const again = await cleanupStage(gateway, 'dev', true);
  expect({ images: again.images, snapshots: again.snapshots }).toEqual({ images: [], snapshots: [] });
});

it('is a command that lists by default and refuses a missing stage', async () => {
  const credentials = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
  const listed = await run(
    'scripts/cleanup.ts',
    ['--stage', 'dev', '--endpoint', fixture.ec2.url, '--json'],
    credentials,
  );
  expect(listed.code).toBe(0);
  expect(JSON.parse(listed.stdout)).toMatchObject({ owner: 'ami-backup-dev', removed: false, images: [] });
  const refused = await run('scripts/cleanup.ts', ['--endpoint', fixture.ec2.url], credentials);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toMatch(/--stage is required/);
});
