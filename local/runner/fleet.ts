/**
 * A fleet to back up, launched through the EC2 API itself (RunInstances with tags), so it works against any
 * EC2-compatible endpoint. The demo fleet shows every path of a night; a generated fleet scales it up.
 */
import {
  type EC2Client,
  RunInstancesCommand,
  StopInstancesCommand,
  type Tag,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { OperatorTag } from '../../lib/tags';

export interface FleetMember {
  readonly name: string;
  /** Tags besides `Name`. */
  readonly tags: Readonly<Record<string, string>>;
  /** Stopped before the first night. */
  readonly stopped?: boolean;
  /** Terminated after the first night: its images keep their retention. */
  readonly terminateAfterFirstNight?: boolean;
  /** Its images fail (needs an endpoint that takes fault injection). */
  readonly imagesFail?: boolean;
  readonly optedIn: boolean;
}

export interface LaunchedMember extends FleetMember {
  readonly instanceId: string;
}

const optIn = { Backup: 'true' };

export const DEMO_FLEET: readonly FleetMember[] = [
  { name: 'web-1', tags: { ...optIn }, optedIn: true },
  { name: 'web-2', tags: { ...optIn, [OperatorTag.retain]: '2' }, optedIn: true },
  { name: 'db-1', tags: { ...optIn, [OperatorTag.mode]: 'no-reboot', [OperatorTag.retain]: '3' }, optedIn: true },
  { name: 'batch-1', tags: { ...optIn, [OperatorTag.retain]: '2' }, stopped: true, optedIn: true },
  { name: 'cache-1', tags: { ...optIn, [OperatorTag.retain]: '1', [OperatorTag.retainDays]: '2' }, optedIn: true },
  { name: 'legacy-1', tags: { ...optIn, [OperatorTag.retain]: '1' }, terminateAfterFirstNight: true, optedIn: true },
  { name: 'typo-1', tags: { ...optIn, [OperatorTag.retain]: 'abc' }, optedIn: true },
  { name: 'flaky-1', tags: { ...optIn, [OperatorTag.retain]: '2' }, imagesFail: true, optedIn: true },
  { name: 'scratch-1', tags: {}, optedIn: false },
];

/** A reproducible generated fleet: mostly plain opted-in instances, with every kind mixed in. */
export function generatedFleet(size: number, random: () => number): FleetMember[] {
  return Array.from({ length: size }, (_, index) => {
    const name = `node-${String(index + 1).padStart(5, '0')}`;
    const roll = random();
    if (roll < 0.05) return { name, tags: {}, optedIn: false };
    if (roll < 0.15) return { name, tags: { ...optIn, [OperatorTag.mode]: 'no-reboot' }, optedIn: true };
    if (roll < 0.2) return { name, tags: { ...optIn, [OperatorTag.retain]: '3' }, stopped: true, optedIn: true };
    if (roll < 0.5) return { name, tags: { ...optIn, [OperatorTag.retain]: '3' }, optedIn: true };
    return { name, tags: { ...optIn }, optedIn: true };
  });
}

function toTags(member: FleetMember): Tag[] {
  return [{ Key: 'Name', Value: member.name }, ...Object.entries(member.tags).map(([Key, Value]) => ({ Key, Value }))];
}

/** Launches the fleet, one RunInstances call per member (each has its own Name). */
export async function launchFleet(client: EC2Client, fleet: readonly FleetMember[]): Promise<LaunchedMember[]> {
  const launched: LaunchedMember[] = [];
  for (const member of fleet) {
    const output = await client.send(
      new RunInstancesCommand({
        ImageId: 'ami-0123456789abcdef0',
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [{ ResourceType: 'instance', Tags: toTags(member) }],
      }),
    );
    const instanceId = output.Instances?.[0]?.InstanceId;
    if (instanceId === undefined) throw new Error(`RunInstances returned no instance for ${member.name}`);
    launched.push({ ...member, instanceId });
  }
  return launched;
}

export async function stopMembers(client: EC2Client, members: readonly LaunchedMember[]): Promise<void> {
  const ids = members.filter((member) => member.stopped).map((member) => member.instanceId);
  if (ids.length > 0) await client.send(new StopInstancesCommand({ InstanceIds: ids }));
}

export async function terminateMembers(client: EC2Client, members: readonly LaunchedMember[]): Promise<void> {
  const ids = members.filter((member) => member.terminateAfterFirstNight).map((member) => member.instanceId);
  if (ids.length > 0) await client.send(new TerminateInstancesCommand({ InstanceIds: ids }));
}
