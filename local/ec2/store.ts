import type { SimClock } from './clock';
import type { Durations } from './durations';
import {
  Ec2ApiError,
  idempotentParameterMismatch,
  incorrectInstanceState,
  invalidParameterValue,
  missingParameter,
} from './errors';
import { amiStateChangeEvent, type EventHub, type InstanceStateName, instanceStateChangeEvent } from './events';
import type { CopyFaults } from './faults';
import { compileFilters, filterCandidates } from './filters';
import {
  assertImageId,
  assertInstanceId,
  assertSnapshotId,
  imagesNotFound,
  instancesNotFound,
  newId,
  snapshotsNotFound,
  volumeNotFound,
} from './ids';
import { ebsManagedKeyId } from './kms';
import type { ImageDevice, ImageRecord, InstanceRecord, SnapshotRecord, StateReason, VolumeRecord } from './model';
import { type Page, type PageRequest, paginate } from './pagination';
import type { BlockDeviceMappingInput, Filter, PermissionChange, TagInput, TagSpecification } from './query';
import {
  type DeviceLayout,
  deviceLayout,
  IMAGE_FILTERS,
  INSTANCE_FILTERS,
  INSTANCE_STATUS_FILTERS,
  INSTANCE_STORE_AMI_ID,
  INSTANCE_STORE_ROOT_DEVICE_NAME,
  type InstanceStatus,
  instanceStatusAt,
  isDefined,
  type ListedInstanceStatus,
  MAX_USER_TAGS,
  nextStatusCheck,
  PUBLIC_AMI_IDS,
  ROOT_DEVICE_NAME,
  reservedTagKey,
  snapshotFilters,
  sortBySeq,
  tagLimitExceeded,
  tagMap,
  tagsBySpecification,
  unique,
  userInitiated,
  userTags,
  validateDescription,
  validateImageName,
  validateNewTags,
} from './rules';

export const DEPRECATION_HORIZON_YEARS = 10;

/**
 * Copies (CopyImage) in progress at once into one Region, beyond which EC2 refuses a new one with
 * `ResourceLimitExceeded` (the EC2 API's error codes: "you might have too many snapshot copies in progress").
 */
export const MAX_CONCURRENT_COPIES = 100;

/** The resource with this id, as a look-up for {@link filterCandidates}. */
function byId<T>(resources: ReadonlyMap<string, T>, id: string): T[] {
  const resource = resources.get(id);
  return resource === undefined ? [] : [resource];
}

/** What EC2 answers when an account acts on an image another account owns. */
const notAuthorizedForImage = (imageId: string): Ec2ApiError =>
  new Ec2ApiError('AuthFailure', `Not authorized for image:${imageId}`);

export interface StateChange {
  instanceId: string;
  previous: InstanceStateName;
  current: InstanceStateName;
}

export interface DeleteSnapshotResult {
  snapshotId: string;
  returnCode: 'success' | 'skipped' | 'missing-permissions';
}

export interface BackendOptions {
  clock: SimClock;
  durations: Durations;
  events: EventHub;
  account: string;
  region: string;
  /** An instance rebooted, stopped or terminated while one of its images is pending fails that image. */
  failImagesOnInterruption: boolean;
  /** Faults that make copies (CopyImage) into this Region fail or never complete. */
  copyFaults?: CopyFaults;
  /** The stores of the other accounts in this Region: where images shared with this account live. */
  otherAccounts?: () => Iterable<Ec2Backend>;
  /** Whether this account may use a KMS key (by ARN) to restore an encrypted snapshot; default: its own keys only. */
  mayUseKey?: (account: string, keyArn: string) => boolean;
  /** The ARN of the KMS key a key id, ARN or alias names for this account and Region, if KMS knows it. */
  findKmsKey?: (keyId: string) => string | undefined;
  /** A counter shared with the other accounts' stores of the Region (see {@link Ec2Backend.takeSeq}). */
  sequence?: { next: number };
}

/** A CopyImage request, served in the destination Region. */
export interface CopyImageRequest {
  sourceImageId: string;
  /** The store of the source's Region (`SourceRegion`): this one for a copy within the Region. */
  sourceBackend: Ec2Backend;
  name: string;
  description: string | undefined;
  clientToken: string | undefined;
  copyImageTags: boolean;
  encrypted: boolean | undefined;
  kmsKeyId: string | undefined;
  tagSpecifications: TagSpecification[];
  requestId: string;
}

/** What a pending image records when its instance is interrupted (AWS's state reason for it). */
const INTERRUPTED: StateReason = {
  code: 'Client.InstanceTerminated',
  message: 'The instance was rebooted, stopped or terminated while the image was being created',
};
/** What EC2 says of an instance whose encrypted volumes could not be restored (a KMS key it may not use). */
const CLIENT_ERROR_ON_LAUNCH: StateReason = {
  code: 'Client.InternalError',
  message: 'Client.InternalError: Client error on launch',
};
/** What an image or copy failed by a fault records, unless told otherwise. */
export const INJECTED_FAILURE: StateReason = { code: 'Server.InternalError', message: 'Internal error' };
/** The state reasons EC2 gives a stopped (or terminated) instance, by what the user asked for. */
const USER_SHUTDOWN: StateReason = {
  code: 'Client.UserInitiatedShutdown',
  message: 'Client.UserInitiatedShutdown: User initiated shutdown',
};
const USER_HIBERNATE: StateReason = {
  code: 'Client.UserInitiatedHibernate',
  message: 'Client.UserInitiatedHibernate: User initiated hibernate',
};

/**
 * A change that matters when judging what a client did: an image created, reaching a final state or deregistered, a
 * snapshot deleted, an instance rebooted (RebootInstances). Each carries the resource's tags at that moment (the
 * record may be gone later); `id` is the image's, snapshot's or instance's id.
 */
export interface AuditEntry {
  readonly at: number;
  /** The Region of the resource (every entry the endpoint records names it). */
  readonly region?: string;
  readonly kind:
    | 'image-created'
    | 'image-available'
    | 'image-failed'
    | 'image-deregistered'
    | 'snapshot-deleted'
    | 'instance-rebooted';
  readonly id: string;
  readonly tags: ReadonlyMap<string, string>;
  /** Images: the state before the change, and when the image was created. */
  readonly previousState?: string;
  readonly creationDate?: number;
  /** `image-deregistered`: the accounts with launch permission on it then (an image should be unshared first). */
  readonly launchAccounts?: readonly string[];
  /** `image-created`: the source instance, CreateImage's NoReboot (false when absent), the instance's state then. */
  readonly instanceId?: string;
  readonly noReboot?: boolean;
  readonly instanceState?: 'running' | 'stopped';
  /**
   * `image-created` with a reboot for the image (NoReboot false, instance running): when the OS shutdown began (the
   * call), and when the instance status check is planned to be `ok` again (the first check after the boot). Downtime
   * is `healthyAt - downAt`. With the unhealthy-after-image fault, `healthyAt` is absent and `impairedAt` says when the
   * check turns `impaired`. Planned at the call: a reboot, stop or terminate requested meanwhile changes what happens.
   */
  readonly downAt?: number;
  readonly healthyAt?: number;
  readonly impairedAt?: number;
}

/** The serialisable state of the backend. */
export interface BackendState {
  instances: InstanceRecord[];
  volumes: VolumeRecord[];
  images: ImageRecord[];
  snapshots: SnapshotRecord[];
  copyTokens: [string, string][];
  /** The other parameters each CopyImage client token came with, serialised (absent in older files). */
  copyTokenParameters?: [string, string][];
  /** RunInstances client tokens: the request's parameters and the reservation it made (absent in older files). */
  runTokens?: [string, RunTokenRecord][];
  nextSeq: number;
}

/** What a RunInstances client token stands for: the request it came with and the instances it launched. */
export interface RunTokenRecord {
  /** The request's other parameters, serialised: the same token with others is `IdempotentParameterMismatch`. */
  parameters: string;
  reservationId: string;
  instanceIds: string[];
}

/** A client token: up to 64 ASCII characters (EC2 API reference, "Ensuring idempotency"). */
const CLIENT_TOKEN = /^[\x20-\x7e]{1,64}$/;

function assertClientToken(token: string): void {
  if (!CLIENT_TOKEN.test(token)) throw invalidParameterValue('The client token must be 1–64 ASCII characters');
}

/**
 * EC2's resources and their rules: the in-memory model every API action works on. Methods validate all their input
 * before changing anything (EC2 calls are all-or-nothing), throw `Ec2ApiError`s, and schedule asynchronous changes on
 * the clock.
 */
export class Ec2Backend {
  readonly instances = new Map<string, InstanceRecord>();
  readonly volumes = new Map<string, VolumeRecord>();
  readonly images = new Map<string, ImageRecord>();
  readonly snapshots = new Map<string, SnapshotRecord>();
  /**
   * Every image listed (deregistered and shared ones too) per name: DescribeImages by name without a scan, and the
   * holder of a name for CreateImage's Duplicate check.
   */
  private readonly imagesByName = new Map<string, Set<ImageRecord>>();
  /** Registered images per snapshot: a snapshot backing one cannot be deleted. */
  private readonly snapshotUsers = new Map<string, Set<string>>();
  private readonly copyTokens = new Map<string, string>();
  private readonly copyTokenParameters = new Map<string, string>();
  /** Copies (CopyImage) still pending, which count against {@link MAX_CONCURRENT_COPIES}. */
  private readonly pendingCopies = new Set<ImageRecord>();
  private readonly runTokens = new Map<string, RunTokenRecord>();
  /** Instances launched with a client token, kept for its answer after they vanish (tokens outlive instances). */
  private readonly launchedWithToken = new Map<string, InstanceRecord>();
  private readonly unhealthyLaunches = new Map<string, { once: boolean }>();
  /** Pending images per source instance: what a reboot or stop interrupts, found without scanning every image. */
  private readonly pendingImagesOf = new Map<string, Set<ImageRecord>>();
  private readonly failImages = new Map<string, { once: boolean }>();
  private readonly unhealthyAfterImage = new Map<string, { once: boolean }>();
  /** New images stay out of DescribeImages this long (EC2's eventual consistency); 0 = at once. */
  private imageVisibilityDelayMs = 0;
  /** Changes recorded while auditing is on (see {@link AuditEntry}); undefined when off. */
  private auditLog: AuditEntry[] | undefined;
  /** Sequence numbers are shared by every account's store of a Region, so images listed across accounts page in order. */
  private readonly sequence: { next: number };

  constructor(private readonly options: BackendOptions) {
    this.sequence = options.sequence ?? { next: 1 };
  }

  private takeSeq(): number {
    return this.sequence.next++;
  }

  /** The account this store belongs to. */
  get account(): string {
    return this.options.account;
  }

  private get now(): number {
    return this.options.clock.nowMs();
  }

  private get durations(): Durations {
    return this.options.durations;
  }

  /** The Region this store serves. */
  get region(): string {
    return this.options.region;
  }

  /**
   * The ARN of the Region's AWS managed KMS key for EBS (`alias/aws/ebs`), what EBS encrypts with when no key is named:
   * a key id of its own per account and Region, the same at every start.
   */
  get defaultEbsKeyArn(): string {
    return `arn:aws:kms:${this.region}:${this.options.account}:key/${ebsManagedKeyId(this.options.account, this.region)}`;
  }

  // ---- fault injection ------------------------------------------------------------------------------------------

  failImagesOf(instanceId: string, options: { once?: boolean } = {}): void {
    this.failImages.set(instanceId, { once: options.once ?? false });
  }

  /**
   * After the next reboot for an image of the instance (CreateImage without NoReboot), or after every one, the instance
   * does not come back healthy: its instance status check turns `impaired` (reachability `failed`) where it would have
   * passed, until the instance is stopped and started. The image itself completes as usual.
   */
  unhealthyAfterImageOf(instanceId: string, options: { once?: boolean } = {}): void {
    this.unhealthyAfterImage.set(instanceId, { once: options.once ?? false });
  }

  /**
   * Instances launched from this image (the next one, or every one) fail their status checks: once initializing is
   * over, the instance status check is `impaired` (reachability `failed`) instead of `ok`, until a stop and start.
   */
  unhealthyLaunchesFrom(imageId: string, options: { once?: boolean } = {}): void {
    this.unhealthyLaunches.set(imageId, { once: options.once ?? false });
  }

  /** Keeps images out of DescribeImages for `ms` after their creation, as EC2 may right after CreateImage. */
  hideNewImages(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`delay must be ≥ 0 ms, got ${ms}`);
    this.imageVisibilityDelayMs = ms;
  }

  /**
   * An available image of another account, shared with this one: listed by DescribeImages unless only this account's
   * images are asked for; its name does not clash with this account's; this account can neither tag nor deregister it.
   */
  shareImage(input: { ownerId: string; name: string; tags: ReadonlyMap<string, string> }): ImageRecord {
    const image: ImageRecord = {
      id: newId('ami'),
      seq: this.takeSeq(),
      name: input.name,
      description: undefined,
      state: 'available',
      creationDate: this.now,
      sourceInstanceId: undefined,
      sourceImageId: undefined,
      rootDeviceName: ROOT_DEVICE_NAME,
      devices: [],
      tags: new Map(input.tags),
      requestId: newId('r'),
      ownerId: input.ownerId,
    };
    this.addImage(image);
    return image;
  }

  /**
   * Starts recording {@link AuditEntry}s (from now on) into `log` (a new one by default: several Regions' stores can
   * share one) and returns the log, which grows as changes happen.
   */
  startAudit(log: AuditEntry[] = []): readonly AuditEntry[] {
    this.auditLog ??= log;
    return this.auditLog;
  }

  private record(entry: Omit<AuditEntry, 'at' | 'tags' | 'region'>, tags: ReadonlyMap<string, string>): void {
    this.auditLog?.push({ at: this.now, region: this.region, tags: new Map(tags), ...entry });
  }

  // ---- instances ------------------------------------------------------------------------------------------------

  runInstances(input: {
    imageId: string;
    instanceType: string;
    minCount: number;
    maxCount: number;
    tagSpecifications: TagSpecification[];
    blockDeviceMappings: BlockDeviceMappingInput[];
    hibernationConfigured?: boolean;
    /** The subnet (top-level `SubnetId`, or the primary network interface's); recorded, any id is accepted. */
    subnetId?: string;
    securityGroupIds?: string[];
    /** The primary network interface's `AssociatePublicIpAddress`; recorded (no instance here has a public address). */
    associatePublicIpAddress?: boolean;
    clientToken?: string;
  }): { reservationId: string; instances: InstanceRecord[] } {
    assertImageId(input.imageId);
    if (input.clientToken !== undefined) {
      assertClientToken(input.clientToken);
      const { clientToken, ...rest } = input;
      const parameters = JSON.stringify(rest);
      const earlier = this.runTokens.get(clientToken);
      if (earlier !== undefined) {
        // The same answer as the first time; only the instances' states may differ (EC2 API reference).
        if (earlier.parameters !== parameters) throw idempotentParameterMismatch();
        const instances = earlier.instanceIds.map((id) => this.launchedWithToken.get(id)).filter(isDefined);
        return { reservationId: earlier.reservationId, instances };
      }
      const launched = this.launch(input);
      for (const instance of launched.instances) {
        instance.clientToken = clientToken;
        this.launchedWithToken.set(instance.id, instance);
      }
      this.runTokens.set(clientToken, {
        parameters,
        reservationId: launched.reservationId,
        instanceIds: launched.instances.map((instance) => instance.id),
      });
      return launched;
    }
    return this.launch(input);
  }

  /**
   * The AMI a launch uses: one of the public base AMIs the endpoint knows without registering them (any instance-store
   * or EBS-backed launch of earlier tests), or an image in the store, which must be available. Launching from an image
   * that is pending or failed is refused as EC2 refuses an unavailable AMI (code unverified).
   */
  private launchImage(imageId: string): ImageRecord | undefined {
    if (PUBLIC_AMI_IDS.has(imageId)) return undefined;
    // Another account's image only while it is shared with this one (or public): else EC2 does not know it here.
    const image = this.images.get(imageId) ?? this.sharedImage(imageId);
    if (image === undefined || image.state === 'deregistered') throw imagesNotFound([imageId]);
    if (image.state !== 'available') {
      throw new Ec2ApiError(
        'InvalidAMIID.Unavailable',
        `The image id '[${imageId}]' is not available (${image.state})`,
      );
    }
    return image;
  }

  private launch(input: {
    imageId: string;
    instanceType: string;
    minCount: number;
    maxCount: number;
    tagSpecifications: TagSpecification[];
    blockDeviceMappings: BlockDeviceMappingInput[];
    hibernationConfigured?: boolean;
    subnetId?: string;
    securityGroupIds?: string[];
    associatePublicIpAddress?: boolean;
  }): { reservationId: string; instances: InstanceRecord[] } {
    if (input.minCount < 1 || input.maxCount < input.minCount) {
      throw invalidParameterValue(`MinCount (${input.minCount}) must be ≥ 1 and ≤ MaxCount (${input.maxCount})`);
    }
    const image = this.launchImage(input.imageId);
    const instanceStore = input.imageId === INSTANCE_STORE_AMI_ID;
    const hibernationConfigured = input.hibernationConfigured ?? false;
    if (instanceStore && input.blockDeviceMappings.length > 0) {
      // The message is EC2's (quoted in public issues); its code is not (unverified).
      throw new Ec2ApiError(
        'InvalidParameterCombination',
        'EBS block device mappings not supported for instance-store AMIs.',
      );
    }
    if (instanceStore && hibernationConfigured) {
      // Hibernation needs an EBS root volume (User Guide, hibernation prerequisites); code and message unverified.
      throw new Ec2ApiError(
        'UnsupportedHibernationConfiguration',
        'Hibernation is not supported for instance store-backed AMIs.',
      );
    }
    const tagsByType = tagsBySpecification(input.tagSpecifications, ['instance', 'volume']);
    const instanceTags = tagsByType.get('instance') ?? [];
    const volumeTags = tagsByType.get('volume') ?? [];
    validateNewTags(instanceTags);
    validateNewTags(volumeTags);
    // An image's own block devices make the volumes of the instances launched from it (its snapshots restored).
    const devices: DeviceLayout[] =
      image !== undefined
        ? image.devices.map((device) => ({
            deviceName: device.deviceName,
            size: device.volumeSize,
            type: device.volumeType,
            deleteOnTermination: device.deleteOnTermination,
            ...(device.encrypted === true
              ? { encrypted: true, kmsKeyId: device.kmsKeyId ?? this.defaultEbsKeyArn }
              : {}),
          }))
        : instanceStore
          ? []
          : deviceLayout(input.blockDeviceMappings).map((device) => this.launchEncryption(device));
    // EBS restores each encrypted volume with its key on the launching account's behalf: a key it may not use fails
    // the launch after the call, the instance going from pending to terminated (AWS knowledge center, "client error
    // on launch").
    const mayUseKey = this.options.mayUseKey ?? ((account, keyArn) => keyArn.split(':')[4] === account);
    const unusableKey = devices.some(
      (device) => device.kmsKeyId !== undefined && !mayUseKey(this.options.account, device.kmsKeyId),
    );
    const unhealthy = this.unhealthyLaunches.get(input.imageId);
    if (unhealthy?.once) this.unhealthyLaunches.delete(input.imageId);
    const reservationId = newId('r');
    const now = this.now;
    const instances: InstanceRecord[] = [];
    for (let index = 0; index < input.maxCount; index++) {
      const instanceId = newId('i');
      const volumeIds = devices.map((device) => {
        const volume: VolumeRecord = {
          id: newId('vol'),
          seq: this.takeSeq(),
          size: device.size,
          volumeType: device.type,
          instanceId,
          deviceName: device.deviceName,
          deleteOnTermination: device.deleteOnTermination,
          createTime: now,
          tags: tagMap(volumeTags),
          ...(device.kmsKeyId === undefined ? {} : { encrypted: true, kmsKeyId: device.kmsKeyId }),
        };
        this.volumes.set(volume.id, volume);
        return volume.id;
      });
      const statusReadyAt = now + this.durations.instancePending + this.durations.statusInitializing;
      const instance: InstanceRecord = {
        id: instanceId,
        seq: this.takeSeq(),
        reservationId,
        imageId: input.imageId,
        instanceType: input.instanceType,
        state: 'pending',
        stateTransitionReason: '',
        launchTime: now,
        availabilityZone: `${this.options.region}a`,
        rootDeviceType: instanceStore ? 'instance-store' : 'ebs',
        rootDeviceName: instanceStore ? INSTANCE_STORE_ROOT_DEVICE_NAME : (image?.rootDeviceName ?? ROOT_DEVICE_NAME),
        volumeIds,
        tags: tagMap(instanceTags),
        hibernationConfigured,
        statusReadyAt,
        ...(input.subnetId === undefined ? {} : { subnetId: input.subnetId }),
        ...(input.securityGroupIds === undefined || input.securityGroupIds.length === 0
          ? {}
          : { securityGroupIds: [...input.securityGroupIds] }),
        ...(input.associatePublicIpAddress === undefined
          ? {}
          : { associatePublicIpAddress: input.associatePublicIpAddress }),
        ...(unhealthy === undefined ? {} : { impairedFrom: statusReadyAt }),
        ...(unusableKey ? { launchFailure: CLIENT_ERROR_ON_LAUNCH } : {}),
      };
      this.instances.set(instanceId, instance);
      instances.push(instance);
      this.changeInstanceState(instance, 'pending', this.durations.instancePending);
    }
    return { reservationId, instances };
  }

  describeInstances(ids: string[], filters: Filter[], page: PageRequest): Page<InstanceRecord> {
    const wanted = this.lookupInstances(ids);
    const matches = compileFilters(filters, INSTANCE_FILTERS);
    const candidates = wanted ?? filterCandidates(filters, { 'instance-id': (id) => byId(this.instances, id) });
    return paginate(candidates ?? this.instances.values(), matches, page);
  }

  describeInstanceStatus(
    ids: string[],
    includeAllInstances: boolean,
    filters: Filter[],
    page: PageRequest,
  ): Page<InstanceStatus> {
    if (ids.length > 100) throw invalidParameterValue('The maximum number of instance IDs in one request is 100');
    const wanted = this.lookupInstances(ids);
    const now = this.now;
    const matches = compileFilters(filters, INSTANCE_STATUS_FILTERS);
    const statuses = function* (instances: Iterable<InstanceRecord>): Iterable<ListedInstanceStatus> {
      for (const instance of instances) {
        if (!includeAllInstances && instance.state !== 'running') continue;
        yield { seq: instance.seq, tags: instance.tags, ...instanceStatusAt(instance, now) };
      }
    };
    return paginate(statuses(wanted ?? this.instances.values()), (status) => matches(status), page);
  }

  rebootInstances(ids: string[]): void {
    const instances = this.requireInstances(ids);
    for (const instance of instances) {
      if (instance.state === 'pending' || instance.state === 'stopping' || instance.state === 'stopped') {
        throw incorrectInstanceState(`The instance '${instance.id}' is not in a state from which it can be rebooted.`);
      }
    }
    for (const instance of instances) {
      if (instance.state !== 'running') continue; // requests for terminated instances are ignored
      this.record({ kind: 'instance-rebooted', id: instance.id }, instance.tags);
      this.interruptImagesOf(instance.id);
      const from = this.now + this.durations.rebootDelay;
      this.openRebootWindow(instance, from, from + this.durations.rebootWindow);
    }
  }

  /** StopInstances; `hibernate` only for instances launched with hibernation configured (else EC2's error). */
  stopInstances(ids: string[], hibernate = false): StateChange[] {
    const instances = this.requireInstances(ids);
    for (const instance of instances) {
      if (instance.rootDeviceType === 'instance-store') {
        throw new Ec2ApiError(
          'UnsupportedOperation',
          `The instance '${instance.id}' does not have an 'ebs' root device type and cannot be stopped.`,
        );
      }
      if (hibernate && !instance.hibernationConfigured) {
        throw new Ec2ApiError(
          'UnsupportedHibernationConfiguration',
          `The instance can't be hibernated because it was not configured at launch for hibernation: ${instance.id}`,
        );
      }
      if (instance.state === 'pending') {
        throw incorrectInstanceState(
          `The instance '${instance.id}' cannot be stopped as it has never reached the 'running' state.`,
        );
      }
      if (instance.state === 'shutting-down' || instance.state === 'terminated') {
        throw incorrectInstanceState(`The instance '${instance.id}' is not in a state from which it can be stopped.`);
      }
    }
    return instances.map((instance) => {
      const previous = instance.state;
      if (previous === 'running') {
        this.interruptImagesOf(instance.id);
        instance.stateTransitionReason = userInitiated(this.now);
        instance.stateReason = hibernate ? USER_HIBERNATE : USER_SHUTDOWN;
        this.changeInstanceState(instance, 'stopping', this.durations.instanceStopping);
      }
      return { instanceId: instance.id, previous, current: instance.state };
    });
  }

  startInstances(ids: string[]): StateChange[] {
    const instances = this.requireInstances(ids);
    for (const instance of instances) {
      if (instance.state !== 'stopped' && instance.state !== 'running' && instance.state !== 'pending') {
        throw incorrectInstanceState(`The instance '${instance.id}' is not in a state from which it can be started.`);
      }
    }
    return instances.map((instance) => {
      const previous = instance.state;
      if (previous === 'stopped') {
        instance.stateTransitionReason = '';
        instance.statusReadyAt = this.now + this.durations.instancePending + this.durations.statusInitializing;
        delete instance.stateReason;
        delete instance.rebootFrom;
        delete instance.rebootUntil;
        delete instance.impairedFrom; // a stop and start moves the instance to healthy hardware
        this.changeInstanceState(instance, 'pending', this.durations.instancePending);
      }
      return { instanceId: instance.id, previous, current: instance.state };
    });
  }

  terminateInstances(ids: string[]): StateChange[] {
    const instances = this.requireInstances(ids);
    return instances.map((instance) => {
      const previous = instance.state;
      if (previous !== 'terminated' && previous !== 'shutting-down') {
        this.interruptImagesOf(instance.id);
        instance.stateTransitionReason = userInitiated(this.now);
        instance.stateReason = USER_SHUTDOWN;
        this.changeInstanceState(instance, 'shutting-down', this.durations.instanceShuttingDown);
      }
      return { instanceId: instance.id, previous, current: instance.state };
    });
  }

  // ---- images ---------------------------------------------------------------------------------------------------

  createImage(input: {
    instanceId: string;
    name: string;
    description: string | undefined;
    noReboot: boolean;
    tagSpecifications: TagSpecification[];
    requestId: string;
  }): ImageRecord {
    assertInstanceId(input.instanceId);
    const [instance] = this.requireInstances([input.instanceId]);
    if (instance === undefined) throw instancesNotFound([input.instanceId]);
    validateImageName(input.name);
    validateDescription(input.description);
    const tagsByType = tagsBySpecification(input.tagSpecifications, ['image', 'snapshot']);
    const imageTags = tagsByType.get('image') ?? [];
    const snapshotTags = tagsByType.get('snapshot') ?? [];
    validateNewTags(imageTags);
    validateNewTags(snapshotTags);
    if (instance.rootDeviceType === 'instance-store') {
      // Unverified for CreateImage: AWS sends this code and message when starting an instance without a root volume,
      // and an EC2-compatible implementation answers CreateImage on a non-EBS-backed instance with exactly it.
      throw invalidParameterValue(
        `Invalid value '${instance.id}' for instanceId. Instance does not have a volume attached at root (${instance.rootDeviceName})`,
      );
    }
    if (instance.state !== 'running' && instance.state !== 'stopped') {
      throw incorrectInstanceState(`The instance '${instance.id}' is not in a state from which it can be imaged.`);
    }
    this.assertNameFree(input.name);
    const volumes = instance.volumeIds.map((volumeId) => this.volumes.get(volumeId)).filter(isDefined);
    const totalGiB = volumes.reduce((sum, volume) => sum + volume.size, 0);
    const now = this.now;
    const instanceState = instance.state;
    // Without NoReboot, EC2 shuts a running instance down cleanly and snapshots its volumes at rest, then boots it.
    const reboot = !input.noReboot && instanceState === 'running';
    const snapshotsAt = reboot ? now + this.durations.imageShutdown : now;
    const completeAt = Math.max(snapshotsAt, now + this.durations.imageBase + this.durations.imagePerGiB * totalGiB);
    const imageId = newId('ami');
    const devices = volumes.map((volume) => {
      // A snapshot of an encrypted volume is encrypted with the volume's key.
      const encryption = volume.kmsKeyId === undefined ? {} : { encrypted: true, kmsKeyId: volume.kmsKeyId };
      const snapshot = this.addSnapshot({
        volumeId: volume.id,
        volumeSize: volume.size,
        description: `Created by CreateImage(${instance.id}) for ${imageId}`,
        startTime: snapshotsAt,
        completeAt,
        tags: tagMap(snapshotTags),
        ...encryption,
      });
      return {
        deviceName: volume.deviceName,
        snapshotId: snapshot.id,
        volumeSize: volume.size,
        volumeType: volume.volumeType,
        deleteOnTermination: volume.deleteOnTermination,
        ...encryption,
      };
    });
    const injected = this.failImages.get(instance.id);
    if (injected?.once) this.failImages.delete(instance.id);
    const image = this.registerImage({
      id: imageId,
      name: input.name,
      description: input.description,
      sourceInstanceId: instance.id,
      sourceImageId: undefined,
      devices,
      tags: tagMap(imageTags),
      requestId: input.requestId,
      completeAt,
      failure: injected === undefined ? undefined : INJECTED_FAILURE,
    });
    // The reboot for the image is a window of its own (which does not interrupt the image it is for): the instance
    // status check is `initializing` from the shutdown until the first check after the boot.
    let phases: { downAt?: number; healthyAt?: number; impairedAt?: number } = {};
    if (reboot) {
      const bootedAt = snapshotsAt + this.durations.imageBoot;
      const checkAt = nextStatusCheck(instance, bootedAt, this.durations.statusCheckInterval);
      this.openRebootWindow(instance, now, checkAt);
      const unhealthy = this.unhealthyAfterImage.get(instance.id);
      if (unhealthy?.once) this.unhealthyAfterImage.delete(instance.id);
      if (unhealthy === undefined) {
        phases = { downAt: now, healthyAt: checkAt };
      } else {
        instance.impairedFrom = Math.min(instance.impairedFrom ?? checkAt, checkAt);
        phases = { downAt: now, impairedAt: checkAt };
      }
    }
    this.record(
      {
        kind: 'image-created',
        id: image.id,
        creationDate: image.creationDate,
        instanceId: instance.id,
        noReboot: input.noReboot,
        instanceState,
        ...phases,
      },
      image.tags,
    );
    return image;
  }

  /**
   * CopyImage in this (the destination) Region: the source must be an available image of its Region; the copy is
   * pending, with new snapshots here, until its snapshots are copied (longer across Regions), then available.
   */
  copyImage(input: CopyImageRequest): ImageRecord {
    const { clientToken, requestId, sourceBackend, tagSpecifications, ...request } = input;
    // The same token with other parameters is refused, as for every idempotent EC2 call (EC2 API reference).
    const parameters = JSON.stringify({ ...request, tagSpecifications, sourceRegion: sourceBackend.region });
    if (clientToken !== undefined) {
      assertClientToken(clientToken);
      const copied = this.copyTokens.get(clientToken);
      const image = copied === undefined ? undefined : this.images.get(copied);
      if (image !== undefined) {
        const earlier = this.copyTokenParameters.get(clientToken);
        if (earlier !== undefined && earlier !== parameters) throw idempotentParameterMismatch();
        return image;
      }
    }
    assertImageId(input.sourceImageId);
    const source = sourceBackend.images.get(input.sourceImageId);
    if (source === undefined || source.state === 'deregistered') throw imagesNotFound([input.sourceImageId]);
    validateImageName(input.name);
    validateDescription(input.description);
    const tagsByType = tagsBySpecification(tagSpecifications, ['image', 'snapshot']);
    const imageTags = tagsByType.get('image') ?? [];
    const snapshotTags = tagsByType.get('snapshot') ?? [];
    validateNewTags(imageTags);
    validateNewTags(snapshotTags);
    if (input.kmsKeyId !== undefined && input.encrypted !== true) {
      // CopyImage reference: "If you specify a KMS key, you must also set the encrypted state to true" (code and
      // message as EBS answers CreateVolume with a key and no encryption; unverified for CopyImage).
      throw new Ec2ApiError(
        'InvalidParameterDependency',
        'The parameter KmsKeyId requires the parameter Encrypted to be set.',
      );
    }
    if (source.state !== 'available') {
      throw new Ec2ApiError(
        'IncorrectState',
        `Image ${source.id} is not in a state that can be copied: ${source.state}`,
      );
    }
    this.assertNameFree(input.name);
    const copiedTags = input.copyImageTags ? userTags(source.tags) : new Map<string, string>();
    for (const [key, value] of tagMap(imageTags)) copiedTags.set(key, value);
    if (copiedTags.size > MAX_USER_TAGS) throw tagLimitExceeded();
    if (this.pendingCopies.size >= MAX_CONCURRENT_COPIES) {
      throw new Ec2ApiError(
        'ResourceLimitExceeded',
        `You have reached the maximum number of concurrent AMI copies (${MAX_CONCURRENT_COPIES}) in ${this.region}.`,
      );
    }
    const crossRegion = sourceBackend !== this;
    const totalGiB = source.devices.reduce((sum, device) => sum + device.volumeSize, 0);
    const copyTime = crossRegion
      ? this.durations.regionCopyBase + this.durations.regionCopyPerGiB * totalGiB
      : this.durations.imageBase + this.durations.imagePerGiB * totalGiB;
    const completeAt = this.now + copyTime;
    const requestedKey = input.kmsKeyId === undefined ? undefined : this.kmsKeyArn(input.kmsKeyId);
    const imageId = newId('ami');
    const devices = source.devices.map((device) => {
      const encryption = this.copyEncryption(device, input.encrypted === true, requestedKey, crossRegion);
      const snapshot = this.addSnapshot({
        volumeId: 'vol-ffffffff', // EC2 gives copied snapshots this placeholder volume id
        volumeSize: device.volumeSize,
        description: `Copied for DestinationAmi ${imageId} from SourceAmi ${source.id} for SourceSnapshot ${device.snapshotId}`,
        completeAt,
        tags: tagMap(snapshotTags),
        ...encryption,
      });
      return { ...device, snapshotId: snapshot.id, ...encryption };
    });
    const fault = this.options.copyFaults?.take(source.id, this.region);
    const image = this.registerImage({
      id: imageId,
      name: input.name,
      description: input.description ?? source.description,
      sourceInstanceId: undefined,
      sourceImageId: source.id,
      sourceImageRegion: sourceBackend.region,
      devices,
      tags: copiedTags,
      requestId,
      // A stalled copy never reaches its end.
      completeAt: fault?.kind === 'stall' ? undefined : completeAt,
      failure: fault?.kind === 'fail' ? { ...fault.reason } : undefined,
    });
    this.pendingCopies.add(image);
    if (clientToken !== undefined) {
      this.copyTokens.set(clientToken, image.id);
      this.copyTokenParameters.set(clientToken, parameters);
    }
    return image;
  }

  /**
   * A KMS key as CopyImage and RunInstances take it (key id, key ARN, alias or alias ARN), as the ARN the snapshots
   * report: the key KMS knows by that name, else (a key unknown to KMS) the name made an ARN.
   */
  kmsKeyArn(keyId: string): string {
    const known = this.options.findKmsKey?.(keyId);
    if (known !== undefined) return known;
    if (keyId.startsWith('arn:')) return keyId;
    if (keyId === 'alias/aws/ebs') return this.defaultEbsKeyArn;
    const resource = keyId.startsWith('alias/') ? keyId : `key/${keyId}`;
    return `arn:aws:kms:${this.region}:${this.options.account}:${resource}`;
  }

  /**
   * A new volume's encryption at launch (`Ebs.Encrypted`, `Ebs.KmsKeyId`): the key named, else the Region's default
   * EBS key; a key without `Encrypted` is refused as CopyImage refuses it.
   */
  private launchEncryption(device: DeviceLayout): DeviceLayout {
    const { encrypted, kmsKeyId, ...plain } = device;
    if (kmsKeyId !== undefined && encrypted !== true) {
      throw new Ec2ApiError(
        'InvalidParameterDependency',
        'The parameter KmsKeyId requires the parameter Encrypted to be set.',
      );
    }
    if (encrypted !== true) return plain;
    return {
      ...plain,
      encrypted: true,
      kmsKeyId: kmsKeyId === undefined ? this.defaultEbsKeyArn : this.kmsKeyArn(kmsKeyId),
    };
  }

  /**
   * How a copy of one of the source's snapshots is encrypted: with the key asked for; else an encrypted snapshot keeps
   * its key within its Region and takes the destination's default EBS key across Regions (KMS keys are regional); an
   * unencrypted one is encrypted with the default EBS key only when asked to (CopyImage's `Encrypted`: "you cannot
   * create an unencrypted copy of an encrypted snapshot").
   */
  private copyEncryption(
    device: ImageDevice,
    encrypt: boolean,
    requestedKey: string | undefined,
    crossRegion: boolean,
  ): { encrypted: boolean; kmsKeyId?: string } {
    if (requestedKey !== undefined) return { encrypted: true, kmsKeyId: requestedKey };
    if (device.encrypted === true) {
      const kept = crossRegion ? undefined : device.kmsKeyId;
      return { encrypted: true, kmsKeyId: kept ?? this.defaultEbsKeyArn };
    }
    return encrypt ? { encrypted: true, kmsKeyId: this.defaultEbsKeyArn } : { encrypted: false };
  }

  /**
   * DescribeImages: this account's images and those other accounts share with it (or with everyone). `owners` keeps
   * those of the accounts named (`self` is this one); `executableBy` those with explicit launch permissions for the
   * accounts named: `self` (or this account's id) the images shared with this account, another account's id this
   * account's images shared with it, `all` the public ones.
   */
  describeImages(
    ids: string[],
    owners: string[],
    filters: Filter[],
    page: PageRequest,
    executableBy: string[] = [],
  ): Page<ImageRecord> {
    for (const id of ids) assertImageId(id);
    const matches = compileFilters(filters, IMAGE_FILTERS);
    const account = this.options.account;
    const ownerOf = (image: ImageRecord): string => this.ownerOf(image);
    const wantedOwner = (image: ImageRecord): boolean =>
      owners.length === 0 || owners.some((owner) => (owner === 'self' ? account : owner) === ownerOf(image));
    const executable = (image: ImageRecord): boolean =>
      executableBy.length === 0 ||
      executableBy.some((user) => {
        if (user === 'all') return image.launchPublic === true;
        if (user === 'self' || user === account) return ownerOf(image) !== account;
        return ownerOf(image) === account && (image.launchUserIds ?? []).includes(user);
      });
    const visibleSince = this.now - this.imageVisibilityDelayMs;
    const visible = (image: ImageRecord | undefined): image is ImageRecord =>
      image !== undefined &&
      wantedOwner(image) &&
      executable(image) &&
      (this.imageVisibilityDelayMs === 0 || image.creationDate <= visibleSince);
    const shared = this.sharedImages();
    const lookUp = (id: string): ImageRecord | undefined => this.images.get(id) ?? shared.get(id);
    if (ids.length > 0) {
      const missing = ids.filter((id) => !visible(lookUp(id)));
      if (missing.length > 0) throw imagesNotFound(missing);
    }
    const wanted = ids.length > 0 ? sortBySeq(unique(ids).map(lookUp).filter(isDefined)) : undefined;
    const candidates =
      wanted ??
      filterCandidates(filters, {
        'image-id': (id) => [lookUp(id)].filter(isDefined),
        name: (name) => [
          ...(this.imagesByName.get(name) ?? []),
          ...[...shared.values()].filter((i) => i.name === name),
        ],
      });
    // Shared images interleave with this account's by their sequence numbers (shared across a Region's accounts).
    const all = shared.size === 0 ? this.images.values() : sortBySeq([...this.images.values(), ...shared.values()]);
    return paginate(candidates ?? all, (image) => visible(image) && matches(image), page);
  }

  /** The account that owns an image this account can see. */
  ownerOf(image: ImageRecord): string {
    if (this.images.get(image.id) === image) return image.ownerId ?? this.options.account;
    for (const other of this.options.otherAccounts?.() ?? []) {
      if (other.images.get(image.id) === image) return other.account;
    }
    return this.options.account;
  }

  /** Whether an image of this account may be launched by another account (shared with it, or public). */
  launchableBy(image: ImageRecord, account: string): boolean {
    return (
      image.ownerId === undefined && (image.launchPublic === true || (image.launchUserIds ?? []).includes(account))
    );
  }

  /** Other accounts' images this account may launch, by id. */
  private sharedImages(): Map<string, ImageRecord> {
    const shared = new Map<string, ImageRecord>();
    for (const other of this.options.otherAccounts?.() ?? []) {
      for (const image of other.images.values()) {
        if (image.state !== 'deregistered' && other.launchableBy(image, this.options.account)) {
          shared.set(image.id, image);
        }
      }
    }
    return shared;
  }

  /** Another account's image this account may launch (shared with it, or public), by id. */
  sharedImage(imageId: string): ImageRecord | undefined {
    for (const other of this.options.otherAccounts?.() ?? []) {
      const image = other.images.get(imageId);
      if (image !== undefined && other.launchableBy(image, this.options.account)) return image;
    }
    return undefined;
  }

  /** This account's own image (registered), else EC2's errors: unknown, or another account's (`AuthFailure`). */
  private ownImage(imageId: string): ImageRecord {
    assertImageId(imageId);
    const image = this.images.get(imageId);
    if (image === undefined || image.state === 'deregistered') {
      if (this.sharedImage(imageId) !== undefined) throw notAuthorizedForImage(imageId);
      throw imagesNotFound([imageId]);
    }
    if (image.ownerId !== undefined) throw notAuthorizedForImage(imageId);
    return image;
  }

  /**
   * ModifyImageAttribute: launch permissions (accounts, or `all` for the public) or the description. EC2 itself
   * allows public sharing; only an account's block public access, or IAM, keeps it from happening.
   */
  modifyImageAttribute(
    imageId: string,
    input: { attribute: string | undefined; permissions: PermissionChange; description: string | undefined },
  ): void {
    const image = this.ownImage(imageId);
    const { permissions } = input;
    const changesPermissions =
      permissions.addUserIds.length +
        permissions.addGroups.length +
        permissions.removeUserIds.length +
        permissions.removeGroups.length >
      0;
    const attribute =
      input.attribute ??
      (changesPermissions ? 'launchPermission' : input.description !== undefined ? 'description' : undefined);
    if (attribute === 'description') {
      validateDescription(input.description);
      image.description = input.description;
      return;
    }
    if (attribute !== 'launchPermission') {
      throw invalidParameterValue(`Value (${attribute ?? ''}) for parameter attribute is invalid. Unknown attribute.`);
    }
    if (!changesPermissions) throw missingParameter('LaunchPermission');
    const shared = applyPermissionChange(
      { userIds: image.launchUserIds ?? [], isPublic: image.launchPublic === true },
      permissions,
      this.options.account,
    );
    image.launchUserIds = shared.userIds;
    image.launchPublic = shared.isPublic;
  }

  /** DescribeImageAttribute: `launchPermission` or `description` of an image of this account. */
  imageAttribute(imageId: string, attribute: string): { launchPermissions?: Permissions; description?: string } {
    const image = this.ownImage(imageId);
    if (attribute === 'launchPermission') {
      return { launchPermissions: { userIds: image.launchUserIds ?? [], isPublic: image.launchPublic === true } };
    }
    if (attribute === 'description') return { description: image.description ?? '' };
    throw invalidParameterValue(`Value (${attribute}) for parameter attribute is invalid. Unknown attribute.`);
  }

  /** `deniedSnapshotDeletions`: snapshots the caller may not delete (kept, ReturnCode `missing-permissions`). */
  deregisterImage(
    imageId: string,
    deleteAssociatedSnapshots: boolean,
    deniedSnapshotDeletions: ReadonlySet<string> = new Set(),
  ): DeleteSnapshotResult[] {
    assertImageId(imageId);
    const image = this.images.get(imageId);
    if (image === undefined) throw imagesNotFound([imageId]);
    if (image.ownerId !== undefined) throw notAuthorizedForImage(imageId);
    if (image.state === 'deregistered') {
      throw new Ec2ApiError('InvalidAMIID.Unavailable', `The image ID '${imageId}' is no longer available`);
    }
    if (image.state === 'pending') {
      this.pendingImagesOf.get(image.sourceInstanceId ?? '')?.delete(image);
      this.pendingCopies.delete(image);
      // The snapshots of a pending image carry on without it.
      for (const device of image.devices) {
        const snapshot = this.snapshots.get(device.snapshotId);
        if (snapshot?.state === 'pending') this.scheduleSnapshotCompletion(snapshot);
      }
    }
    this.record(
      {
        kind: 'image-deregistered',
        id: image.id,
        previousState: image.state,
        creationDate: image.creationDate,
        launchAccounts: [...(image.launchUserIds ?? [])],
      },
      image.tags,
    );
    image.state = 'deregistered';
    delete image.failure;
    for (const device of image.devices) this.snapshotUsers.get(device.snapshotId)?.delete(image.id);
    this.scheduleImageTransition(image, this.now + this.durations.deregisteredVisible);
    this.emitAmiState(image, '');
    if (!deleteAssociatedSnapshots) return [];
    return image.devices.map(({ snapshotId }) => {
      if ((this.snapshotUsers.get(snapshotId)?.size ?? 0) > 0 || !this.snapshots.has(snapshotId)) {
        return { snapshotId, returnCode: 'skipped' };
      }
      if (deniedSnapshotDeletions.has(snapshotId)) return { snapshotId, returnCode: 'missing-permissions' };
      this.removeSnapshot(snapshotId);
      return { snapshotId, returnCode: 'success' };
    });
  }

  enableImageDeprecation(imageId: string, deprecateAt: Date): void {
    assertImageId(imageId);
    const image = this.images.get(imageId);
    if (image === undefined || image.state === 'deregistered') throw imagesNotFound([imageId]);
    if (Number.isNaN(deprecateAt.getTime())) throw invalidParameterValue('DeprecateAt is not a valid date');
    // EC2 rounds to the nearest minute.
    const rounded = Math.round(deprecateAt.getTime() / 60_000) * 60_000;
    const now = this.now;
    if (rounded < now) throw invalidParameterValue('The deprecation time cannot be in the past.');
    const horizon = new Date(now);
    horizon.setUTCFullYear(horizon.getUTCFullYear() + DEPRECATION_HORIZON_YEARS);
    if (rounded > horizon.getTime()) {
      throw invalidParameterValue(`The deprecation time cannot be more than ${DEPRECATION_HORIZON_YEARS} years ahead.`);
    }
    image.deprecationTime = new Date(rounded).toISOString();
  }

  // ---- snapshots ------------------------------------------------------------------------------------------------

  /**
   * DescribeSnapshots: this account's snapshots. `restorableBy` keeps those the accounts named have explicit
   * create-volume permission for (`all`: the public ones; `self` or this account: all of its own).
   */
  describeSnapshots(
    ids: string[],
    owners: string[],
    filters: Filter[],
    page: PageRequest,
    restorableBy: string[] = [],
  ): Page<SnapshotRecord> {
    for (const id of ids) assertSnapshotId(id);
    const filtered = compileFilters(filters, snapshotFilters(this.options.account));
    const restorable = (snapshot: SnapshotRecord): boolean =>
      restorableBy.length === 0 ||
      restorableBy.some((user) => {
        if (user === 'all') return snapshot.createVolumePublic === true;
        if (user === 'self' || user === this.options.account) return true;
        return (snapshot.createVolumeUserIds ?? []).includes(user);
      });
    const matches = (snapshot: SnapshotRecord): boolean => restorable(snapshot) && filtered(snapshot);
    const ownedHere = owners.length === 0 || owners.some((owner) => owner === 'self' || owner === this.options.account);
    if (!ownedHere) return { items: [], nextToken: undefined };
    if (ids.length > 0) {
      const missing = ids.filter((id) => !this.snapshots.has(id));
      if (missing.length > 0) throw snapshotsNotFound(missing);
    }
    const wanted =
      ids.length > 0
        ? sortBySeq(
            unique(ids)
              .map((id) => this.snapshots.get(id))
              .filter(isDefined),
          )
        : undefined;
    const candidates = wanted ?? filterCandidates(filters, { 'snapshot-id': (id) => byId(this.snapshots, id) });
    return paginate(candidates ?? this.snapshots.values(), matches, page);
  }

  deleteSnapshot(snapshotId: string): void {
    assertSnapshotId(snapshotId);
    if (!this.snapshots.has(snapshotId)) throw snapshotsNotFound([snapshotId]);
    const [user] = this.snapshotUsers.get(snapshotId) ?? [];
    if (user !== undefined) {
      throw new Ec2ApiError('InvalidSnapshot.InUse', `The snapshot ${snapshotId} is currently in use by ${user}`);
    }
    this.removeSnapshot(snapshotId);
  }

  /** ModifySnapshotAttribute: create-volume permissions of a snapshot of this account. */
  modifySnapshotAttribute(snapshotId: string, attribute: string | undefined, permissions: PermissionChange): void {
    assertSnapshotId(snapshotId);
    const snapshot = this.snapshots.get(snapshotId);
    if (snapshot === undefined) throw snapshotsNotFound([snapshotId]);
    if ((attribute ?? 'createVolumePermission') !== 'createVolumePermission') {
      throw invalidParameterValue(`Value (${attribute}) for parameter attribute is invalid. Unknown attribute.`);
    }
    const shared = applyPermissionChange(
      { userIds: snapshot.createVolumeUserIds ?? [], isPublic: snapshot.createVolumePublic === true },
      permissions,
      this.options.account,
    );
    snapshot.createVolumeUserIds = shared.userIds;
    snapshot.createVolumePublic = shared.isPublic;
  }

  /** DescribeSnapshotAttribute: `createVolumePermission` of a snapshot of this account. */
  snapshotPermissions(snapshotId: string, attribute: string): Permissions {
    assertSnapshotId(snapshotId);
    const snapshot = this.snapshots.get(snapshotId);
    if (snapshot === undefined) throw snapshotsNotFound([snapshotId]);
    if (attribute !== 'createVolumePermission') {
      throw invalidParameterValue(`Value (${attribute}) for parameter attribute is invalid. Unknown attribute.`);
    }
    return { userIds: snapshot.createVolumeUserIds ?? [], isPublic: snapshot.createVolumePublic === true };
  }

  snapshotProgress(snapshot: SnapshotRecord): string {
    if (snapshot.state === 'completed') return '100%';
    const span = snapshot.completeAt - snapshot.startTime;
    const done = span <= 0 ? 0.99 : Math.min(0.99, Math.max(0, (this.now - snapshot.startTime) / span));
    return `${Math.floor(done * 100)}%`;
  }

  // ---- tags -----------------------------------------------------------------------------------------------------

  createTags(resourceIds: string[], tags: TagInput[]): void {
    const resources = resourceIds.map((id) => this.taggable(id));
    validateNewTags(tags);
    const updates = tagMap(tags);
    for (const resource of resources) {
      const keys = new Set([...userTags(resource.tags).keys(), ...updates.keys()]);
      if (keys.size > MAX_USER_TAGS) throw tagLimitExceeded();
    }
    for (const resource of resources) for (const [key, value] of updates) resource.tags.set(key, value);
  }

  /** DeleteTags: a key alone deletes it whatever its value; a key with a value only if it matches; no tags, all. */
  deleteTags(resourceIds: string[], tags: TagInput[]): void {
    const resources = resourceIds.map((id) => this.taggable(id));
    for (const tag of tags) {
      if (tag.key.startsWith('aws:')) throw reservedTagKey();
    }
    for (const resource of resources) {
      if (tags.length === 0) {
        for (const key of userTags(resource.tags).keys()) resource.tags.delete(key);
        continue;
      }
      for (const { key, value } of tags) {
        if (value === undefined || resource.tags.get(key) === value) resource.tags.delete(key);
      }
    }
  }

  // ---- state file -----------------------------------------------------------------------------------------------

  exportState(): BackendState {
    return {
      instances: [...this.instances.values()],
      volumes: [...this.volumes.values()],
      images: [...this.images.values()],
      snapshots: [...this.snapshots.values()],
      copyTokens: [...this.copyTokens],
      copyTokenParameters: [...this.copyTokenParameters],
      runTokens: [...this.runTokens],
      nextSeq: this.sequence.next,
    };
  }

  /** Loads a state exported earlier, rebuilding the indexes and rescheduling every pending change. */
  importState(state: BackendState): void {
    this.sequence.next = Math.max(this.sequence.next, state.nextSeq);
    for (const volume of state.volumes) this.volumes.set(volume.id, volume);
    for (const snapshot of state.snapshots) this.snapshots.set(snapshot.id, snapshot);
    for (const [token, imageId] of state.copyTokens) this.copyTokens.set(token, imageId);
    for (const [token, parameters] of state.copyTokenParameters ?? []) this.copyTokenParameters.set(token, parameters);
    for (const [token, record] of state.runTokens ?? []) this.runTokens.set(token, record);
    for (const instance of state.instances) {
      normalizeInstance(instance);
      this.instances.set(instance.id, instance);
      if (instance.clientToken !== undefined) this.launchedWithToken.set(instance.id, instance);
      if (instance.transitionAt !== undefined) this.scheduleInstanceTransition(instance, instance.transitionAt);
    }
    for (const image of state.images) {
      this.addImage(image);
      if (image.state !== 'deregistered') this.indexImage(image);
      if (image.state === 'pending' && image.sourceImageId !== undefined) this.pendingCopies.add(image);
      if (image.transitionAt !== undefined) this.scheduleImageTransition(image, image.transitionAt);
    }
    for (const snapshot of state.snapshots) {
      const orphan = (this.snapshotUsers.get(snapshot.id)?.size ?? 0) === 0;
      if (snapshot.state === 'pending' && orphan) this.scheduleSnapshotCompletion(snapshot);
    }
  }

  // ---- internals ------------------------------------------------------------------------------------------------

  /** Explicit ids, all well-formed and all known (else EC2's errors), in creation order; undefined when none given. */
  private lookupInstances(ids: string[]): InstanceRecord[] | undefined {
    if (ids.length === 0) return undefined;
    return sortBySeq(this.requireInstances(unique(ids)));
  }

  private requireInstances(ids: string[]): InstanceRecord[] {
    for (const id of ids) assertInstanceId(id);
    const missing = ids.filter((id) => !this.instances.has(id));
    if (missing.length > 0) throw instancesNotFound(missing);
    return ids.map((id) => this.instances.get(id) as InstanceRecord);
  }

  private taggable(id: string): { tags: Map<string, string> } {
    const prefix = id.slice(0, id.indexOf('-'));
    switch (prefix) {
      case 'i': {
        assertInstanceId(id);
        const instance = this.instances.get(id);
        if (instance === undefined) throw instancesNotFound([id]);
        return instance;
      }
      case 'ami': {
        assertImageId(id);
        const image = this.images.get(id);
        if (image === undefined || image.state === 'deregistered') throw imagesNotFound([id]);
        if (image.ownerId !== undefined) throw notAuthorizedForImage(id);
        return image;
      }
      case 'snap': {
        assertSnapshotId(id);
        const snapshot = this.snapshots.get(id);
        if (snapshot === undefined) throw snapshotsNotFound([id]);
        return snapshot;
      }
      case 'vol': {
        const volume = this.volumes.get(id);
        if (volume === undefined) throw volumeNotFound(id);
        return volume;
      }
      default:
        throw new Ec2ApiError('InvalidID', `The ID '${id}' is not valid`);
    }
  }

  private assertNameFree(name: string): void {
    // Names are unique among the account's own registered images; another account's image does not hold one.
    const named = this.imagesByName.get(name) ?? [];
    const holder = [...named].find((image) => image.ownerId === undefined && image.state !== 'deregistered');
    if (holder !== undefined) {
      throw new Ec2ApiError('InvalidAMIName.Duplicate', `AMI name ${name} is already in use by AMI ${holder.id}`);
    }
  }

  private addSnapshot(fields: {
    volumeId: string;
    volumeSize: number;
    description: string;
    /** Default now. */
    startTime?: number;
    completeAt: number;
    tags: Map<string, string>;
    encrypted?: boolean;
    kmsKeyId?: string;
  }): SnapshotRecord {
    const { startTime, ...rest } = fields;
    const snapshot: SnapshotRecord = {
      id: newId('snap'),
      seq: this.takeSeq(),
      state: 'pending',
      startTime: startTime ?? this.now,
      ...rest,
    };
    this.snapshots.set(snapshot.id, snapshot);
    return snapshot;
  }

  private removeSnapshot(snapshotId: string): void {
    const snapshot = this.snapshots.get(snapshotId);
    if (snapshot !== undefined) this.record({ kind: 'snapshot-deleted', id: snapshotId }, snapshot.tags);
    this.snapshots.delete(snapshotId);
    this.snapshotUsers.delete(snapshotId);
  }

  private registerImage(fields: {
    id: string;
    name: string;
    description: string | undefined;
    sourceInstanceId: string | undefined;
    sourceImageId: string | undefined;
    sourceImageRegion?: string;
    devices: ImageRecord['devices'];
    tags: Map<string, string>;
    requestId: string;
    /** Undefined: the image stays pending until something else ends it. */
    completeAt: number | undefined;
    failure: StateReason | undefined;
  }): ImageRecord {
    const { completeAt, failure, sourceImageRegion, ...rest } = fields;
    const image: ImageRecord = {
      ...rest,
      seq: this.takeSeq(),
      state: 'pending',
      creationDate: this.now,
      rootDeviceName: ROOT_DEVICE_NAME,
      ...(sourceImageRegion === undefined ? {} : { sourceImageRegion }),
      ...(failure === undefined ? {} : { failure }),
    };
    this.addImage(image);
    this.indexImage(image);
    if (completeAt !== undefined) this.scheduleImageTransition(image, completeAt);
    return image;
  }

  private addImage(image: ImageRecord): void {
    this.images.set(image.id, image);
    let named = this.imagesByName.get(image.name);
    if (named === undefined) {
      named = new Set();
      this.imagesByName.set(image.name, named);
    }
    named.add(image);
  }

  private removeImage(image: ImageRecord): void {
    this.images.delete(image.id);
    const named = this.imagesByName.get(image.name);
    named?.delete(image);
    if (named?.size === 0) this.imagesByName.delete(image.name);
  }

  private indexImage(image: ImageRecord): void {
    if (image.state === 'pending' && image.sourceInstanceId !== undefined) {
      let pending = this.pendingImagesOf.get(image.sourceInstanceId);
      if (pending === undefined) {
        pending = new Set();
        this.pendingImagesOf.set(image.sourceInstanceId, pending);
      }
      pending.add(image);
    }
    for (const device of image.devices) {
      let users = this.snapshotUsers.get(device.snapshotId);
      if (users === undefined) {
        users = new Set();
        this.snapshotUsers.set(device.snapshotId, users);
      }
      users.add(image.id);
    }
  }

  private scheduleImageTransition(image: ImageRecord, at: number): void {
    image.transitionAt = at;
    this.options.clock.schedule(at, () => {
      if (this.images.get(image.id) !== image || image.transitionAt !== at) return; // superseded
      delete image.transitionAt;
      if (image.state === 'deregistered') this.removeImage(image);
      else if (image.state === 'pending') this.finishImage(image, image.failure);
    });
  }

  /** A pending image becomes available (snapshots completed) or failed (snapshots in error). */
  private finishImage(image: ImageRecord, failure: StateReason | undefined): void {
    delete image.transitionAt;
    delete image.failure;
    this.pendingImagesOf.get(image.sourceInstanceId ?? '')?.delete(image);
    this.pendingCopies.delete(image);
    for (const device of image.devices) {
      const snapshot = this.snapshots.get(device.snapshotId);
      if (snapshot === undefined || snapshot.state !== 'pending') continue;
      snapshot.state = failure === undefined ? 'completed' : 'error';
      if (failure !== undefined) snapshot.stateMessage = failure.message;
    }
    this.record(
      {
        kind: failure === undefined ? 'image-available' : 'image-failed',
        id: image.id,
        previousState: image.state,
        creationDate: image.creationDate,
      },
      image.tags,
    );
    if (failure === undefined) {
      image.state = 'available';
      this.emitAmiState(image, '');
    } else {
      image.state = 'failed';
      image.stateReason = failure;
      this.emitAmiState(image, failure.message);
    }
  }

  private interruptImagesOf(instanceId: string): void {
    if (!this.options.failImagesOnInterruption) return;
    for (const image of [...(this.pendingImagesOf.get(instanceId) ?? [])]) this.finishImage(image, INTERRUPTED);
    this.pendingImagesOf.delete(instanceId);
  }

  /** A snapshot left pending by a deregistered image completes on its own time. */
  private scheduleSnapshotCompletion(snapshot: SnapshotRecord): void {
    this.options.clock.schedule(snapshot.completeAt, () => {
      if (this.snapshots.get(snapshot.id) === snapshot && snapshot.state === 'pending') snapshot.state = 'completed';
    });
  }

  private emitAmiState(image: ImageRecord, errorMessage: string): void {
    const state = image.state;
    if (state === 'pending') return;
    this.options.events.emit(
      amiStateChangeEvent({
        account: this.options.account,
        region: this.options.region,
        time: this.options.clock.now(),
        imageId: image.id,
        requestId: image.requestId,
        state,
        errorMessage,
      }),
    );
  }

  /** The instance status check is not ok from `from` to `until`; an overlapping window already open is extended. */
  private openRebootWindow(instance: InstanceRecord, from: number, until: number): void {
    const open =
      instance.rebootFrom !== undefined && instance.rebootUntil !== undefined && instance.rebootUntil >= from;
    instance.rebootFrom = open ? Math.min(instance.rebootFrom as number, from) : from;
    instance.rebootUntil = Math.max(until, open ? (instance.rebootUntil as number) : until);
  }

  /** Enters a state (emitting its event) and schedules the next change `after` ms later, if any. */
  private changeInstanceState(instance: InstanceRecord, state: InstanceStateName, after: number | undefined): void {
    instance.state = state;
    this.options.events.emit(
      instanceStateChangeEvent({
        account: this.options.account,
        region: this.options.region,
        time: this.options.clock.now(),
        instanceId: instance.id,
        state,
      }),
    );
    if (after !== undefined) this.scheduleInstanceTransition(instance, this.now + after);
  }

  private scheduleInstanceTransition(instance: InstanceRecord, at: number): void {
    instance.transitionAt = at;
    this.options.clock.schedule(at, () => {
      if (this.instances.get(instance.id) !== instance || instance.transitionAt !== at) return; // superseded
      delete instance.transitionAt;
      switch (instance.state) {
        case 'pending':
          if (instance.launchFailure === undefined) {
            this.changeInstanceState(instance, 'running', undefined);
            break;
          }
          instance.stateReason = instance.launchFailure;
          instance.stateTransitionReason = instance.launchFailure.message;
          this.changeInstanceState(instance, 'shutting-down', this.durations.instanceShuttingDown);
          break;
        case 'stopping':
          this.changeInstanceState(instance, 'stopped', undefined);
          break;
        case 'shutting-down':
          // The instance's volumes go with it (delete-on-termination; others are not kept apart here).
          this.changeInstanceState(instance, 'terminated', this.durations.terminatedVisible);
          break;
        case 'terminated':
          this.instances.delete(instance.id);
          for (const volumeId of instance.volumeIds) this.volumes.delete(volumeId);
          break;
        default:
          break;
      }
    });
  }
}

/**
 * Fills the fields a state file written before they existed lacks: EBS-backed, no hibernation, and the state reason
 * EC2 gives a stopped or terminated instance (then derived from the state).
 */
function normalizeInstance(instance: InstanceRecord): void {
  const loaded = instance as Partial<InstanceRecord> & InstanceRecord;
  loaded.rootDeviceType ??= 'ebs';
  loaded.hibernationConfigured ??= false;
  const stopped = ['stopping', 'stopped', 'shutting-down', 'terminated'].includes(instance.state);
  if (stopped && !('stateReason' in loaded)) loaded.stateReason = USER_SHUTDOWN;
}

/** Who may launch an image or create a volume from a snapshot besides its owner. */
export interface Permissions {
  userIds: string[];
  isPublic: boolean;
}

/** Account ids are 12 digits (EC2 answers others with `InvalidUserID.Malformed`). */
const ACCOUNT_ID = /^\d{12}$/;

/** Permissions after a change: removals, then additions; the owner's own id is not listed (it always may). */
function applyPermissionChange(current: Permissions, change: PermissionChange, owner: string): Permissions {
  for (const group of [...change.addGroups, ...change.removeGroups]) {
    if (group !== 'all') throw invalidParameterValue(`Value (${group}) for parameter group is invalid.`);
  }
  for (const userId of [...change.addUserIds, ...change.removeUserIds]) {
    if (!ACCOUNT_ID.test(userId)) {
      throw new Ec2ApiError('InvalidUserID.Malformed', `User ID '${userId}' is invalid`);
    }
  }
  const userIds = new Set(current.userIds);
  for (const userId of change.removeUserIds) userIds.delete(userId);
  for (const userId of change.addUserIds) if (userId !== owner) userIds.add(userId);
  const isPublic = change.addGroups.length > 0 || (current.isPublic && change.removeGroups.length === 0);
  return { userIds: [...userIds], isPublic };
}
