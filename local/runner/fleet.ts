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
import { CopyTag, OperatorTag, ShareTag } from '../../lib/tags';
import { INSTANCE_STORE_AMI_ID } from '../ec2';

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
  /**
   * Does not come back healthy after its image's reboot (needs an endpoint that takes fault injection): each backup
   * fails verification and its image is kept, never counted as a good one.
   */
  readonly unhealthyAfterImage?: boolean;
  /**
   * Its root volume encrypted: with this KMS key (id, ARN or alias), or the account's default EBS key (the AWS managed
   * `aws/ebs`) when none is named. Its backups' snapshots are encrypted with the same key.
   */
  readonly encryptedRoot?: { readonly kmsKeyId?: string };
  /** Launched from an instance-store-backed AMI (the local endpoint's): screened, never imaged or rebooted. */
  readonly instanceStoreRoot?: boolean;
  /** Launched with hibernation configured and hibernated before the first night: screened. */
  readonly hibernated?: boolean;
  /**
   * A member of this Auto Scaling group: the `aws:autoscaling:groupName` tag, which only Auto Scaling sets (needs an
   * endpoint that can stand in for it; elsewhere the instance has no group).
   */
  readonly autoScalingGroup?: string;
  readonly optedIn: boolean;
}

export interface LaunchedMember extends FleetMember {
  readonly instanceId: string;
}

const optIn = { Backup: 'true' };

const web = { ...optIn, [OperatorTag.group]: 'web' };
/** The Region the demo copies to. */
export const DEMO_COPY_REGION = 'us-west-2';
/** The deployment parameters under which the demo fleet's copies go to {@link DEMO_COPY_REGION}. */
export const DEMO_COPY_PARAMS: Readonly<Record<string, string>> = { copyAllowedRegions: DEMO_COPY_REGION };
/** A second account the demo shares backups with: a recovery account (see demo.ts for its credentials). */
export const DEMO_SHARE_ACCOUNT = '444455556666';

export const DEMO_FLEET: readonly FleetMember[] = [
  // A group imaged one at a time (maxDownPerGroup): never more than one web server down.
  { name: 'web-1', tags: { ...web }, optedIn: true },
  { name: 'web-2', tags: { ...web, [OperatorTag.retain]: '2' }, optedIn: true },
  { name: 'web-3', tags: { ...web }, optedIn: true },
  // Its good backups also copied to a second Region (with DEMO_COPY_PARAMS), two copies kept there, and shared with
  // the recovery account (launch permission on each, create-volume on their snapshots).
  {
    name: 'db-1',
    tags: {
      ...optIn,
      [OperatorTag.mode]: 'no-reboot',
      [OperatorTag.retain]: '3',
      [CopyTag.copyTo]: DEMO_COPY_REGION,
      [CopyTag.copyRetain]: '2',
      [ShareTag.shareWith]: DEMO_SHARE_ACCOUNT,
    },
    optedIn: true,
  },
  // Its root volume encrypted with the AWS managed key (aws/ebs), which cannot be shared: each good backup is shared
  // with the recovery account as a copy re-encrypted with the deployment's shareKmsKey (the demo makes one).
  {
    name: 'vault-1',
    tags: { ...optIn, [OperatorTag.retain]: '2', [ShareTag.shareWith]: DEMO_SHARE_ACCOUNT },
    encryptedRoot: {},
    optedIn: true,
  },
  { name: 'batch-1', tags: { ...optIn, [OperatorTag.retain]: '2' }, stopped: true, optedIn: true },
  { name: 'cache-1', tags: { ...optIn, [OperatorTag.retain]: '1', [OperatorTag.retainDays]: '2' }, optedIn: true },
  { name: 'legacy-1', tags: { ...optIn, [OperatorTag.retain]: '1' }, terminateAfterFirstNight: true, optedIn: true },
  { name: 'typo-1', tags: { ...optIn, [OperatorTag.retain]: 'abc' }, optedIn: true },
  { name: 'flaky-1', tags: { ...optIn, [OperatorTag.retain]: '2' }, imagesFail: true, optedIn: true },
  // Two members of one Auto Scaling group, grouped by it without any tag of their own.
  { name: 'worker-1', tags: { ...optIn }, autoScalingGroup: 'workers-asg', optedIn: true },
  { name: 'worker-2', tags: { ...optIn }, autoScalingGroup: 'workers-asg', optedIn: true },
  { name: 'ephemeral-1', tags: { ...optIn }, instanceStoreRoot: true, optedIn: true },
  { name: 'sleepy-1', tags: { ...optIn }, hibernated: true, optedIn: true },
  { name: 'fragile-1', tags: { ...optIn, [OperatorTag.retain]: '2' }, unhealthyAfterImage: true, optedIn: true },
  { name: 'scratch-1', tags: {}, optedIn: false },
];

/** Groups of a generated fleet: a few large ones and many small ones. */
const GENERATED_GROUPS = 40;

/**
 * A reproducible generated fleet: mostly plain opted-in instances, with every kind mixed in; a third of the instances
 * in reboot mode belong to a group (`ami-backup:group`), imaged one at a time.
 */
export function generatedFleet(size: number, random: () => number): FleetMember[] {
  return Array.from({ length: size }, (_, index) => {
    const name = `node-${String(index + 1).padStart(5, '0')}`;
    const roll = random();
    if (roll < 0.05) return { name, tags: {}, optedIn: false };
    if (roll < 0.15) return { name, tags: { ...optIn, [OperatorTag.mode]: 'no-reboot' }, optedIn: true };
    if (roll < 0.2) return { name, tags: { ...optIn, [OperatorTag.retain]: '3' }, stopped: true, optedIn: true };
    if (roll < 0.5) return { name, tags: { ...optIn, [OperatorTag.retain]: '3' }, optedIn: true };
    if (roll < 0.8) {
      const group = `group-${String(Math.floor(random() * GENERATED_GROUPS) + 1).padStart(2, '0')}`;
      return { name, tags: { ...optIn, [OperatorTag.group]: group }, optedIn: true };
    }
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
        ImageId: member.instanceStoreRoot ? INSTANCE_STORE_AMI_ID : 'ami-0123456789abcdef0',
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [{ ResourceType: 'instance', Tags: toTags(member) }],
        ...(member.hibernated ? { HibernationOptions: { Configured: true } } : {}),
        ...(member.encryptedRoot === undefined
          ? {}
          : {
              BlockDeviceMappings: [
                {
                  DeviceName: '/dev/xvda',
                  Ebs: {
                    VolumeSize: 8,
                    Encrypted: true,
                    ...(member.encryptedRoot.kmsKeyId === undefined ? {} : { KmsKeyId: member.encryptedRoot.kmsKeyId }),
                  },
                },
              ],
            }),
      }),
    );
    const instanceId = output.Instances?.[0]?.InstanceId;
    if (instanceId === undefined) throw new Error(`RunInstances returned no instance for ${member.name}`);
    launched.push({ ...member, instanceId });
  }
  return launched;
}

/** Stops the members to be stopped, and hibernates those to be hibernated (they must be running). */
export async function stopMembers(client: EC2Client, members: readonly LaunchedMember[]): Promise<void> {
  const ids = members.filter((member) => member.stopped).map((member) => member.instanceId);
  if (ids.length > 0) await client.send(new StopInstancesCommand({ InstanceIds: ids }));
  const sleepers = members.filter((member) => member.hibernated).map((member) => member.instanceId);
  if (sleepers.length > 0) await client.send(new StopInstancesCommand({ InstanceIds: sleepers, Hibernate: true }));
}

/** Why a member cannot be backed up at all (the service screens it), if it cannot. */
export function screenedBecause(member: FleetMember): string | undefined {
  if (member.instanceStoreRoot) return 'instance-store root';
  if (member.hibernated) return 'hibernated';
  return undefined;
}

export async function terminateMembers(client: EC2Client, members: readonly LaunchedMember[]): Promise<void> {
  const ids = members.filter((member) => member.terminateAfterFirstNight).map((member) => member.instanceId);
  if (ids.length > 0) await client.send(new TerminateInstancesCommand({ InstanceIds: ids }));
}
