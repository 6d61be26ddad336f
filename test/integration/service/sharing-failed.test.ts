/**
 * A backup that cannot be shared: its instance's volume is encrypted with the AWS managed key and the deployment names
 * no key to re-encrypt with. The backup itself is good; the share fails once, saying what to set.
 */
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { InstanceTag, ShareTag } from '../../../lib/tags';
import { type LocalEc2, SimClock, startLocalEc2 } from '../../../local/ec2';
import { type NightReport, OPERATOR_CREDENTIALS, runNights } from '../../../local/runner/night';
import { deployedIam, EVENING, SERVERLESS_FILE } from './fixtures';
import { inventory, tagsOf } from './support';

const TARGET = '210987654321';

let ec2: LocalEc2;
let report: NightReport;
let home: EC2Client;

beforeAll(async () => {
  ec2 = await startLocalEc2({
    clock: SimClock.manual(EVENING),
    throttling: true,
    audit: true,
    iam: await deployedIam(),
  });
  report = await runNights({
    ec2,
    fleet: [
      {
        name: 'aws-managed',
        tags: { Backup: 'true', 'ami-backup:retain': '1', [ShareTag.shareWith]: TARGET },
        encryptedRoot: {},
        optedIn: true,
      },
    ],
    nights: 2,
    serverlessFile: SERVERLESS_FILE,
    logLevel: 'SILENT',
  });
  home = new EC2Client({ endpoint: ec2.url, region: 'us-east-1', credentials: OPERATOR_CREDENTIALS });
}, 300_000);

afterAll(async () => {
  home.destroy();
  await ec2.stop();
});

it('backs the instance up all the same', () => {
  expect(report.invocationErrors).toEqual([]);
  expect(report.totals.deniedCalls).toBe(0);
  expect(report.problems).toEqual([]);
  expect(report.instances.map((instance) => instance.state)).toEqual(['succeeded']);
});

it('records why the backups cannot be shared and what to set, and publishes it once per backup', async () => {
  const instance = (await inventory(home)).instance('aws-managed');
  const reason = tagsOf(instance)[ShareTag.shareError] ?? '';
  expect(reason).toContain('encrypted with the AWS managed key, which cannot be shared');
  expect(reason).toContain('shareKmsKey');
  expect(tagsOf(instance)[InstanceTag.policyError]).toBeUndefined();
  // Each night's backup failed once (the passes in between publish nothing more); the tag says the newest's.
  const failed = ec2.putEvents
    .filter((entry) => entry.DetailType === 'Share Failed')
    .map((entry) => JSON.parse(entry.Detail ?? '{}') as { imageId?: string; reason?: string });
  expect(failed).toHaveLength(2);
  expect(new Set(failed.map((detail) => detail.imageId)).size).toBe(2);
  expect(failed.at(-1)?.reason).toBe(reason);
});

it('shares nothing, and makes no copy', async () => {
  const { Images } = await home.send(new DescribeImagesCommand({ Owners: ['self'], ExecutableUsers: [TARGET] }));
  expect(Images).toEqual([]);
  const atHome = await inventory(home);
  expect(atHome.images.filter((image) => tagsOf(image)[ShareTag.reencryptedFrom] !== undefined)).toEqual([]);
  expect(ec2.eventRules.isEnabled('ami-backup-dev-share-passes')).toBe(false);
});
