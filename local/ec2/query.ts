import { invalidParameterValue, missingParameter } from './errors';

export interface Filter {
  name: string;
  values: string[];
}

export interface TagInput {
  key: string;
  /** Absent in DeleteTags means "whatever the value". */
  value: string | undefined;
}

export interface TagSpecification {
  resourceType: string;
  tags: TagInput[];
}

export interface BlockDeviceMappingInput {
  deviceName: string;
  volumeSize: number | undefined;
  volumeType: string | undefined;
  deleteOnTermination: boolean | undefined;
  encrypted: boolean | undefined;
  kmsKeyId: string | undefined;
}

/**
 * The parameters of one EC2 Query request (form-encoded): flattened 1-based lists (`InstanceId.1`) and dotted
 * structures (`Filter.1.Value.2`), read by the names the SDK serialises.
 */
export class QueryParams {
  constructor(private readonly params: URLSearchParams) {}

  static parse(body: string): QueryParams {
    return new QueryParams(new URLSearchParams(body));
  }

  string(name: string): string | undefined {
    return this.params.get(name) ?? undefined;
  }

  requiredString(name: string): string {
    const value = this.string(name);
    if (value === undefined || value === '') throw missingParameter(name);
    return value;
  }

  boolean(name: string): boolean | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (value === 'true') return true;
    if (value === 'false') return false;
    throw invalidParameterValue(`Value (${value}) for parameter ${name} is invalid. Expected a boolean.`);
  }

  integer(name: string): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!/^-?\d+$/.test(value)) {
      throw invalidParameterValue(`Value (${value}) for parameter ${name} is invalid. Expected an integer.`);
    }
    return Number(value);
  }

  /** `prefix.1`, `prefix.2`, … up to the first missing index. */
  list(prefix: string): string[] {
    const values: string[] = [];
    for (let index = 1; ; index++) {
      const value = this.string(`${prefix}.${index}`);
      if (value === undefined) return values;
      values.push(value);
    }
  }

  /** How many `prefix.N.*` structures the request holds (1-based, contiguous). */
  private structureCount(prefix: string): number {
    const indexes = new Set<number>();
    const start = `${prefix}.`;
    for (const key of this.params.keys()) {
      if (!key.startsWith(start)) continue;
      const index = Number.parseInt(key.slice(start.length), 10);
      if (index > 0) indexes.add(index);
    }
    let count = 0;
    while (indexes.has(count + 1)) count++;
    return count;
  }

  filters(): Filter[] {
    const filters: Filter[] = [];
    for (let index = 1; index <= this.structureCount('Filter'); index++) {
      filters.push({ name: this.requiredString(`Filter.${index}.Name`), values: this.list(`Filter.${index}.Value`) });
    }
    return filters;
  }

  tags(prefix = 'Tag'): TagInput[] {
    const tags: TagInput[] = [];
    for (let index = 1; index <= this.structureCount(prefix); index++) {
      const key = this.string(`${prefix}.${index}.Key`);
      if (key === undefined) throw missingParameter(`${prefix}.${index}.Key`);
      tags.push({ key, value: this.string(`${prefix}.${index}.Value`) });
    }
    return tags;
  }

  tagSpecifications(): TagSpecification[] {
    const specifications: TagSpecification[] = [];
    for (let index = 1; index <= this.structureCount('TagSpecification'); index++) {
      specifications.push({
        resourceType: this.requiredString(`TagSpecification.${index}.ResourceType`),
        tags: this.tags(`TagSpecification.${index}.Tag`),
      });
    }
    return specifications;
  }

  blockDeviceMappings(): BlockDeviceMappingInput[] {
    const mappings: BlockDeviceMappingInput[] = [];
    for (let index = 1; index <= this.structureCount('BlockDeviceMapping'); index++) {
      const prefix = `BlockDeviceMapping.${index}`;
      mappings.push({
        deviceName: this.requiredString(`${prefix}.DeviceName`),
        volumeSize: this.integer(`${prefix}.Ebs.VolumeSize`),
        volumeType: this.string(`${prefix}.Ebs.VolumeType`),
        deleteOnTermination: this.boolean(`${prefix}.Ebs.DeleteOnTermination`),
        encrypted: this.boolean(`${prefix}.Ebs.Encrypted`),
        kmsKeyId: this.string(`${prefix}.Ebs.KmsKeyId`),
      });
    }
    return mappings;
  }
}

/** A launch or create-volume permission change: accounts and groups (only `all`) to add and to remove. */
export interface PermissionChange {
  addUserIds: string[];
  addGroups: string[];
  removeUserIds: string[];
  removeGroups: string[];
}

/**
 * ModifyImageAttribute's `LaunchPermission.Add.N.UserId`/`.Group` (and `Remove`), or the older form `OperationType`
 * with `UserId.N` and `UserGroup.N`; ModifySnapshotAttribute's the same under `CreateVolumePermission`.
 */
export function permissionChange(params: QueryParams, structure: string): PermissionChange {
  const entries = (operation: 'Add' | 'Remove', field: 'UserId' | 'Group'): string[] => {
    const values: string[] = [];
    for (let index = 1; ; index++) {
      const prefix = `${structure}.${operation}.${index}`;
      const userId = params.string(`${prefix}.UserId`);
      const group = params.string(`${prefix}.Group`);
      if (userId === undefined && group === undefined) return values;
      const value = field === 'UserId' ? userId : group;
      if (value !== undefined) values.push(value);
    }
  };
  const change: PermissionChange = {
    addUserIds: entries('Add', 'UserId'),
    addGroups: entries('Add', 'Group'),
    removeUserIds: entries('Remove', 'UserId'),
    removeGroups: entries('Remove', 'Group'),
  };
  const operation = params.string('OperationType');
  if (operation !== undefined) {
    if (operation !== 'add' && operation !== 'remove') {
      throw invalidParameterValue(`Value (${operation}) for parameter operationType is invalid.`);
    }
    const side = operation === 'add' ? 'add' : 'remove';
    change[`${side}UserIds`].push(...params.list('UserId'));
    change[`${side}Groups`].push(...params.list('UserGroup'));
  }
  return change;
}
