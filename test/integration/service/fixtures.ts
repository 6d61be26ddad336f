/** A fleet's night on a fresh local endpoint, with look-alike resources the service must never touch. */

import { resolve } from 'node:path';
import { CreateImageCommand, type EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { ImageTag } from '../../../lib/tags';
import { type LocalEc2, SimClock, startLocalEc2 } from '../../../local/ec2';
import { DEMO_FLEET, type FleetMember } from '../../../local/runner/fleet';
import { type NightReport, runNights } from '../../../local/runner/night';
import { clientFor } from '../local-ec2/helpers';

export const SERVERLESS_FILE = resolve(__dirname, '../../../serverless.yml');
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
  const ec2 = await startLocalEc2({ clock: SimClock.manual(EVENING), throttling: true, audit: true });
  const client = clientFor(ec2.url, 5);
  const lookAlikeImageIds = await makeLookAlikes(client, ec2.clock);
  const report = await runNights({ ec2, fleet, nights, serverlessFile: SERVERLESS_FILE, logLevel: 'SILENT' });
  return { ec2, client, report, lookAlikeImageIds };
}
