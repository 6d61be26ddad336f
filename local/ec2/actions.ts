import { Ec2ApiError, invalidParameterValue, missingParameter } from './errors';
import type { InstanceStateName } from './events';
import { type ImageRecord, INSTANCE_STATE_CODES, type InstanceRecord, type SnapshotRecord } from './model';
import { validatePageRequest } from './pagination';
import { permissionChange, type QueryParams } from './query';
import type { InstanceStatus, StatusCheck } from './rules';
import type { Ec2Backend, Permissions, StateChange } from './store';
import { itemList, tagSet, type XmlObject, type XmlValue } from './xml';

export interface ActionContext {
  /** The store of the Region the request is made in. */
  backend: Ec2Backend;
  /** The store of any Region (CopyImage reads its source there). */
  backendIn(region: string): Ec2Backend;
  requestId: string;
  account: string;
  /** Snapshots the caller may not delete (IAM), which DeregisterImage keeps. */
  deniedSnapshotDeletions?: ReadonlySet<string>;
}

/** One EC2 API action: reads its parameters, acts on the backend, returns the response members after `requestId`. */
export type ActionHandler = (params: QueryParams, context: ActionContext) => XmlObject;

/** MaxResults bounds of the paginated Describe calls (EC2 API reference). */
const PAGE_LIMITS = {
  instances: { min: 5, max: 1000 },
  instanceStatus: { min: 5, max: 1000 },
  images: { min: 1, max: 1000 },
  snapshots: { min: 5, max: 1000 },
} as const;

const iso = (ms: number): string => new Date(ms).toISOString();

const stateXml = (state: InstanceStateName): XmlObject => ({ code: INSTANCE_STATE_CODES[state], name: state });

function instanceXml(instance: InstanceRecord, backend: Ec2Backend): XmlObject {
  return {
    instanceId: instance.id,
    imageId: instance.imageId,
    instanceState: stateXml(instance.state),
    privateDnsName: '',
    dnsName: '',
    reason: instance.stateTransitionReason,
    amiLaunchIndex: 0,
    instanceType: instance.instanceType,
    launchTime: iso(instance.launchTime),
    placement: { availabilityZone: instance.availabilityZone, tenancy: 'default' },
    monitoring: { state: 'disabled' },
    architecture: 'x86_64',
    rootDeviceType: instance.rootDeviceType,
    rootDeviceName: instance.rootDeviceName,
    blockDeviceMapping: itemList(
      instance.volumeIds.flatMap((volumeId) => {
        const volume = backend.volumes.get(volumeId);
        if (volume === undefined) return [];
        return [
          {
            deviceName: volume.deviceName,
            ebs: {
              volumeId: volume.id,
              status: instance.state === 'terminated' ? 'detached' : 'attached',
              attachTime: iso(volume.createTime),
              deleteOnTermination: volume.deleteOnTermination,
            },
          },
        ];
      }),
    ),
    virtualizationType: 'hvm',
    hypervisor: 'xen',
    tagSet: tagSet(instance.tags),
    hibernationOptions: { configured: instance.hibernationConfigured },
    subnetId: instance.subnetId,
    groupSet:
      instance.securityGroupIds === undefined
        ? undefined
        : itemList(instance.securityGroupIds.map((groupId) => ({ groupId }))),
    clientToken: instance.clientToken,
    stateReason: instance.stateReason === undefined ? undefined : { ...instance.stateReason },
  };
}

/** Instances grouped into their reservations, in the order given. */
function reservationsXml(instances: readonly InstanceRecord[], context: ActionContext): XmlValue {
  const byReservation = new Map<string, InstanceRecord[]>();
  for (const instance of instances) {
    const group = byReservation.get(instance.reservationId);
    if (group === undefined) byReservation.set(instance.reservationId, [instance]);
    else group.push(instance);
  }
  return itemList(
    [...byReservation].map(([reservationId, group]) => ({
      reservationId,
      ownerId: context.account,
      groupSet: '',
      instancesSet: itemList(group.map((instance) => instanceXml(instance, context.backend))),
    })),
  );
}

function statusCheckXml(check: StatusCheck): XmlObject {
  return {
    status: check.status,
    details:
      check.reachability === undefined ? undefined : itemList([{ name: 'reachability', status: check.reachability }]),
  };
}

function instanceStatusXml(status: InstanceStatus): XmlObject {
  return {
    instanceId: status.instance.id,
    availabilityZone: status.instance.availabilityZone,
    instanceState: stateXml(status.instance.state),
    systemStatus: statusCheckXml(status.systemStatus),
    instanceStatus: statusCheckXml(status.instanceStatus),
    eventsSet: '',
  };
}

function stateChangesXml(changes: readonly StateChange[]): XmlObject {
  return {
    instancesSet: itemList(
      changes.map((change) => ({
        instanceId: change.instanceId,
        currentState: stateXml(change.current),
        previousState: stateXml(change.previous),
      })),
    ),
  };
}

function imageXml(image: ImageRecord, owner: string): XmlObject {
  return {
    imageId: image.id,
    imageLocation: `${owner}/${image.name}`,
    imageState: image.state,
    imageOwnerId: owner,
    creationDate: iso(image.creationDate),
    isPublic: image.launchPublic === true,
    architecture: 'x86_64',
    imageType: 'machine',
    sourceInstanceId: image.sourceInstanceId,
    name: image.name,
    description: image.description,
    rootDeviceType: 'ebs',
    rootDeviceName: image.rootDeviceName,
    blockDeviceMapping: itemList(
      image.devices.map((device) => ({
        deviceName: device.deviceName,
        ebs: {
          snapshotId: device.snapshotId,
          volumeSize: device.volumeSize,
          deleteOnTermination: device.deleteOnTermination,
          volumeType: device.volumeType,
          kmsKeyId: device.kmsKeyId,
          encrypted: device.encrypted ?? false,
        },
      })),
    ),
    virtualizationType: 'hvm',
    tagSet: tagSet(image.tags),
    hypervisor: 'xen',
    stateReason: image.stateReason === undefined ? undefined : { ...image.stateReason },
    deprecationTime: image.deprecationTime,
    sourceImageId: image.sourceImageId,
    sourceImageRegion: image.sourceImageRegion,
  };
}

function snapshotXml(snapshot: SnapshotRecord, context: ActionContext): XmlObject {
  return {
    snapshotId: snapshot.id,
    volumeId: snapshot.volumeId,
    status: snapshot.state,
    statusMessage: snapshot.stateMessage,
    startTime: iso(snapshot.startTime),
    progress: context.backend.snapshotProgress(snapshot),
    ownerId: context.account,
    volumeSize: snapshot.volumeSize,
    description: snapshot.description,
    encrypted: snapshot.encrypted ?? false,
    kmsKeyId: snapshot.kmsKeyId,
    storageTier: 'standard',
    tagSet: tagSet(snapshot.tags),
  };
}

/** Launch or create-volume permissions: an `<item>` per account (`userId`), and `group` `all` when public. */
function permissionsXml(permissions: Permissions): XmlValue {
  return itemList([
    ...permissions.userIds.map((userId) => ({ userId })),
    ...(permissions.isPublic ? [{ group: 'all' }] : []),
  ]);
}

const pageRequest = (params: QueryParams) => ({
  maxResults: params.integer('MaxResults'),
  nextToken: params.string('NextToken'),
});

export const ACTIONS: Readonly<Record<string, ActionHandler>> = {
  RunInstances(params, context) {
    const minCount = params.integer('MinCount') ?? 1;
    const network = launchNetwork(params);
    const { reservationId, instances } = context.backend.runInstances({
      ...network,
      imageId: params.requiredString('ImageId'),
      instanceType: params.string('InstanceType') ?? 'm1.small',
      minCount,
      maxCount: params.integer('MaxCount') ?? minCount,
      tagSpecifications: params.tagSpecifications(),
      blockDeviceMappings: params.blockDeviceMappings(),
      hibernationConfigured: params.boolean('HibernationOptions.Configured') ?? false,
      ...(params.string('ClientToken') === undefined ? {} : { clientToken: params.string('ClientToken') as string }),
    });
    return {
      reservationId,
      ownerId: context.account,
      groupSet: '',
      instancesSet: itemList(instances.map((instance) => instanceXml(instance, context.backend))),
    };
  },

  DescribeInstances(params, context) {
    const ids = params.list('InstanceId');
    const page = pageRequest(params);
    validatePageRequest(page, PAGE_LIMITS.instances, ids.length, 'instanceIds');
    const result = context.backend.describeInstances(ids, params.filters(), page);
    // Always sent, even empty: waiters read it.
    return { reservationSet: reservationsXml(result.items, context), nextToken: result.nextToken };
  },

  DescribeInstanceStatus(params, context) {
    const ids = params.list('InstanceId');
    const page = pageRequest(params);
    validatePageRequest(page, PAGE_LIMITS.instanceStatus, ids.length, 'instanceIds');
    const result = context.backend.describeInstanceStatus(
      ids,
      params.boolean('IncludeAllInstances') ?? false,
      params.filters(),
      page,
    );
    return { instanceStatusSet: itemList(result.items.map(instanceStatusXml)), nextToken: result.nextToken };
  },

  RebootInstances(params, context) {
    context.backend.rebootInstances(requiredList(params, 'InstanceId'));
    return { return: true };
  },

  StopInstances(params, context) {
    const hibernate = params.boolean('Hibernate') ?? false;
    return stateChangesXml(context.backend.stopInstances(requiredList(params, 'InstanceId'), hibernate));
  },

  StartInstances(params, context) {
    return stateChangesXml(context.backend.startInstances(requiredList(params, 'InstanceId')));
  },

  TerminateInstances(params, context) {
    return stateChangesXml(context.backend.terminateInstances(requiredList(params, 'InstanceId')));
  },

  CreateImage(params, context) {
    const image = context.backend.createImage({
      instanceId: params.requiredString('InstanceId'),
      name: params.requiredString('Name'),
      description: params.string('Description'),
      noReboot: params.boolean('NoReboot') ?? false,
      tagSpecifications: params.tagSpecifications(),
      requestId: context.requestId,
    });
    return { imageId: image.id };
  },

  CopyImage(params, context) {
    // Served in the destination Region (the request's); the source is read in its own Region's store.
    const image = context.backend.copyImage({
      sourceImageId: params.requiredString('SourceImageId'),
      sourceBackend: context.backendIn(params.requiredString('SourceRegion')),
      name: params.requiredString('Name'),
      description: params.string('Description'),
      clientToken: params.string('ClientToken'),
      copyImageTags: params.boolean('CopyImageTags') ?? false,
      encrypted: params.boolean('Encrypted'),
      kmsKeyId: params.string('KmsKeyId'),
      tagSpecifications: params.tagSpecifications(),
      requestId: context.requestId,
    });
    return { imageId: image.id };
  },

  DescribeImages(params, context) {
    const ids = params.list('ImageId');
    const page = pageRequest(params);
    validatePageRequest(page, PAGE_LIMITS.images, ids.length, 'imageIds');
    const result = context.backend.describeImages(
      ids,
      params.list('Owner'),
      params.filters(),
      page,
      params.list('ExecutableBy'),
    );
    return {
      imagesSet: itemList(result.items.map((image) => imageXml(image, context.backend.ownerOf(image)))),
      nextToken: result.nextToken,
    };
  },

  DeregisterImage(params, context) {
    const results = context.backend.deregisterImage(
      params.requiredString('ImageId'),
      params.boolean('DeleteAssociatedSnapshots') ?? false,
      context.deniedSnapshotDeletions,
    );
    return {
      return: true,
      deleteSnapshotResultSet: results.length === 0 ? undefined : itemList(results.map((result) => ({ ...result }))),
    };
  },

  ModifyImageAttribute(params, context) {
    context.backend.modifyImageAttribute(params.requiredString('ImageId'), {
      attribute: params.string('Attribute'),
      permissions: permissionChange(params, 'LaunchPermission'),
      description:
        params.string('Description.Value') ??
        (params.string('Attribute') === 'description' ? params.string('Value') : undefined),
    });
    return { return: true };
  },

  DescribeImageAttribute(params, context) {
    const imageId = params.requiredString('ImageId');
    const attribute = params.requiredString('Attribute');
    const value = context.backend.imageAttribute(imageId, attribute);
    return {
      imageId,
      launchPermission: value.launchPermissions === undefined ? undefined : permissionsXml(value.launchPermissions),
      description: value.description === undefined ? undefined : { value: value.description },
    };
  },

  EnableImageDeprecation(params, context) {
    const deprecateAt = params.requiredString('DeprecateAt');
    context.backend.enableImageDeprecation(params.requiredString('ImageId'), new Date(deprecateAt));
    return { return: true };
  },

  DescribeSnapshots(params, context) {
    const ids = params.list('SnapshotId');
    const page = pageRequest(params);
    validatePageRequest(page, PAGE_LIMITS.snapshots, ids.length, 'snapshotIds');
    const result = context.backend.describeSnapshots(
      ids,
      params.list('Owner'),
      params.filters(),
      page,
      params.list('RestorableBy'),
    );
    return {
      snapshotSet: itemList(result.items.map((snapshot) => snapshotXml(snapshot, context))),
      nextToken: result.nextToken,
    };
  },

  DeleteSnapshot(params, context) {
    context.backend.deleteSnapshot(params.requiredString('SnapshotId'));
    return { return: true };
  },

  ModifySnapshotAttribute(params, context) {
    context.backend.modifySnapshotAttribute(
      params.requiredString('SnapshotId'),
      params.string('Attribute'),
      permissionChange(params, 'CreateVolumePermission'),
    );
    return { return: true };
  },

  DescribeSnapshotAttribute(params, context) {
    const snapshotId = params.requiredString('SnapshotId');
    const permissions = context.backend.snapshotPermissions(snapshotId, params.requiredString('Attribute'));
    return { snapshotId, createVolumePermission: permissionsXml(permissions) };
  },

  CreateTags(params, context) {
    const tags = params.tags();
    if (tags.length === 0) throw missingParameter('Tag');
    context.backend.createTags(resourceIds(params), tags);
    return { return: true };
  },

  DeleteTags(params, context) {
    context.backend.deleteTags(resourceIds(params), params.tags());
    return { return: true };
  },
};

/** Actions that change something (DryRun and throttling treat them apart). */
export const MUTATING_ACTIONS: ReadonlySet<string> = new Set(
  Object.keys(ACTIONS).filter((action) => !action.startsWith('Describe')),
);

/** CreateTags and DeleteTags take at most 1000 resource ids. */
const MAX_TAGGED_RESOURCES = 1000;

function resourceIds(params: QueryParams): string[] {
  const ids = requiredList(params, 'ResourceId');
  if (ids.length > MAX_TAGGED_RESOURCES) {
    throw invalidParameterValue(`The request may contain at most ${MAX_TAGGED_RESOURCES} ResourceIds`);
  }
  return ids;
}

/**
 * Where RunInstances puts the instance: the top-level `SubnetId` and `SecurityGroupId.N`, or the primary network
 * interface's (`NetworkInterface.1.*`, the only way to say `AssociatePublicIpAddress`); EC2 refuses both at once.
 */
export function launchNetwork(params: QueryParams): {
  subnetId?: string;
  securityGroupIds?: string[];
  associatePublicIpAddress?: boolean;
} {
  const primary = 'NetworkInterface.1';
  const interfaceSubnet = params.string(`${primary}.SubnetId`);
  const interfaceGroups = params.list(`${primary}.SecurityGroupId`);
  const subnet = params.string('SubnetId');
  const groups = params.list('SecurityGroupId');
  if ((interfaceSubnet !== undefined || interfaceGroups.length > 0) && (subnet !== undefined || groups.length > 0)) {
    throw new Ec2ApiError(
      'InvalidParameterCombination',
      'Network interfaces and an instance-level subnet ID or security groups may not be specified on the same request',
    );
  }
  const subnetId = interfaceSubnet ?? subnet;
  const securityGroupIds = interfaceGroups.length > 0 ? interfaceGroups : groups;
  const associatePublicIpAddress = params.boolean(`${primary}.AssociatePublicIpAddress`);
  return {
    ...(subnetId === undefined ? {} : { subnetId }),
    ...(securityGroupIds.length === 0 ? {} : { securityGroupIds }),
    ...(associatePublicIpAddress === undefined ? {} : { associatePublicIpAddress }),
  };
}

function requiredList(params: QueryParams, prefix: string): string[] {
  const values = params.list(prefix);
  if (values.length === 0) throw missingParameter(prefix);
  return values;
}
