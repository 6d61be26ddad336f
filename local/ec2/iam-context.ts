import { launchNetwork } from './actions';
import { permissionChange, type QueryParams, type TagInput } from './query';

/** Values of an IAM request context: a condition key's value, or values for the multivalued keys (`aws:TagKeys`). */
export type ContextValues = Readonly<Record<string, string | readonly string[]>>;

/** One authorization a request needs: an IAM action on one resource, with the request context AWS builds for it. */
export interface AuthorizationCheck {
  /** `service:Action`, e.g. `ec2:CreateTags`. */
  readonly action: string;
  /** The resource ARN (or `*` for actions without resource-level permissions). */
  readonly resource: string;
  readonly context: ContextValues;
}

/** Where a request is served: the Region and account its ARNs carry. */
export interface RequestScope {
  readonly region: string;
  readonly account: string;
}

/** What the context needs to know of existing resources. */
export interface Ec2ResourceLookup {
  /** The tags of an instance, image, snapshot or volume; undefined when there is no such resource. */
  tagsOf(resourceId: string): ReadonlyMap<string, string> | undefined;
  /** The snapshots backing a registered image (empty when unknown). */
  snapshotIdsOf(imageId: string): readonly string[];
  /** An image the caller can see: its owner, and whether it is public. */
  imageOf(imageId: string): { owner: string; isPublic: boolean } | undefined;
  /** A snapshot of the caller's: its owner and size (GiB). */
  snapshotOf(snapshotId: string): { owner: string; volumeSize: number } | undefined;
}

/** The checks one EC2 request needs, all allowed for it to be served. */
export interface Ec2RequestChecks {
  readonly required: readonly AuthorizationCheck[];
  /**
   * DeregisterImage with DeleteAssociatedSnapshots: each snapshot's deletion is authorized apart; a snapshot refused
   * stays (ReturnCode `missing-permissions`) while the image is still deregistered.
   */
  readonly snapshotDeletions: readonly { readonly snapshotId: string; readonly check: AuthorizationCheck }[];
}

/** Image and snapshot ARNs have an empty account field (Service Authorization Reference, Amazon EC2). */
export function ec2Arn(scope: RequestScope, resourceId: string): string | undefined {
  const prefix = resourceId.slice(0, resourceId.indexOf('-'));
  switch (prefix) {
    case 'i':
      return `arn:aws:ec2:${scope.region}:${scope.account}:instance/${resourceId}`;
    case 'vol':
      return `arn:aws:ec2:${scope.region}:${scope.account}:volume/${resourceId}`;
    case 'ami':
      return `arn:aws:ec2:${scope.region}::image/${resourceId}`;
    case 'snap':
      return `arn:aws:ec2:${scope.region}::snapshot/${resourceId}`;
    default:
      return undefined;
  }
}

/** `aws:ResourceTag/<k>` and its EC2 twin `ec2:ResourceTag/<k>` for each tag of an existing resource. */
export function resourceTagContext(tags: ReadonlyMap<string, string> | undefined): Record<string, string> {
  const context: Record<string, string> = {};
  for (const [key, value] of tags ?? []) {
    context[`aws:ResourceTag/${key}`] = value;
    context[`ec2:ResourceTag/${key}`] = value;
  }
  return context;
}

/**
 * `aws:RequestTag/<k>` for the tags that carry a value, and `aws:TagKeys` with every key; no `aws:TagKeys` at all when
 * there are no tags (so `Null: {"aws:TagKeys": "false"}` refuses a request without tags).
 */
export function requestTagContext(tags: readonly TagInput[], withValues: boolean): Record<string, string | string[]> {
  const context: Record<string, string | string[]> = {};
  if (tags.length === 0) return context;
  context['aws:TagKeys'] = [...new Set(tags.map((tag) => tag.key))];
  if (withValues) {
    for (const tag of tags) context[`aws:RequestTag/${tag.key}`] = tag.value ?? '';
  }
  return context;
}

/** An existing resource, by id, with its current tags as resource tags. */
function onResource(
  action: string,
  resourceId: string,
  scope: RequestScope,
  lookup: Ec2ResourceLookup,
  extra: ContextValues = {},
): AuthorizationCheck[] {
  const resource = ec2Arn(scope, resourceId);
  if (resource === undefined) return [];
  return [{ action, resource, context: { ...resourceTagContext(lookup.tagsOf(resourceId)), ...extra } }];
}

/**
 * A resource the call creates (its ARN ends in `*`: the id does not exist yet), with the tags its TagSpecification
 * gives it; tagging on creation is authorized too, as `ec2:CreateTags` with `ec2:CreateAction`.
 */
function onNewResource(
  ec2Action: string,
  resourceType: 'image' | 'snapshot',
  tags: readonly TagInput[],
  scope: RequestScope,
): AuthorizationCheck[] {
  const resource = `arn:aws:ec2:${scope.region}::${resourceType}/*`;
  const context = requestTagContext(tags, true);
  const create = { action: `ec2:${ec2Action}`, resource, context };
  if (tags.length === 0) return [create];
  return [create, { action: 'ec2:CreateTags', resource, context: { ...context, 'ec2:CreateAction': ec2Action } }];
}

function tagsFor(params: QueryParams, resourceType: string): TagInput[] {
  return params
    .tagSpecifications()
    .filter((specification) => specification.resourceType === resourceType)
    .flatMap((specification) => specification.tags);
}

/** Actions that name instances in `InstanceId.N` and are authorized on each of them. */
const INSTANCE_ACTIONS = new Set(['RebootInstances', 'StopInstances', 'StartInstances', 'TerminateInstances']);

/**
 * The authorization checks of one EC2 Query request, as AWS builds them (Service Authorization Reference for Amazon
 * EC2): Describe* on `*`; actions on existing resources on each resource's ARN with its tags; creating actions on the
 * new resources' `…/*` ARNs with the request tags. Reads the parameters only: a malformed request throws the same
 * `Ec2ApiError` its handler would.
 */
export function ec2AuthorizationChecks(
  action: string,
  params: QueryParams,
  scope: RequestScope,
  lookup: Ec2ResourceLookup,
): Ec2RequestChecks {
  const ec2Action = `ec2:${action}`;
  const region = { 'ec2:Region': scope.region };
  const withRegion = (checks: AuthorizationCheck[]): AuthorizationCheck[] =>
    checks.map((check) => ({ ...check, context: { ...region, ...check.context } }));
  const only = (required: AuthorizationCheck[]): Ec2RequestChecks => ({
    required: withRegion(required),
    snapshotDeletions: [],
  });
  switch (action) {
    case 'CreateImage': {
      const instanceId = params.requiredString('InstanceId');
      return only([
        ...onResource(ec2Action, instanceId, scope, lookup),
        ...onNewResource(action, 'image', tagsFor(params, 'image'), scope),
        ...onNewResource(action, 'snapshot', tagsFor(params, 'snapshot'), scope),
      ]);
    }
    case 'RunInstances': {
      // Authorized on each resource the launch uses or creates (Service Authorization Reference, RunInstances): the
      // image with its tags, the subnet and security groups, and the new instance, volumes and network interface with
      // the request's tags; tagging on creation as ec2:CreateTags with ec2:CreateAction.
      const imageId = params.requiredString('ImageId');
      const network = launchNetwork(params);
      const account = `arn:aws:ec2:${scope.region}:${scope.account}`;
      const instanceTags = tagsFor(params, 'instance');
      const volumeTags = tagsFor(params, 'volume');
      const created = (type: string, tags: readonly TagInput[]): AuthorizationCheck[] => {
        const resource = `${account}:${type}/*`;
        const context = requestTagContext(tags, true);
        const launch = { action: ec2Action, resource, context };
        if (tags.length === 0) return [launch];
        return [launch, { action: 'ec2:CreateTags', resource, context: { ...context, 'ec2:CreateAction': action } }];
      };
      return only([
        ...onResource(ec2Action, imageId, scope, lookup),
        { action: ec2Action, resource: `${account}:subnet/${network.subnetId ?? '*'}`, context: {} },
        ...(network.securityGroupIds ?? ['*']).map((groupId) => ({
          action: ec2Action,
          resource: `${account}:security-group/${groupId}`,
          context: {},
        })),
        { action: ec2Action, resource: `${account}:network-interface/*`, context: {} },
        ...created('instance', instanceTags),
        ...created('volume', volumeTags),
      ]);
    }
    case 'CopyImage': {
      // The source image in its own Region (resource-level permissions on the source since October 2024, User Guide,
      // "Grant permissions to copy AMIs"), then the new image and snapshots here with the tags they get on creation.
      // The source's keys are ec2:ImageID and ec2:Owner (no resource tags: Service Authorization Reference, CopyImage);
      // its owner is known here for a copy within this Region (the lookup is this Region's).
      const sourceImageId = params.requiredString('SourceImageId');
      const sourceRegion = params.requiredString('SourceRegion');
      const source = ec2Arn({ ...scope, region: sourceRegion }, sourceImageId);
      const sourceImage = sourceRegion === scope.region ? lookup.imageOf(sourceImageId) : undefined;
      const sourceContext = {
        'ec2:ImageID': sourceImageId,
        ...(sourceImage === undefined ? {} : { 'ec2:Owner': sourceImage.owner }),
      };
      return only([
        ...(source === undefined ? [] : [{ action: ec2Action, resource: source, context: sourceContext }]),
        ...onNewResource(action, 'image', tagsFor(params, 'image'), scope),
        ...onNewResource(action, 'snapshot', tagsFor(params, 'snapshot'), scope),
      ]);
    }
    case 'CreateTags':
    case 'DeleteTags': {
      const tagContext = requestTagContext(params.tags(), action === 'CreateTags');
      return only(params.list('ResourceId').flatMap((id) => onResource(ec2Action, id, scope, lookup, tagContext)));
    }
    case 'DeregisterImage': {
      const imageId = params.requiredString('ImageId');
      const deleteSnapshots = params.boolean('DeleteAssociatedSnapshots') ?? false;
      return {
        required: withRegion(onResource(ec2Action, imageId, scope, lookup)),
        snapshotDeletions: deleteSnapshots
          ? lookup.snapshotIdsOf(imageId).flatMap((snapshotId) =>
              withRegion(onResource('ec2:DeleteSnapshot', snapshotId, scope, lookup)).map((check) => ({
                snapshotId,
                check,
              })),
            )
          : [],
      };
    }
    case 'ModifyImageAttribute':
    case 'DescribeImageAttribute': {
      // The image's own keys (Service Authorization Reference, Amazon EC2: ModifyImageAttribute has no request key
      // for the accounts or group added; ec2:Attribute names the attribute changed).
      const imageId = params.requiredString('ImageId');
      const image = lookup.imageOf(imageId);
      const attribute =
        params.string('Attribute') ??
        ((params.string('LaunchPermission.Add.1.UserId') ??
        params.string('LaunchPermission.Add.1.Group') ??
        params.string('LaunchPermission.Remove.1.UserId') ??
        params.string('LaunchPermission.Remove.1.Group') ??
        params.string('OperationType'))
          ? 'launchPermission'
          : params.string('Description.Value') === undefined
            ? undefined
            : 'description');
      return only(
        onResource(ec2Action, imageId, scope, lookup, {
          'ec2:ImageID': imageId,
          'ec2:ImageType': 'machine',
          'ec2:RootDeviceType': 'ebs',
          ...(image === undefined ? {} : { 'ec2:Owner': image.owner, 'ec2:Public': String(image.isPublic) }),
          ...(action === 'ModifyImageAttribute' && attribute !== undefined ? { 'ec2:Attribute': attribute } : {}),
        }),
      );
    }
    case 'ModifySnapshotAttribute':
    case 'DescribeSnapshotAttribute': {
      // ModifySnapshotAttribute tells IAM whom it shares with: ec2:Add/userId, ec2:Add/group (`all`: public) and the
      // Remove twins (Service Authorization Reference, Amazon EC2).
      const snapshotId = params.requiredString('SnapshotId');
      const snapshot = lookup.snapshotOf(snapshotId);
      const extra: Record<string, string | string[]> = {
        'ec2:SnapshotID': snapshotId,
        ...(snapshot === undefined
          ? {}
          : { 'ec2:Owner': snapshot.owner, 'ec2:VolumeSize': String(snapshot.volumeSize) }),
      };
      if (action === 'ModifySnapshotAttribute') {
        const change = permissionChange(params, 'CreateVolumePermission');
        extra['ec2:Attribute'] = params.string('Attribute') ?? 'createVolumePermission';
        const keys: [string, string[]][] = [
          ['ec2:Add/userId', change.addUserIds],
          ['ec2:Add/group', change.addGroups],
          ['ec2:Remove/userId', change.removeUserIds],
          ['ec2:Remove/group', change.removeGroups],
        ];
        for (const [key, values] of keys) if (values.length > 0) extra[key] = values;
      }
      return only(onResource(ec2Action, snapshotId, scope, lookup, extra));
    }
    case 'DeleteSnapshot':
      return only(onResource(ec2Action, params.requiredString('SnapshotId'), scope, lookup));
    case 'EnableImageDeprecation':
      return only(onResource(ec2Action, params.requiredString('ImageId'), scope, lookup));
    default:
      if (INSTANCE_ACTIONS.has(action)) {
        return only(params.list('InstanceId').flatMap((id) => onResource(ec2Action, id, scope, lookup)));
      }
      // Describe* have no resource-level permissions: authorized on `*`.
      return only([{ action: ec2Action, resource: '*', context: {} }]);
  }
}

/** The default event bus when an entry names none. */
const DEFAULT_EVENT_BUS = 'default';

/**
 * The checks of a PutEvents request: `events:PutEvents` on each entry's event bus, with `events:source` and
 * `events:detail-type` of the entry. A body that cannot be read is checked against the default bus alone (its
 * handler then answers the error).
 */
/**
 * The checks of an EventBridge request: PutEvents on each entry's bus; the rule calls on the rule of the default bus
 * they name (`events:<Action>`).
 */
export function eventBridgeChecks(target: string, body: string, scope: RequestScope): AuthorizationCheck[] {
  const action = target.slice(target.indexOf('.') + 1);
  if (action === 'PutEvents') return putEventsChecks(body, scope);
  let name: unknown;
  try {
    const request: unknown = JSON.parse(body);
    name = typeof request === 'object' && request !== null && 'Name' in request ? request.Name : undefined;
  } catch {
    name = undefined;
  }
  const rule = typeof name === 'string' ? name : '*';
  return [
    {
      action: `events:${action}`,
      resource: `arn:aws:events:${scope.region}:${scope.account}:rule/${rule}`,
      context: {},
    },
  ];
}

export function putEventsChecks(body: string, scope: RequestScope): AuthorizationCheck[] {
  const busArn = (name: unknown): string => {
    const bus = typeof name === 'string' && name !== '' ? name : DEFAULT_EVENT_BUS;
    return bus.startsWith('arn:') ? bus : `arn:aws:events:${scope.region}:${scope.account}:event-bus/${bus}`;
  };
  let entries: unknown;
  try {
    const request: unknown = JSON.parse(body);
    entries = typeof request === 'object' && request !== null && 'Entries' in request ? request.Entries : undefined;
  } catch {
    entries = undefined;
  }
  if (!Array.isArray(entries) || entries.length === 0) {
    return [{ action: 'events:PutEvents', resource: busArn(undefined), context: {} }];
  }
  return entries.map((raw: unknown) => {
    const entry = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
    const context: Record<string, string> = {};
    if (typeof entry.Source === 'string') context['events:source'] = entry.Source;
    if (typeof entry.DetailType === 'string') context['events:detail-type'] = entry.DetailType;
    return { action: 'events:PutEvents', resource: busArn(entry.EventBusName), context };
  });
}
