/**
 * The restore role policy the README gives (docs/restore-role-policy.json), enforced by the local endpoint with the
 * same IAM evaluator as the service's roles: it launches from this stage's approved backups only.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateImageCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { imageOutcomeTags } from '../../../lib/decisions/progress';
import type { Image } from '../../../lib/model';
import { ApprovalTag, approvalAfterRestoreTest, ImageTag, RestoreTestTag } from '../../../lib/tags';
import { type LocalEc2, type PolicyDocument, SimClock, startLocalEc2 } from '../../../local/ec2';
import { clientFor } from '../local-ec2/helpers';
import { deployedIam, EVENING } from './fixtures';
import { OWNER } from './support';

const POLICY_FILE = path.resolve(__dirname, '..', '..', '..', 'docs', 'restore-role-policy.json');
/** The stage the policy file names; the test deploys `dev`, so its ownership value is swapped for this stage's. */
const DOCUMENTED_OWNER = 'ami-backup-prod';
const RESTORER_KEY = 'restorer';
const RUN = '20261125T0300Z';

let ec2: LocalEc2;
let operator: EC2Client;
let restorer: EC2Client;
let sourceInstanceId: string;

const tagged = (entries: Readonly<Record<string, string | undefined>>) =>
  Object.entries(entries).flatMap(([Key, Value]) => (Value === undefined ? [] : [{ Key, Value }]));

/** An image carrying the tags of the service's own backups, with the outcome the service records on it. */
async function backup(name: string, tags: Readonly<Record<string, string | undefined>>): Promise<string> {
  const output = await operator.send(
    new CreateImageCommand({
      InstanceId: sourceInstanceId,
      Name: name,
      NoReboot: true,
      TagSpecifications: [
        {
          ResourceType: 'image',
          Tags: tagged({
            [ImageTag.managedBy]: OWNER,
            [ImageTag.instanceId]: sourceInstanceId,
            [ImageTag.run]: RUN,
            ...tags,
          }),
        },
      ],
    }),
  );
  return output.ImageId ?? '';
}

const succeeded = (imageId = 'ami-00000000') =>
  imageOutcomeTags({ kind: 'succeeded', instanceId: sourceInstanceId, runId: RUN, image: { id: imageId } as Image });

async function launch(imageId: string): Promise<string> {
  try {
    await restorer.send(
      new RunInstancesCommand({
        ImageId: imageId,
        MinCount: 1,
        MaxCount: 1,
        SubnetId: 'subnet-0123456789abcdef0',
        SecurityGroupIds: ['sg-0123456789abcdef0'],
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'restored' }] }],
      }),
    );
    return 'allowed';
  } catch (error: unknown) {
    return error instanceof Error ? error.name : String(error);
  }
}

beforeAll(async () => {
  const documented = await readFile(POLICY_FILE, 'utf8');
  expect(documented).toContain(`"${DOCUMENTED_OWNER}"`);
  const policy = JSON.parse(documented.replaceAll(`"${DOCUMENTED_OWNER}"`, `"${OWNER}"`)) as PolicyDocument;
  const iam = await deployedIam();
  ec2 = await startLocalEc2({
    clock: SimClock.manual(EVENING),
    throttling: false,
    iam: {
      principals: {
        ...iam.principals,
        [RESTORER_KEY]: { arn: 'arn:aws:iam::123456789012:role/restorer', policies: [policy] },
      },
    },
  });
  operator = clientFor(ec2.url);
  restorer = new EC2Client({
    endpoint: ec2.url,
    region: 'us-east-1',
    credentials: { accessKeyId: RESTORER_KEY, secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const source = await operator.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }),
  );
  sourceInstanceId = source.Instances?.[0]?.InstanceId ?? '';
  ec2.clock.advance(60_000);
});

afterAll(async () => {
  operator.destroy();
  restorer.destroy();
  await ec2.stop();
});

describe('the documented restore role policy', () => {
  it('launches from a backup recorded good (verified), and from one whose restore test passed', async () => {
    // Prepare
    const verified = await backup('verified', succeeded());
    const tested = await backup('restore-tested', {
      ...succeeded(),
      [RestoreTestTag.result]: '2026-11-29T12:05:00.000Z passed',
      [ApprovalTag.approved]: approvalAfterRestoreTest(succeeded()[ApprovalTag.approved], true),
    });
    ec2.clock.advance(3_600_000);

    // Act
    const outcomes = [await launch(verified), await launch(tested)];

    // Assess
    expect(outcomes).toEqual(['allowed', 'allowed']);
  });

  it('refuses an unapproved backup, a failed one, one that failed its restore test, and another stage’s', async () => {
    // Prepare
    const { [ApprovalTag.approved]: _approval, ...outcomeOnly } = succeeded();
    const recordedBefore = await backup('recorded-before-approval', outcomeOnly);
    const failed = await backup(
      'failed',
      imageOutcomeTags({ kind: 'failed', instanceId: sourceInstanceId, runId: RUN, reason: 'image failed' }),
    );
    const failedRestore = await backup('restore-failed', {
      ...succeeded(),
      [RestoreTestTag.result]: '2026-11-29T12:20:00.000Z failed: status checks impaired',
      [ApprovalTag.approved]: approvalAfterRestoreTest(succeeded()[ApprovalTag.approved], false),
    });
    const otherStage = await backup('other-stage', { ...succeeded(), [ImageTag.managedBy]: 'ami-backup-prod-eu' });
    const unowned = await backup('unowned', { ...succeeded(), [ImageTag.managedBy]: undefined });
    ec2.clock.advance(3_600_000);

    // Act
    const outcomes = {
      recordedBefore: await launch(recordedBefore),
      failed: await launch(failed),
      failedRestore: await launch(failedRestore),
      otherStage: await launch(otherStage),
      unowned: await launch(unowned),
      base: await launch('ami-0123456789abcdef0'),
    };

    // Assess
    expect(outcomes).toEqual({
      recordedBefore: 'UnauthorizedOperation',
      failed: 'UnauthorizedOperation',
      failedRestore: 'UnauthorizedOperation',
      otherStage: 'UnauthorizedOperation',
      unowned: 'UnauthorizedOperation',
      base: 'UnauthorizedOperation',
    });
  });
});
