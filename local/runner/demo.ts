/**
 * The demo's deployment (`npm start` on the embedded endpoint): its parameters, the evening it starts, the recovery
 * account backups are shared with, and the key it makes for re-encrypted copies before deploying, as an operator
 * would.
 */
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { DEMO_COPY_PARAMS, DEMO_SHARE_ACCOUNT } from './fleet';
import { OPERATOR_CREDENTIALS } from './night';

/**
 * The demo's restore tests: a subnet and security group for their instances (the embedded endpoint records any id), so
 * that the weekly restore test runs as deployed with them.
 */
export const DEMO_PARAMS: Readonly<Record<string, string>> = {
  restoreTestSubnetId: 'subnet-0de000000000000d1',
  restoreTestSecurityGroupId: 'sg-0de000000000000d1',
  // db-1's backups are copied to a second Region, which the embedded endpoint keeps apart.
  ...DEMO_COPY_PARAMS,
};

/** The recovery account's credentials on the embedded endpoint: its administrator, as that account sees EC2. */
export const DEMO_SHARE_CREDENTIALS = { accessKeyId: 'recovery', secretAccessKey: 'local' };

/** The accounts besides the service's on the embedded endpoint, by access key id. */
export const DEMO_ACCOUNTS: Readonly<Record<string, string>> = {
  [DEMO_SHARE_CREDENTIALS.accessKeyId]: DEMO_SHARE_ACCOUNT,
};

/** The alias of the customer managed key the demo's re-encrypted copies are made with. */
export const DEMO_SHARE_KEY_ALIAS = 'alias/ami-backup-demo-share';

/**
 * Before the deployment, as its operator: a customer managed key in the service's Region (with an alias, for people),
 * named by its ARN in `shareKmsKey`, so that backups encrypted with the AWS managed key are shared as copies
 * re-encrypted with it. The endpoint's key ids follow from the requests: the same ARN each time.
 */
export async function prepareDemo(endpoint: {
  readonly url: string;
  readonly region: string;
}): Promise<Readonly<Record<string, string>>> {
  const kms = new KMSClient({
    endpoint: endpoint.url,
    region: endpoint.region,
    credentials: OPERATOR_CREDENTIALS,
    maxAttempts: 8,
  });
  try {
    const { KeyMetadata } = await kms.send(
      new CreateKeyCommand({ Description: 'ami-backup demo: backups re-encrypted for sharing with other accounts' }),
    );
    const arn = KeyMetadata?.Arn;
    if (arn === undefined || KeyMetadata?.KeyId === undefined) throw new Error('CreateKey returned no key');
    await kms.send(new CreateAliasCommand({ AliasName: DEMO_SHARE_KEY_ALIAS, TargetKeyId: KeyMetadata.KeyId }));
    return { shareKmsKey: arn };
  } finally {
    kms.destroy();
  }
}

/** A Sunday: the default restore-test schedule's day (`cron(0 12 ? * SUN *)`). */
const DEMO_LAST_DAY = Date.UTC(2026, 10, 29);
const DAY_MS = 86_400_000;

/**
 * The evening the demo starts: the one that makes its last night a Sunday's, so that the last night includes a
 * restore test of the backups made that morning (however many nights are run).
 */
export function demoStart(nights: number): Date {
  return new Date(DEMO_LAST_DAY - nights * DAY_MS + 20 * 3_600_000);
}

/** The demo's deployment on the embedded endpoint, for `runNights` or `recordNights`. */
export function demoDeployment(nights: number) {
  return { start: demoStart(nights), params: DEMO_PARAMS, accounts: DEMO_ACCOUNTS, prepare: prepareDemo };
}
