/**
 * The copyImages role as deployed with one Region to copy to, enforced by the local endpoint: it copies this stage's
 * images only into that Region and only with the ownership tag in the request, tags copies only with its keys, and
 * deregisters in any Region only what carries the ownership tag.
 */
import {
  CopyImageCommand,
  CreateImageCommand,
  CreateTagsCommand,
  DeregisterImageCommand,
  EC2Client,
  RunInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { CopyTag, ImageTag, InstanceTag } from '../../../lib/tags';
import { type LocalEc2, SimClock, startLocalEc2 } from '../../../local/ec2';
import { functionAccessKeyId } from '../../../local/runner/functions';
import { clientIn } from '../local-ec2/helpers';
import { deployedIam, EVENING } from './fixtures';

const HOME = 'us-east-1';
const WEST = 'us-west-2';
const OWNER = 'ami-backup-dev';
const MINUTE = 60_000;

let ec2: LocalEc2;
let operatorHome: EC2Client;
let operatorWest: EC2Client;
let copier: (region: string) => EC2Client;
let instanceId: string;
let sourceImageId: string;
const made: EC2Client[] = [];

const tags = (entries: Readonly<Record<string, string>>): Tag[] =>
  Object.entries(entries).map(([Key, Value]) => ({ Key, Value }));

/** The tags a copy gets from its request, as the service sets them. */
function copyTags(overrides: Readonly<Record<string, string | undefined>> = {}): Tag[] {
  const entries: Record<string, string | undefined> = {
    [ImageTag.managedBy]: OWNER,
    [ImageTag.instanceId]: instanceId,
    [ImageTag.run]: '20261126T0300Z',
    [CopyTag.sourceImage]: sourceImageId,
    [CopyTag.sourceRegion]: HOME,
    [ImageTag.retain]: '2',
    ...overrides,
  };
  return tags(
    Object.fromEntries(Object.entries(entries).flatMap(([key, value]) => (value === undefined ? [] : [[key, value]]))),
  );
}

function copyRequest(name: string, tagList: Tag[]): CopyImageCommand {
  return new CopyImageCommand({
    SourceRegion: HOME,
    SourceImageId: sourceImageId,
    Name: name,
    TagSpecifications: [
      { ResourceType: 'image', Tags: tagList },
      { ResourceType: 'snapshot', Tags: tagList },
    ],
  });
}

/** The error name a call fails with, or `allowed`. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'allowed';
  } catch (error: unknown) {
    return error instanceof Error ? error.name : String(error);
  }
}

beforeAll(async () => {
  ec2 = await startLocalEc2({
    clock: SimClock.manual(EVENING),
    throttling: false,
    iam: await deployedIam({ copyAllowedRegions: WEST }),
  });
  operatorHome = clientIn(ec2.url, HOME, 3);
  operatorWest = clientIn(ec2.url, WEST, 3);
  copier = (region) => {
    const client = new EC2Client({
      endpoint: ec2.url,
      region,
      credentials: { accessKeyId: functionAccessKeyId('copyImages'), secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    made.push(client);
    return client;
  };
  const launched = await operatorHome.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
  );
  instanceId = launched.Instances?.[0]?.InstanceId ?? '';
  ec2.clock.advance(MINUTE);
  const image = await operatorHome.send(
    new CreateImageCommand({
      InstanceId: instanceId,
      Name: `ami-backup-${instanceId}-20261126T0300Z`,
      NoReboot: true,
      TagSpecifications: [{ ResourceType: 'image', Tags: tags({ [ImageTag.managedBy]: OWNER }) }],
    }),
  );
  sourceImageId = image.ImageId ?? '';
  ec2.clock.advance(30 * MINUTE);
});

afterAll(async () => {
  for (const client of [operatorHome, operatorWest, ...made]) client.destroy();
  await ec2.stop();
});

it('copies into the configured Region only with the ownership tag and the creation keys in the request', async () => {
  const west = copier(WEST);
  expect(await outcome(west.send(copyRequest('no-owner', copyTags({ [ImageTag.managedBy]: undefined }))))).toBe(
    'UnauthorizedOperation',
  );
  expect(
    await outcome(west.send(copyRequest('other-owner', copyTags({ [ImageTag.managedBy]: 'ami-backup-prod' })))),
  ).toBe('UnauthorizedOperation');
  expect(await outcome(west.send(copyRequest('extra-key', copyTags({ [InstanceTag.state]: 'succeeded' }))))).toBe(
    'UnauthorizedOperation',
  );
  expect(await outcome(copier('eu-west-1').send(copyRequest('elsewhere', copyTags())))).toBe('UnauthorizedOperation');
  expect(await outcome(west.send(copyRequest('the-copy', copyTags())))).toBe('allowed');
});

it('tags its copies with outcome keys only, and its images at home with the copies record only', async () => {
  const west = copier(WEST);
  const copy = await operatorWest.send(copyRequest('tagged-copy', copyTags()));
  const copyId = copy.ImageId ?? '';
  const tag = (client: EC2Client, id: string, entries: Record<string, string>) =>
    outcome(client.send(new CreateTagsCommand({ Resources: [id], Tags: tags(entries) })));
  expect(await tag(west, copyId, { [InstanceTag.state]: 'succeeded' })).toBe('allowed');
  expect(await tag(west, copyId, { [ImageTag.managedBy]: 'ami-backup-prod' })).toBe('UnauthorizedOperation');
  expect(await tag(west, copyId, { [CopyTag.copies]: `${WEST}=succeeded:${copyId}` })).toBe('UnauthorizedOperation');
  const home = copier(HOME);
  expect(await tag(home, sourceImageId, { [CopyTag.copies]: `${WEST}=succeeded:${copyId}` })).toBe('allowed');
  expect(await tag(home, sourceImageId, { [InstanceTag.state]: 'failed' })).toBe('UnauthorizedOperation');
});

it('deregisters in another Region only what carries the ownership tag', async () => {
  const foreign = await operatorWest.send(
    copyRequest('foreign-copy', tags({ [ImageTag.instanceId]: instanceId, [CopyTag.sourceImage]: sourceImageId })),
  );
  const own = await operatorWest.send(copyRequest('own-copy', copyTags()));
  const west = copier(WEST);
  const deregister = (imageId: string) =>
    outcome(west.send(new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true })));
  expect(await deregister(foreign.ImageId ?? '')).toBe('UnauthorizedOperation');
  expect(await deregister(own.ImageId ?? '')).toBe('allowed');
});
