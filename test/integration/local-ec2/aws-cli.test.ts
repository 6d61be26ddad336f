import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CreateImageCommand, type EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import type { LocalEc2, SimClock } from '../../../local/ec2';
import { MINUTE, startTestEc2 } from './helpers';

// A second, independent client: the AWS CLI (botocore) must read the endpoint's answers as EC2's.
const run = promisify(execFile);
const ENV = {
  ...process.env,
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_PAGER: '',
  AWS_CONFIG_FILE: '/dev/null',
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
};

let ec2: LocalEc2;
let client: EC2Client;
let clock: SimClock;

beforeAll(async () => {
  try {
    await run('aws', ['--version'], { env: ENV });
  } catch (err: unknown) {
    throw new Error(
      'The AWS CLI (`aws`) is not on PATH, and these tests need it: install it (Debian package `awscli`).',
      { cause: err },
    );
  }
});

beforeEach(async () => {
  ({ ec2, client, clock } = await startTestEc2());
});
afterEach(async () => {
  await ec2.stop();
});

async function aws(...args: string[]): Promise<unknown> {
  return awsCli('ec2', ...args);
}

/** The CLI for any service the endpoint serves (`ec2`, `kms`), answering JSON. */
async function awsCli(service: string, ...args: string[]): Promise<unknown> {
  const { stdout } = await run('aws', [service, ...args, '--endpoint-url', ec2.url, '--output', 'json'], { env: ENV });
  return stdout.trim() === '' ? undefined : JSON.parse(stdout);
}

async function launchAndImage(): Promise<{ instanceId: string; imageId: string }> {
  const launched = await client.send(
    new RunInstancesCommand({
      ImageId: 'ami-0123456789abcdef0',
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web' }] }],
    }),
  );
  const instanceId = launched.Instances?.[0]?.InstanceId as string;
  clock.advance(MINUTE);
  const { ImageId } = await client.send(
    new CreateImageCommand({
      InstanceId: instanceId,
      Name: 'cli image',
      Description: 'seen by botocore',
      NoReboot: true,
    }),
  );
  clock.advance(10 * MINUTE);
  return { instanceId, imageId: ImageId as string };
}

it('describe-instances, describe-images and describe-snapshots parse as EC2 answers', async () => {
  const { instanceId, imageId } = await launchAndImage();

  const instances = (await aws('describe-instances', '--filters', 'Name=tag:Name,Values=web')) as {
    Reservations: { OwnerId: string; Instances: { InstanceId: string; State: unknown; InstanceType: string }[] }[];
  };
  expect(instances.Reservations).toHaveLength(1);
  expect(instances.Reservations[0]?.OwnerId).toBe('123456789012');
  expect(instances.Reservations[0]?.Instances[0]).toMatchObject({
    InstanceId: instanceId,
    State: { Code: 16, Name: 'running' },
    InstanceType: 't3.micro',
  });

  const images = (await aws('describe-images', '--owners', 'self')) as {
    Images: { ImageId: string; State: string; Name: string; BlockDeviceMappings: { Ebs: { SnapshotId: string } }[] }[];
  };
  expect(images.Images).toEqual([
    expect.objectContaining({
      ImageId: imageId,
      State: 'available',
      Name: 'cli image',
      Description: 'seen by botocore',
    }),
  ]);
  const snapshotId = images.Images[0]?.BlockDeviceMappings[0]?.Ebs.SnapshotId;

  const snapshots = (await aws('describe-snapshots', '--owner-ids', 'self')) as { Snapshots: unknown[] };
  expect(snapshots.Snapshots).toEqual([
    expect.objectContaining({ SnapshotId: snapshotId, State: 'completed', Progress: '100%', VolumeSize: 8 }),
  ]);
}, 30_000);

it('create-tags tags resources, and errors come back as EC2 error codes', async () => {
  const { instanceId, imageId } = await launchAndImage();
  await aws('create-tags', '--resources', instanceId, imageId, '--tags', 'Key=Backup,Value=true');
  expect(Object.fromEntries(ec2.backend.instances.get(instanceId)?.tags ?? [])).toEqual({
    Name: 'web',
    Backup: 'true',
  });
  expect(Object.fromEntries(ec2.backend.images.get(imageId)?.tags ?? [])).toEqual({ Backup: 'true' });

  const failed = aws('describe-instances', '--instance-ids', 'i-0000000000000000a');
  await expect(failed).rejects.toMatchObject({ stderr: expect.stringContaining('InvalidInstanceID.NotFound') });
}, 30_000);

it('modify-image-attribute shares an image and describe-image-attribute reads it back', async () => {
  const { imageId } = await launchAndImage();
  await aws('modify-image-attribute', '--image-id', imageId, '--launch-permission', 'Add=[{UserId=210987654321}]');
  const attribute = (await aws(
    'describe-image-attribute',
    '--image-id',
    imageId,
    '--attribute',
    'launchPermission',
  )) as {
    ImageId: string;
    LaunchPermissions: unknown[];
  };
  expect(attribute).toEqual({ ImageId: imageId, LaunchPermissions: [{ UserId: '210987654321' }] });
}, 30_000);

it('kms create-key, create-grant and list-grants answer as KMS', async () => {
  const created = (await awsCli('kms', 'create-key', '--description', 'backups')) as {
    KeyMetadata: { KeyId: string; Arn: string; KeyManager: string };
  };
  expect(created.KeyMetadata).toMatchObject({
    KeyManager: 'CUSTOMER',
    Arn: expect.stringContaining(':123456789012:key/'),
  });
  const grant = (await awsCli(
    'kms',
    'create-grant',
    '--key-id',
    created.KeyMetadata.Arn,
    '--grantee-principal',
    'arn:aws:iam::210987654321:root',
    '--operations',
    'Decrypt',
    'CreateGrant',
  )) as { GrantId: string; GrantToken: string };
  const grants = (await awsCli('kms', 'list-grants', '--key-id', created.KeyMetadata.KeyId)) as { Grants: unknown[] };
  expect(grants.Grants).toEqual([
    expect.objectContaining({ GrantId: grant.GrantId, Operations: ['Decrypt', 'CreateGrant'] }),
  ]);
  const missing = awsCli('kms', 'describe-key', '--key-id', 'alias/none');
  await expect(missing).rejects.toMatchObject({ stderr: expect.stringContaining('NotFoundException') });
}, 30_000);
