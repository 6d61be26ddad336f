import {
  CopyImageCommand,
  CreateImageCommand,
  DescribeImagesCommand,
  type EC2Client,
  EnableImageDeprecationCommand,
  type Image,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { LocalEc2, SimClock } from '../../../local/ec2';
import { failureOf, MINUTE, START, startTestEc2 } from './helpers';

let ec2: LocalEc2;
let client: EC2Client;
let clock: SimClock;
let sourceId: string;

beforeEach(async () => {
  ({ ec2, client, clock } = await startTestEc2());
  const launched = await client.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }),
  );
  clock.advance(MINUTE);
  const created = await client.send(
    new CreateImageCommand({
      InstanceId: launched.Instances?.[0]?.InstanceId,
      Name: 'source',
      Description: 'the original',
      NoReboot: true,
      TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'Team', Value: 'web' }] }],
    }),
  );
  sourceId = created.ImageId as string;
});
afterEach(async () => {
  await ec2.stop();
});

async function image(imageId: string): Promise<Image | undefined> {
  return (await client.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
}

describe('CopyImage', () => {
  it('refuses to copy a pending image, then copies an available one into a new pending image', async () => {
    const copy = (ClientToken: string) =>
      client.send(
        new CopyImageCommand({
          SourceImageId: sourceId,
          SourceRegion: 'us-east-1',
          Name: 'copy',
          ClientToken,
          CopyImageTags: true,
          TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'Copied', Value: 'yes' }] }],
        }),
      );
    expect(await failureOf(copy('token-0'))).toMatchObject({ status: 400 });
    clock.advance(10 * MINUTE);

    const { ImageId } = await copy('token-1');
    expect(ImageId).toMatch(/^ami-[0-9a-f]{17}$/);
    expect(ImageId).not.toBe(sourceId);
    const copied = await image(ImageId as string);
    expect(copied).toMatchObject({ State: 'pending', Name: 'copy', Description: 'the original' });
    expect(copied?.Tags).toEqual([
      { Key: 'Team', Value: 'web' },
      { Key: 'Copied', Value: 'yes' },
    ]);
    clock.advance(10 * MINUTE);
    expect((await image(ImageId as string))?.State).toBe('available');
  });

  it('is idempotent on ClientToken: the same token gives the same image', async () => {
    clock.advance(10 * MINUTE);
    const input = { SourceImageId: sourceId, SourceRegion: 'us-east-1', Name: 'once', ClientToken: 'same' };
    const first = await client.send(new CopyImageCommand(input));
    const second = await client.send(new CopyImageCommand(input));
    expect(second.ImageId).toBe(first.ImageId);
    const all = await client.send(new DescribeImagesCommand({ Owners: ['self'] }));
    expect(all.Images).toHaveLength(2);
  });

  it('answers NotFound for an unknown source image', async () => {
    expect(
      await failureOf(
        client.send(
          new CopyImageCommand({ SourceImageId: 'ami-0000000000000000c', SourceRegion: 'us-east-1', Name: 'none' }),
        ),
      ),
    ).toMatchObject({ name: 'InvalidAMIID.NotFound' });
  });
});

describe('EnableImageDeprecation', () => {
  it('sets the deprecation time, rounded to the nearest minute (UTC)', async () => {
    const at = new Date(START.getTime() + 24 * 60 * MINUTE + 31_000); // …:00:31 rounds up
    await client.send(new EnableImageDeprecationCommand({ ImageId: sourceId, DeprecateAt: at }));
    expect((await image(sourceId))?.DeprecationTime).toBe('2026-03-02T00:01:00.000Z');
  });

  it('refuses a time in the past or more than 10 years ahead', async () => {
    const past = new Date(START.getTime() - 60 * MINUTE);
    expect(
      await failureOf(client.send(new EnableImageDeprecationCommand({ ImageId: sourceId, DeprecateAt: past }))),
    ).toMatchObject({ name: 'InvalidParameterValue' });
    const tooFar = new Date('2036-03-02T00:00:00Z');
    expect(
      await failureOf(client.send(new EnableImageDeprecationCommand({ ImageId: sourceId, DeprecateAt: tooFar }))),
    ).toMatchObject({ name: 'InvalidParameterValue' });
    const tenYears = new Date('2036-03-01T00:00:00Z');
    await client.send(new EnableImageDeprecationCommand({ ImageId: sourceId, DeprecateAt: tenYears }));
    expect((await image(sourceId))?.DeprecationTime).toBe('2036-03-01T00:00:00.000Z');
  });
});
