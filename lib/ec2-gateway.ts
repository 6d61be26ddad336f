/**
 * The EC2 adapter: the only module that speaks to EC2. Describes are paginated and filtered on the server side;
 * mutations are batched where EC2 allows it. It maps SDK shapes onto the plain model the decisions read.
 */
import {
  type _InstanceType,
  CopyImageCommand,
  CreateImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeregisterImageCommand,
  DescribeInstanceStatusCommand,
  EC2Client,
  type Filter,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  paginateDescribeImages,
  paginateDescribeInstances,
  paginateDescribeSnapshots,
  RunInstancesCommand,
  type Image as SdkImage,
  type Instance as SdkInstance,
  type Snapshot as SdkSnapshot,
  type Tag,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { isThrottlingError } from '@smithy/core/retry';
import type { FinalizeRequestMiddleware, MiddlewareStack, SdkError } from '@smithy/types';
import type { CopyRequest } from './decisions/copies';
import type { ImageRequest } from './decisions/progress';
import { imageIdOfSnapshot } from './decisions/rotation';
import type { PermissionChange } from './decisions/sharing';
import {
  ATTEMPT_RESERVE_MS,
  chunk,
  DeadlineRetryStrategy,
  errorCode,
  errorMessage,
  isTransient,
  refusedIds,
  withinDeadline,
} from './errors';
import { countEc2Answer } from './metrics';
import type {
  CheckStatus,
  Image,
  ImageState,
  Instance,
  InstanceHealth,
  InstanceState,
  Snapshot,
  SnapshotState,
  TagWrite,
} from './model';
import { Pacers } from './pacing';
import { ACCOUNT_ID } from './policy';
import { ImageMode, ImageTag, type Tags } from './tags';

/** EC2's limits: ids per CreateTags call, ids per DescribeInstanceStatus call, values per filter (kept modest). */
const TAG_BATCH = 1000;
const STATUS_BATCH = 100;
const FILTER_VALUES = 200;
const PAGE_SIZE = 1000;

export type ResourceFailures = ReadonlyMap<string, string>;

export interface CreatedImage {
  readonly imageId: string;
  /** True when the image already existed under that name (a rerun after a crash). */
  readonly existed: boolean;
}

export interface TestInstanceRequest {
  readonly imageId: string;
  readonly instanceType?: string;
  readonly subnetId: string;
  readonly securityGroupId: string;
  readonly clientToken: string;
  readonly tags: Tags;
}

export interface DeregisterResult {
  /** Snapshots EC2 did not delete with the image (to delete one by one). */
  readonly snapshotsLeft: readonly string[];
  readonly snapshotsDeleted: number;
}

function tagsOf(tags: readonly Tag[] | undefined): Tags {
  const result: Record<string, string> = {};
  for (const tag of tags ?? []) {
    if (tag.Key !== undefined) result[tag.Key] = tag.Value ?? '';
  }
  return result;
}

function toTags(tags: Tags): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function toInstance(instance: SdkInstance): Instance | undefined {
  const id = instance.InstanceId;
  const state = instance.State?.Name as InstanceState | undefined;
  if (id === undefined || state === undefined) return undefined;
  const rootDeviceType = instance.RootDeviceType;
  const stateReasonCode = instance.StateReason?.Code;
  return {
    id,
    state,
    tags: tagsOf(instance.Tags),
    ...(rootDeviceType === 'ebs' || rootDeviceType === 'instance-store' ? { rootDeviceType } : {}),
    ...(stateReasonCode ? { stateReasonCode } : {}),
    ...(instance.InstanceType === undefined ? {} : { instanceType: instance.InstanceType }),
    ...(instance.LaunchTime === undefined ? {} : { launchedAt: instance.LaunchTime }),
  };
}

function toImage(image: SdkImage): Image | undefined {
  if (image.ImageId === undefined || image.State === undefined) return undefined;
  return {
    id: image.ImageId,
    name: image.Name ?? '',
    state: image.State as ImageState,
    createdAt: new Date(image.CreationDate ?? 0),
    tags: tagsOf(image.Tags),
    snapshotIds: (image.BlockDeviceMappings ?? []).flatMap((mapping) =>
      mapping.Ebs?.SnapshotId === undefined ? [] : [mapping.Ebs.SnapshotId],
    ),
    ...(image.StateReason?.Message ? { stateReason: image.StateReason.Message } : {}),
    ...(image.OwnerId === undefined ? {} : { ownerId: image.OwnerId }),
    ...(image.SourceInstanceId === undefined ? {} : { sourceInstanceId: image.SourceInstanceId }),
    ...(image.SourceImageId === undefined ? {} : { sourceImageId: image.SourceImageId }),
    ...((image.BlockDeviceMappings ?? []).some((mapping) => mapping.Ebs?.Encrypted === true)
      ? { encrypted: true }
      : {}),
  };
}

function toSnapshot(snapshot: SdkSnapshot): Snapshot | undefined {
  if (snapshot.SnapshotId === undefined || snapshot.State === undefined) return undefined;
  return {
    id: snapshot.SnapshotId,
    state: snapshot.State as SnapshotState,
    startedAt: snapshot.StartTime ?? new Date(0),
    description: snapshot.Description ?? '',
    tags: tagsOf(snapshot.Tags),
  };
}

const counted = new WeakSet<EC2Client>();

/**
 * Counts EC2's denied and throttled answers into the invocation's metrics ({@link countEc2Answer}), at every attempt:
 * the middleware runs inside the SDK's retry loop, so a throttled call retried twice counts twice. Once per client.
 */
function countAnswers(client: EC2Client): void {
  if (counted.has(client)) return;
  counted.add(client);
  // The middleware reads neither input nor output: typed on `object`, as the stack of any client can take it.
  (client.middlewareStack as MiddlewareStack<object, object>).addRelativeTo(counting(), {
    relation: 'before',
    toMiddleware: 'httpSigningMiddleware',
    name: 'countAnswers',
  });
}

function counting(): FinalizeRequestMiddleware<object, object> {
  return (next) => async (args) => {
    try {
      return await next(args);
    } catch (error: unknown) {
      countEc2Answer(error);
      throw error;
    }
  };
}

function defined<T>(value: T | undefined): value is T {
  return value !== undefined;
}

/**
 * The accounts of a permission change, refused whole if any is not a 12-digit account id: a backup is never made
 * public (`all`), whatever a caller passes (IAM refuses it too).
 */
function accountIds(accounts: readonly string[]): string[] {
  const refused = accounts.filter((account) => !ACCOUNT_ID.test(account));
  if (refused.length > 0) throw new Error(`not account ids, nothing shared: ${refused.join(', ')}`);
  return [...accounts];
}

/** Who the service's images and snapshots are shared with (see {@link Ec2Gateway.findSharedWith}). */
export interface SharedResources {
  /** The images shared with any of the accounts. */
  readonly images: readonly Image[];
  /** Image id → the accounts with launch permission on it, among those asked about. */
  readonly launchAccounts: ReadonlyMap<string, readonly string[]>;
  /** Snapshot id → the accounts with create-volume permission on it, among those asked about. */
  readonly createVolumeAccounts: ReadonlyMap<string, readonly string[]>;
  /** The images whose shared snapshots name them (their descriptions): shared snapshots of an image not shared. */
  readonly imagesOfSharedSnapshots: readonly string[];
}

/** EC2's answers that an image or snapshot no longer exists. */
const GONE = new Set(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidSnapshot.NotFound']);

/** Makes a call on an image or snapshot; false if EC2 says it is gone. */
async function unlessGone(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (error: unknown) {
    if (GONE.has(errorCode(error) ?? '')) return false;
    throw error;
  }
}

export interface InstanceQuery {
  /** Only instances carrying this tag. */
  readonly tag?: { readonly key: string; readonly values: readonly string[] };
  readonly instanceIds?: readonly string[];
}

/**
 * The image a CreateImage or CopyImage refused for its name already made (a repeated request after a crash), else
 * the error again. "AMI name ami-backup-i-… is already in use by AMI ami-…": the id follows "by AMI", not the first
 * "ami-".
 */
function imageNamedAlready(error: unknown): CreatedImage {
  const existing =
    errorCode(error) === 'InvalidAMIName.Duplicate' && /in use by AMI (ami-[0-9a-f]+)/.exec(errorMessage(error))?.[1];
  if (existing) return { imageId: existing, existed: true };
  throw error;
}

export class Ec2Gateway {
  constructor(
    private readonly client: EC2Client = new EC2Client({ retryStrategy: new DeadlineRetryStrategy() }),
    private readonly pacers: Pacers = new Pacers(),
    /** The invocation's remaining time: the SDK's retries and the splitting of refused batches end within it. */
    private readonly remainingMs?: () => number,
  ) {
    countAnswers(client);
  }

  /** This gateway (its client and pacers) for one invocation, whose calls end within its remaining time. */
  forInvocation(remainingMs: () => number): Ec2Gateway {
    return new Ec2Gateway(this.client, this.pacers, remainingMs);
  }

  /** Runs the calls of `work` within the invocation's deadline. */
  private within<T>(work: () => Promise<T>): Promise<T> {
    return withinDeadline(this.remainingMs, work);
  }

  /** Whether another attempt can start and end before the invocation does. */
  private hasTime(): boolean {
    return this.remainingMs === undefined || this.remainingMs() > ATTEMPT_RESERVE_MS;
  }

  /**
   * Paces a rate-limited command: each of its attempts (the SDK's retries too, which run inside its retry loop) waits
   * for its action's pacer, and tells the pacer whether EC2 took the call or throttled it.
   */
  private paced<Input extends object, Output extends object, Command>(
    action: string,
    command: Command & { readonly middlewareStack: MiddlewareStack<Input, Output> },
  ): Command {
    const pacer = this.pacers.of(action);
    if (pacer === undefined) return command;
    const pacing: FinalizeRequestMiddleware<Input, Output> = (next) => async (args) => {
      const reservedAtMs = await pacer.take();
      try {
        const output = await next(args);
        pacer.passed();
        return output;
      } catch (error: unknown) {
        // The classifiers read every SdkError field as optional.
        if (error instanceof Error && isThrottlingError(error as SdkError)) pacer.throttled(reservedAtMs);
        throw error;
      }
    };
    // Before the signature, so that a wait never ages it.
    command.middlewareStack.addRelativeTo(pacing, {
      relation: 'before',
      toMiddleware: 'httpSigningMiddleware',
      name: 'pacing',
    });
    return command;
  }

  /** Every instance matching the query, across all pages and reservations. */
  findInstances(query: InstanceQuery): Promise<Instance[]> {
    return this.within(async () => {
      const base: Filter[] = query.tag ? [{ Name: `tag:${query.tag.key}`, Values: [...query.tag.values] }] : [];
      // An empty id list means "none", never "all" (the SDK would drop it and describe every instance).
      if (query.instanceIds !== undefined && query.instanceIds.length === 0) return [];
      const idChunks = query.instanceIds === undefined ? [undefined] : chunk(query.instanceIds, FILTER_VALUES);
      const instances: Instance[] = [];
      for (const ids of idChunks) {
        const filters = ids === undefined ? base : [...base, { Name: 'instance-id', Values: [...ids] }];
        for await (const page of paginateDescribeInstances(
          { client: this.client, pageSize: PAGE_SIZE },
          { Filters: filters },
        )) {
          for (const reservation of page.Reservations ?? []) {
            instances.push(...(reservation.Instances ?? []).map(toInstance).filter(defined));
          }
        }
      }
      return instances;
    });
  }

  /** Status checks of running instances (EC2 answers for at most 100 ids a call). */
  findHealth(instanceIds: readonly string[]): Promise<Map<string, InstanceHealth>> {
    return this.within(async () => {
      const health = new Map<string, InstanceHealth>();
      for (const ids of chunk(instanceIds, STATUS_BATCH)) {
        let token: string | undefined;
        do {
          const page = await this.client.send(
            new DescribeInstanceStatusCommand({ InstanceIds: [...ids], IncludeAllInstances: true, NextToken: token }),
          );
          for (const status of page.InstanceStatuses ?? []) {
            if (status.InstanceId === undefined) continue;
            health.set(status.InstanceId, {
              instanceStatus: (status.InstanceStatus?.Status ?? 'insufficient-data') as CheckStatus,
              systemStatus: (status.SystemStatus?.Status ?? 'insufficient-data') as CheckStatus,
            });
          }
          token = page.NextToken;
        } while (token);
      }
      return health;
    });
  }

  private async findImages(filters: Filter[]): Promise<Image[]> {
    const images: Image[] = [];
    for await (const page of paginateDescribeImages(
      { client: this.client, pageSize: PAGE_SIZE },
      { Owners: ['self'], Filters: filters },
    )) {
      images.push(...(page.Images ?? []).map(toImage).filter(defined));
    }
    return images;
  }

  /** Images of this account with the given names (any owner tag: the caller checks it). */
  findImagesByName(names: readonly string[]): Promise<Image[]> {
    return this.within(async () => {
      const images: Image[] = [];
      for (const values of chunk(names, FILTER_VALUES)) {
        images.push(...(await this.findImages([{ Name: 'name', Values: [...values] }])));
      }
      return images;
    });
  }

  findImagesById(imageIds: readonly string[]): Promise<Image[]> {
    return this.within(async () => {
      const images: Image[] = [];
      for (const values of chunk(imageIds, FILTER_VALUES)) {
        images.push(...(await this.findImages([{ Name: 'image-id', Values: [...values] }])));
      }
      return images;
    });
  }

  /** Every image carrying the ownership tag with this owner. */
  findOwnedImages(owner: string): Promise<Image[]> {
    return this.within(async () => {
      return this.findImages([{ Name: `tag:${ImageTag.managedBy}`, Values: [owner] }]);
    });
  }

  /**
   * Every snapshot carrying the ownership tag with this owner, or those of them `keep` keeps: it sees each snapshot as
   * its page is read, so a caller that needs a few of them never holds them all.
   */
  findOwnedSnapshots(owner: string, keep: (snapshot: Snapshot) => boolean = () => true): Promise<Snapshot[]> {
    return this.within(async () => {
      const snapshots: Snapshot[] = [];
      for await (const page of paginateDescribeSnapshots(
        { client: this.client, pageSize: PAGE_SIZE },
        { OwnerIds: ['self'], Filters: [{ Name: `tag:${ImageTag.managedBy}`, Values: [owner] }] },
      )) {
        snapshots.push(...(page.Snapshots ?? []).map(toSnapshot).filter(defined).filter(keep));
      }
      return snapshots;
    });
  }

  /**
   * Applies tag writes, one CreateTags call per group of resources receiving the same tags. A call that EC2 refuses
   * for the group is repeated without the resources it refuses, so one bad resource does not cost the others their
   * tags.
   */
  writeTags(writes: readonly TagWrite[]): Promise<ResourceFailures> {
    return this.within(async () => {
      const groups = new Map<string, { tags: Tags; ids: string[] }>();
      for (const write of writes) {
        const key = JSON.stringify(Object.entries(write.tags).sort(([a], [b]) => a.localeCompare(b)));
        const group = groups.get(key) ?? { tags: write.tags, ids: [] };
        group.ids.push(write.resourceId);
        groups.set(key, group);
      }
      const failures = new Map<string, string>();
      for (const { tags, ids } of groups.values()) {
        for (const batch of chunk(ids, TAG_BATCH)) {
          await this.eachOrAll(batch, failures, (resources) =>
            this.client.send(
              this.paced('CreateTags', new CreateTagsCommand({ Resources: resources, Tags: toTags(tags) })),
            ),
          );
        }
      }
      return failures;
    });
  }

  deleteTags(resourceIds: readonly string[], keys: readonly string[]): Promise<ResourceFailures> {
    return this.within(async () => {
      const failures = new Map<string, string>();
      for (const batch of chunk(resourceIds, TAG_BATCH)) {
        await this.eachOrAll(batch, failures, (resources) =>
          this.client.send(
            this.paced(
              'DeleteTags',
              new DeleteTagsCommand({ Resources: resources, Tags: keys.map((Key) => ({ Key })) }),
            ),
          ),
        );
      }
      return failures;
    });
  }

  /**
   * Creates the image: in `reboot` mode with `NoReboot=false`, so that EC2 shuts the instance down and snapshots its
   * volumes at rest; otherwise without touching the instance. If the name is taken, the existing image is returned:
   * names are unique per run, so a rerun never makes (or reboots for) a second one.
   */
  createImage(request: ImageRequest): Promise<CreatedImage> {
    return this.within(async () => {
      const tags = toTags(request.tags);
      try {
        const output = await this.client.send(
          this.paced(
            'CreateImage',
            new CreateImageCommand({
              InstanceId: request.instanceId,
              Name: request.name,
              Description: request.description,
              NoReboot: request.mode !== ImageMode.reboot,
              TagSpecifications: [
                { ResourceType: 'image', Tags: tags },
                { ResourceType: 'snapshot', Tags: tags },
              ],
            }),
          ),
        );
        if (output.ImageId === undefined) throw new Error('CreateImage returned no ImageId');
        return { imageId: output.ImageId, existed: false };
      } catch (error: unknown) {
        return imageNamedAlready(error);
      }
    });
  }

  /**
   * Starts a copy of an image from another Region into this gateway's Region (CopyImage is called in the destination),
   * the copy and its snapshots tagged by the request itself. The name is the source's and the client token is derived
   * from it, so a repeated request returns the copy already started (by the token, or by the name taken).
   */
  copyImage(request: CopyRequest): Promise<CreatedImage> {
    return this.within(async () => {
      const tags = toTags(request.tags);
      try {
        const output = await this.client.send(
          this.paced(
            'CopyImage',
            new CopyImageCommand({
              SourceImageId: request.sourceImageId,
              SourceRegion: request.sourceRegion,
              Name: request.name,
              Description: request.description,
              ClientToken: request.name,
              ...(request.encrypted ? { Encrypted: true } : {}),
              ...(request.kmsKeyId === undefined ? {} : { KmsKeyId: request.kmsKeyId }),
              TagSpecifications: [
                { ResourceType: 'image', Tags: tags },
                { ResourceType: 'snapshot', Tags: tags },
              ],
            }),
          ),
        );
        if (output.ImageId === undefined) throw new Error('CopyImage returned no ImageId');
        return { imageId: output.ImageId, existed: false };
      } catch (error: unknown) {
        return imageNamedAlready(error);
      }
    });
  }

  /**
   * Launches one test instance from an image into a subnet and security group, without a public address, tagged at
   * launch (instance and volumes). The client token makes a repeated request return the first one's instance.
   */
  runTestInstance(request: TestInstanceRequest): Promise<string> {
    return this.within(async () => {
      const tags = toTags(request.tags);
      const output = await this.client.send(
        this.paced(
          'RunInstances',
          new RunInstancesCommand({
            ImageId: request.imageId,
            MinCount: 1,
            MaxCount: 1,
            ...(request.instanceType === undefined ? {} : { InstanceType: request.instanceType as _InstanceType }),
            ClientToken: request.clientToken,
            NetworkInterfaces: [
              {
                DeviceIndex: 0,
                SubnetId: request.subnetId,
                Groups: [request.securityGroupId],
                AssociatePublicIpAddress: false,
                DeleteOnTermination: true,
              },
            ],
            TagSpecifications: [
              { ResourceType: 'instance', Tags: tags },
              { ResourceType: 'volume', Tags: tags },
            ],
          }),
        ),
      );
      const instanceId = output.Instances?.[0]?.InstanceId;
      if (instanceId === undefined) throw new Error('RunInstances returned no instance');
      return instanceId;
    });
  }

  /** Terminates instances (EC2 ignores those terminated already); an instance already gone counts as done. */
  terminate(instanceIds: readonly string[]): Promise<ResourceFailures> {
    return this.within(async () => {
      const failures = new Map<string, string>();
      for (const batch of chunk(instanceIds, TAG_BATCH)) {
        await this.eachOrAll(batch, failures, async (ids) => {
          try {
            await this.client.send(
              this.paced('TerminateInstances', new TerminateInstancesCommand({ InstanceIds: ids })),
            );
          } catch (error: unknown) {
            if (errorCode(error) !== 'InvalidInstanceID.NotFound' || ids.length > 1) throw error;
          }
        });
      }
      return failures;
    });
  }

  /** Deregisters an image and deletes its snapshots with it; an image already gone counts as done. */
  deregister(imageId: string, snapshotIds: readonly string[]): Promise<DeregisterResult> {
    return this.within(async () => {
      try {
        const output = await this.client.send(
          this.paced(
            'DeregisterImage',
            new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true }),
          ),
        );
        const deleted = new Set(
          (output.DeleteSnapshotResults ?? [])
            .filter((result) => result.ReturnCode === 'success' && result.SnapshotId !== undefined)
            .map((result) => result.SnapshotId),
        );
        return { snapshotsLeft: snapshotIds.filter((id) => !deleted.has(id)), snapshotsDeleted: deleted.size };
      } catch (error: unknown) {
        if (errorCode(error) === 'InvalidAMIID.NotFound' || errorCode(error) === 'InvalidAMIID.Unavailable') {
          return { snapshotsLeft: [...snapshotIds], snapshotsDeleted: 0 };
        }
        throw error;
      }
    });
  }

  /** Deletes a snapshot; true if deleted now, false if it was already gone. */
  deleteSnapshot(snapshotId: string): Promise<boolean> {
    return this.within(async () => {
      try {
        await this.client.send(this.paced('DeleteSnapshot', new DeleteSnapshotCommand({ SnapshotId: snapshotId })));
        return true;
      } catch (error: unknown) {
        if (errorCode(error) === 'InvalidSnapshot.NotFound') return false;
        throw error;
      }
    });
  }

  /** Images carrying the ownership tag made from these instances (their `ami-backup:instance-id`). */
  findOwnedImagesOf(owner: string, instanceIds: readonly string[]): Promise<Image[]> {
    return this.within(async () => {
      const images: Image[] = [];
      for (const values of chunk(instanceIds, FILTER_VALUES)) {
        images.push(
          ...(await this.findImages([
            { Name: `tag:${ImageTag.managedBy}`, Values: [owner] },
            { Name: `tag:${ImageTag.instanceId}`, Values: [...values] },
          ])),
        );
      }
      return images;
    });
  }

  /** Images carrying the ownership tag and a tag with any of these keys, whatever its value: one paged describe. */
  findOwnedImagesTagged(owner: string, keys: readonly string[]): Promise<Image[]> {
    return this.within(() =>
      this.findImages([
        { Name: `tag:${ImageTag.managedBy}`, Values: [owner] },
        { Name: 'tag-key', Values: [...keys] },
      ]),
    );
  }

  /**
   * Which of the service's images and snapshots each account may launch or restore: per account one paged
   * DescribeImages (ExecutableUsers) and one DescribeSnapshots (RestorableByUserIds), not an attribute read per image
   * and snapshot. The images are returned too: one shared by a crashed pass may have no other reason to be read.
   */
  findSharedWith(owner: string, accounts: readonly string[]): Promise<SharedResources> {
    return this.within(async () => {
      const images = new Map<string, Image>();
      const launch = new Map<string, string[]>();
      const createVolume = new Map<string, { account: string[]; imageId?: string }>();
      const ownership = [{ Name: `tag:${ImageTag.managedBy}`, Values: [owner] }];
      for (const account of accountIds(accounts)) {
        for await (const page of paginateDescribeImages(
          { client: this.client, pageSize: PAGE_SIZE },
          { Owners: ['self'], ExecutableUsers: [account], Filters: ownership },
        )) {
          for (const image of (page.Images ?? []).map(toImage).filter(defined)) {
            images.set(image.id, image);
            launch.set(image.id, [...(launch.get(image.id) ?? []), account]);
          }
        }
        for await (const page of paginateDescribeSnapshots(
          { client: this.client, pageSize: PAGE_SIZE },
          { OwnerIds: ['self'], RestorableByUserIds: [account], Filters: ownership },
        )) {
          for (const snapshot of (page.Snapshots ?? []).map(toSnapshot).filter(defined)) {
            const entry = createVolume.get(snapshot.id) ?? { account: [] };
            const imageId = imageIdOfSnapshot(snapshot);
            createVolume.set(snapshot.id, {
              account: [...entry.account, account],
              ...(imageId === undefined ? {} : { imageId }),
            });
          }
        }
      }
      return {
        images: [...images.values()],
        launchAccounts: launch,
        createVolumeAccounts: new Map([...createVolume].map(([id, entry]) => [id, entry.account])),
        imagesOfSharedSnapshots: [...new Set([...createVolume.values()].flatMap((entry) => entry.imageId ?? []))],
      };
    });
  }

  /** The key of each of these snapshots that is encrypted (its ARN); unencrypted or gone ones are left out. */
  findSnapshotKeys(snapshotIds: readonly string[]): Promise<Map<string, string>> {
    return this.within(async () => {
      const keys = new Map<string, string>();
      for (const values of chunk(snapshotIds, FILTER_VALUES)) {
        for await (const page of paginateDescribeSnapshots(
          { client: this.client, pageSize: PAGE_SIZE },
          { OwnerIds: ['self'], Filters: [{ Name: 'snapshot-id', Values: [...values] }] },
        )) {
          for (const snapshot of page.Snapshots ?? []) {
            if (snapshot.SnapshotId !== undefined && snapshot.Encrypted === true && snapshot.KmsKeyId !== undefined) {
              keys.set(snapshot.SnapshotId, snapshot.KmsKeyId);
            }
          }
        }
      }
      return keys;
    });
  }

  /**
   * Shares an image with accounts: create-volume permission on each snapshot first, then launch permission on the
   * image, so that an account that can see the image can launch it. Only account ids: never the group `all`. False
   * when the image or one of its snapshots is gone (deregistered meanwhile, by a rotation): nothing left to share.
   */
  sharePermissions(change: PermissionChange): Promise<boolean> {
    return this.within(async () => {
      const users = accountIds(change.accounts);
      for (const snapshotId of change.snapshotIds) {
        const changed = await unlessGone(() =>
          this.client.send(
            new ModifySnapshotAttributeCommand({
              SnapshotId: snapshotId,
              Attribute: 'createVolumePermission',
              OperationType: 'add',
              UserIds: users,
            }),
          ),
        );
        if (!changed) return false;
      }
      return unlessGone(() =>
        this.client.send(
          new ModifyImageAttributeCommand({
            ImageId: change.imageId,
            LaunchPermission: { Add: users.map((UserId) => ({ UserId })) },
          }),
        ),
      );
    });
  }

  /**
   * Unshares an image from accounts: launch permission on the image first, then create-volume on its snapshots. An
   * image or snapshot already gone (another rotation deregistered it) is unshared already.
   */
  unsharePermissions(change: PermissionChange): Promise<void> {
    return this.within(async () => {
      const users = accountIds(change.accounts);
      await unlessGone(() =>
        this.client.send(
          new ModifyImageAttributeCommand({
            ImageId: change.imageId,
            LaunchPermission: { Remove: users.map((UserId) => ({ UserId })) },
          }),
        ),
      );
      for (const snapshotId of change.snapshotIds) {
        await unlessGone(() =>
          this.client.send(
            new ModifySnapshotAttributeCommand({
              SnapshotId: snapshotId,
              Attribute: 'createVolumePermission',
              OperationType: 'remove',
              UserIds: users,
            }),
          ),
        );
      }
    });
  }

  /**
   * Makes a batch call; when EC2 refuses the batch, what it refused is lost and no more. Throttling or a server fault
   * (after the SDK's retries) would fail any part alike: the batch fails. A refusal naming ids (a resource gone) fails
   * those ids and the call is repeated without them; any other refusal splits the batch in halves, down to the ids
   * EC2 refuses. Each repeat is made only if it can end within the invocation; what is left fails with the refusal.
   */
  private async eachOrAll(
    ids: readonly string[],
    failures: Map<string, string>,
    call: (ids: string[]) => Promise<unknown>,
  ): Promise<void> {
    try {
      await call([...ids]);
    } catch (error: unknown) {
      const reason = errorMessage(error);
      const named = new Set(refusedIds(error, ids));
      const parts =
        isTransient(error) || ids.length === 1
          ? []
          : named.size > 0
            ? [ids.filter((id) => !named.has(id))]
            : [ids.slice(0, Math.ceil(ids.length / 2)), ids.slice(Math.ceil(ids.length / 2))];
      for (const id of ids) failures.set(id, reason);
      for (const part of parts) {
        if (part.length === 0) continue;
        if (!this.hasTime()) {
          for (const id of part)
            failures.set(id, `${reason} (refused with others; no time left to retry without them)`);
          continue;
        }
        for (const id of part) failures.delete(id);
        await this.eachOrAll(part, failures, call);
      }
    }
  }
}
