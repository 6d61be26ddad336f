import {
  CopyImageCommand,
  type CopyImageCommandInput,
  CreateImageCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { IamOptions, LocalEc2, PolicyDocument } from '../../../local/ec2';
import { failureOf, MINUTE, startTestEc2 } from './helpers';

const ADMIN_ARN = 'arn:aws:iam::123456789012:user/admin';
const COPIER_ARN = 'arn:aws:iam::123456789012:role/ami-backup-copy';
const MANAGED_BY = 'ami-backup:managed-by';

/**
 * What a disaster-recovery copier needs: copy images of us-east-1 (the source, by its ARN there) into us-west-2 only,
 * the new image tagged as the service's, and tag the new image and snapshots only as CopyImage creates them.
 */
const copierPolicy: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'ec2:CopyImage', Resource: 'arn:aws:ec2:us-east-1::image/*' },
    {
      Effect: 'Allow',
      Action: 'ec2:CopyImage',
      Resource: 'arn:aws:ec2:us-west-2::image/*',
      Condition: { StringEquals: { [`aws:RequestTag/${MANAGED_BY}`]: 'ami-backup' } },
    },
    { Effect: 'Allow', Action: 'ec2:CopyImage', Resource: 'arn:aws:ec2:us-west-2::snapshot/*' },
    {
      Effect: 'Allow',
      Action: 'ec2:CreateTags',
      Resource: ['arn:aws:ec2:us-west-2::image/*', 'arn:aws:ec2:us-west-2::snapshot/*'],
      Condition: { StringEquals: { 'ec2:CreateAction': 'CopyImage' } },
    },
  ],
};

const IAM: IamOptions = {
  principals: {
    ADMINKEY: {
      arn: ADMIN_ARN,
      policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }],
    },
    COPIERKEY: { arn: COPIER_ARN, policies: [copierPolicy] },
  },
};

let ec2: LocalEc2;

const clientAs = (accessKeyId: string, region: string): EC2Client =>
  new EC2Client({
    endpoint: ec2.url,
    region,
    credentials: { accessKeyId, secretAccessKey: 'secret' },
    maxAttempts: 1,
  });

beforeEach(async () => {
  ({ ec2 } = await startTestEc2({ iam: IAM }));
});
afterEach(async () => {
  await ec2.stop();
});

/** An available image made by the admin in `region`. */
async function imageIn(region: string): Promise<string> {
  const admin = clientAs('ADMINKEY', region);
  const launched = await admin.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }),
  );
  ec2.clock.advance(MINUTE);
  const { ImageId } = await admin.send(
    new CreateImageCommand({ InstanceId: launched.Instances?.[0]?.InstanceId, Name: 'source', NoReboot: true }),
  );
  ec2.clock.advance(10 * MINUTE);
  return ImageId as string;
}

const tagged = (key: string, value: string): CopyImageCommandInput['TagSpecifications'] => [
  { ResourceType: 'image', Tags: [{ Key: key, Value: value }] },
  { ResourceType: 'snapshot', Tags: [{ Key: key, Value: value }] },
];

it('allows a copy from the allowed source Region into the allowed Region, tagged on creation', async () => {
  const sourceId = await imageIn('us-east-1');
  const copied = await clientAs('COPIERKEY', 'us-west-2').send(
    new CopyImageCommand({
      SourceImageId: sourceId,
      SourceRegion: 'us-east-1',
      Name: 'dr-copy',
      TagSpecifications: tagged(MANAGED_BY, 'ami-backup'),
    }),
  );
  expect(
    ec2
      .backendIn('us-west-2')
      .images.get(copied.ImageId as string)
      ?.tags.get(MANAGED_BY),
  ).toBe('ami-backup');
  expect(ec2.denied).toEqual([]);
});

it('refuses a copy without the request tag, from another source Region, or into another Region', async () => {
  const eastSource = await imageIn('us-east-1');
  const irishSource = await imageIn('eu-west-1');
  const copier = clientAs('COPIERKEY', 'us-west-2');
  const copy = (input: Partial<CopyImageCommandInput>, client = copier) =>
    client.send(
      new CopyImageCommand({
        SourceImageId: eastSource,
        SourceRegion: 'us-east-1',
        Name: 'dr-copy',
        TagSpecifications: tagged(MANAGED_BY, 'ami-backup'),
        ...input,
      }),
    );

  expect(await failureOf(copy({ TagSpecifications: tagged('team', 'web') }))).toMatchObject({
    name: 'UnauthorizedOperation',
    status: 403,
  });
  expect(await failureOf(copy({ SourceImageId: irishSource, SourceRegion: 'eu-west-1' }))).toMatchObject({
    name: 'UnauthorizedOperation',
  });
  expect(await failureOf(copy({}, clientAs('COPIERKEY', 'eu-central-1')))).toMatchObject({
    name: 'UnauthorizedOperation',
  });
  expect(ec2.denied.map(({ action, resource }) => [action, resource])).toEqual([
    ['ec2:CopyImage', 'arn:aws:ec2:us-west-2::image/*'],
    ['ec2:CopyImage', `arn:aws:ec2:eu-west-1::image/${irishSource}`],
    ['ec2:CopyImage', 'arn:aws:ec2:eu-central-1::image/*'],
  ]);
  expect(ec2.backendIn('us-west-2').images.size).toBe(0);
  expect(ec2.backendIn('eu-central-1').images.size).toBe(0);
});
