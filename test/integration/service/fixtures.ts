/** A fleet's night on a fresh local endpoint, with look-alike resources the service must never touch. */

import { resolve } from 'node:path';
import { CreateImageCommand, type EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { ImageTag } from '../../../lib/tags';
import { LOCAL_ACCOUNT_ID, type LocalEc2, SimClock, startLocalEc2 } from '../../../local/ec2';
import { DEMO_COPY_PARAMS, DEMO_FLEET, type FleetMember } from '../../../local/runner/fleet';
import { loadFunctions } from '../../../local/runner/functions';
import { localIam, type NightReport, OPERATOR_CREDENTIALS, runNights } from '../../../local/runner/night';
import { deployRules } from '../../../local/runner/rules';
import { lambdaContext } from '../../../local/runner/simulation';
import { clientFor } from '../local-ec2/helpers';

export const PROJECT_ROOT = resolve(__dirname, '../../..');
export const SERVERLESS_FILE = resolve(PROJECT_ROOT, 'serverless.yml');

/**
 * IAM as deployed, enforced on the endpoint: each function's role for its calls; the tests' clients (`test`) and the
 * runner's are operators.
 */
export function deployedIam(params: Readonly<Record<string, string>> = {}) {
  return localIam({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    region: 'us-east-1',
    params,
    operators: ['test', OPERATOR_CREDENTIALS.accessKeyId],
  });
}
export const EVENING = new Date('2026-11-25T20:00:00Z');

export interface NightFixture {
  ec2: LocalEc2;
  client: EC2Client;
  report: NightReport;
  /** Images made by someone else, named and tagged like the service's but without its ownership tag. */
  lookAlikeImageIds: string[];
}

/** Images of a not-opted-in instance, tagged as if they were the service's but owned by another stage or by no one. */
async function makeLookAlikes(client: EC2Client, clock: SimClock): Promise<string[]> {
  const launched = await client.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
  );
  const instanceId = launched.Instances?.[0]?.InstanceId ?? '';
  clock.advance(60_000); // pending → running
  const owners = [{ [ImageTag.managedBy]: 'ami-backup-prod' }, {}, { [ImageTag.managedBy]: 'ami-backup' }];
  const ids: string[] = [];
  for (const [index, owner] of owners.entries()) {
    const tags = Object.entries({ ...owner, [ImageTag.instanceId]: instanceId, [ImageTag.retain]: '1' }).map(
      ([Key, Value]) => ({ Key, Value }),
    );
    const image = await client.send(
      new CreateImageCommand({
        InstanceId: instanceId,
        Name: `ami-backup-${instanceId}-2026112${index}T0300Z`,
        NoReboot: true,
        TagSpecifications: [
          { ResourceType: 'image', Tags: tags },
          { ResourceType: 'snapshot', Tags: tags },
        ],
      }),
    );
    ids.push(image.ImageId ?? '');
  }
  return ids;
}

export async function runFleet(nights: number, fleet: readonly FleetMember[] = DEMO_FLEET): Promise<NightFixture> {
  const ec2 = await startLocalEc2({
    clock: SimClock.manual(EVENING),
    throttling: true,
    audit: true,
    iam: await deployedIam(DEMO_COPY_PARAMS),
  });
  const client = clientFor(ec2.url, 5);
  const lookAlikeImageIds = await makeLookAlikes(client, ec2.clock);
  // Deployed as the demo is: db-1's backups are copied to a second Region.
  const report = await runNights({
    ec2,
    fleet,
    nights,
    serverlessFile: SERVERLESS_FILE,
    logLevel: 'SILENT',
    params: DEMO_COPY_PARAMS,
  });
  return { ec2, client, report, lookAlikeImageIds };
}

/** The handlers as serverless.yml wires them, bound at cold start to one local endpoint on a manual clock. */
export interface ServiceUnderTest {
  ec2: LocalEc2;
  client: EC2Client;
  /** Invokes a function by name with an event, as Lambda would (with `timeoutSeconds` left, 900 unless given). */
  invoke(name: string, event: unknown, timeoutSeconds?: number): Promise<Record<string, unknown>>;
}

/**
 * Starts an endpoint at `EVENING` (throttling off, audit on, the deployed IAM enforced) and loads the functions with
 * deployment `params`; their metrics are written to stdout when asked, as on Lambda.
 */
export async function startService(
  params: Readonly<Record<string, string>> = {},
  options: { readonly metrics?: 'stdout' } = {},
): Promise<ServiceUnderTest> {
  const ec2 = await startLocalEc2({
    clock: SimClock.manual(EVENING),
    throttling: false,
    audit: true,
    iam: await deployedIam(params),
  });
  return { ec2, client: clientFor(ec2.url, 3), invoke: await invokerOn(ec2, params, options) };
}

/** Loads the functions with deployment `params` against a running endpoint, and invokes them by name as Lambda would. */
export async function invokerOn(
  ec2: LocalEc2,
  params: Readonly<Record<string, string>> = {},
  options: { readonly metrics?: 'stdout' } = {},
): Promise<ServiceUnderTest['invoke']> {
  const functions = await loadFunctions(SERVERLESS_FILE, {
    stage: 'dev',
    endpoint: ec2.url,
    region: 'us-east-1',
    account: LOCAL_ACCOUNT_ID,
    logLevel: 'SILENT',
    params,
    ...options,
  });
  const eventBridge = new EventBridgeClient({
    endpoint: ec2.url,
    region: 'us-east-1',
    credentials: OPERATOR_CREDENTIALS,
  });
  await deployRules(functions, eventBridge);
  eventBridge.destroy();
  const handlers = new Map(functions.map((fn) => [fn.name, fn.handler]));
  return async (name, event, timeoutSeconds = 900) => {
    const handler = handlers.get(name);
    if (handler === undefined) throw new Error(`no function ${name}`);
    const context = lambdaContext(name, timeoutSeconds, 'us-east-1', LOCAL_ACCOUNT_ID);
    return (await handler(event, context)) as Record<string, unknown>;
  };
}

/** A run time an hour after the endpoint's clock, on the minute (each test starts its own run). */
export function nextRunTime(ec2: LocalEc2): Date {
  const hourLater = ec2.clock.now().getTime() + 3_600_000;
  return new Date(hourLater - (hourLater % 60_000));
}
