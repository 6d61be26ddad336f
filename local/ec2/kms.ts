import { createHash, randomBytes } from 'node:crypto';
import type { JsonResponse } from './eventbridge';

/**
 * A minimal AWS KMS (JSON 1.1 protocol, `X-Amz-Target: TrentService.<Action>`): keys, aliases and grants per account
 * and Region, enough for EC2's encrypted snapshots and their sharing with other accounts. No cryptography: keys are
 * records, and who may use one is what matters.
 */

/** The operations a grant may allow (KMS API reference, CreateGrant `Operations`). */
const GRANT_OPERATIONS: ReadonlySet<string> = new Set([
  'Decrypt',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'ReEncryptFrom',
  'ReEncryptTo',
  'Sign',
  'Verify',
  'GetPublicKey',
  'CreateGrant',
  'RetireGrant',
  'DescribeKey',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'GenerateMac',
  'VerifyMac',
  'DeriveSharedSecret',
]);

/**
 * What EBS needs of a key to restore a volume encrypted with it for an account: "kms:CreateGrant permissions to create a
 * grant for Amazon EC2. The grant allows Amazon EC2 to decrypt the volume's data key" (AWS knowledge center, "EC2
 * instance stopped: KMS permissions", kms-iam-ec2-permission).
 */
export const KEY_USE_FOR_VOLUMES: readonly string[] = ['CreateGrant', 'Decrypt'];

/** The alias of the AWS managed key EBS encrypts with when no key is named. */
export const EBS_MANAGED_ALIAS = 'alias/aws/ebs';

export interface KmsKey {
  readonly keyId: string;
  readonly arn: string;
  readonly account: string;
  readonly region: string;
  readonly keyManager: 'AWS' | 'CUSTOMER';
  readonly description: string;
  readonly creationDate: number;
  /** The key policy as given to CreateKey; absent: the default policy (the account alone). */
  readonly policy: string | undefined;
}

export interface KmsGrant {
  readonly grantId: string;
  readonly grantToken: string;
  readonly keyArn: string;
  readonly name: string | undefined;
  readonly granteePrincipal: string;
  readonly retiringPrincipal: string | undefined;
  readonly operations: readonly string[];
  readonly issuingAccount: string;
  readonly creationDate: number;
}

interface KmsAlias {
  readonly name: string;
  readonly keyId: string;
  readonly creationDate: number;
}

/** A key id in KMS's form (a UUID) made from a name: the same name, the same id. */
function keyIdOf(name: string): string {
  const hex = createHash('sha256').update(name).digest('hex');
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20, 32)].join('-');
}

/** The key id of the AWS managed EBS key of an account and Region: stable, so snapshots keep naming it. */
export function ebsManagedKeyId(account: string, region: string): string {
  return keyIdOf(`${account}/${region}/aws/ebs`);
}

/**
 * The id of the `number`th key CreateKey makes for an account in a Region (from 1). KMS makes random ids; here the
 * same requests give the same ids, so that a deployment naming a key by its ARN is the same deployment run after run.
 */
export function customerKeyId(account: string, region: string, number: number): string {
  return keyIdOf(`${account}/${region}/key/${number}`);
}

/** The account of an ARN (`arn:aws:<service>:<region>:<account>:…`). */
const arnAccount = (arn: string): string | undefined => arn.split(':')[4] || undefined;

class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const notFound = (what: string): KmsError => new KmsError('NotFoundException', `${what} is not found.`);

/** One account's keys, aliases and grants in one Region. */
class KeyStore {
  readonly keys = new Map<string, KmsKey>();
  readonly aliases = new Map<string, KmsAlias>();
  readonly grants = new Map<string, KmsGrant>();
  /** Keys CreateKey made so far. */
  created = 0;

  constructor(
    readonly account: string,
    readonly region: string,
    now: number,
  ) {
    // The AWS managed key for EBS is there from the start (AWS creates it on first use; its id never changes).
    const keyId = ebsManagedKeyId(account, region);
    this.keys.set(keyId, {
      keyId,
      arn: `arn:aws:kms:${region}:${account}:key/${keyId}`,
      account,
      region,
      keyManager: 'AWS',
      description: 'Default key that protects my EBS volumes when no other key is defined',
      creationDate: now,
      policy: undefined,
    });
    this.aliases.set(EBS_MANAGED_ALIAS, { name: EBS_MANAGED_ALIAS, keyId, creationDate: now });
  }
}

/** What a key policy statement allows, read plainly: `Allow`, an AWS principal, actions with `*` wildcards. */
function policyAllows(policy: string, account: string, action: string): boolean {
  let document: unknown;
  try {
    document = JSON.parse(policy);
  } catch {
    return false;
  }
  const statements = (document as { Statement?: unknown }).Statement;
  const list = Array.isArray(statements) ? statements : [statements];
  const strings = (value: unknown): string[] =>
    typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
  const matches = (pattern: string, value: string): boolean =>
    new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i').test(value);
  return list.some((raw: unknown) => {
    if (typeof raw !== 'object' || raw === null) return false;
    const statement = raw as Record<string, unknown>;
    // A statement with conditions is not evaluated here: it grants nothing.
    if (statement.Effect !== 'Allow' || statement.Condition !== undefined) return false;
    const principal = statement.Principal;
    const principals =
      principal === '*'
        ? ['*']
        : strings(
            typeof principal === 'object' && principal !== null ? (principal as { AWS?: unknown }).AWS : undefined,
          );
    const forAccount = principals.some(
      (entry) => entry === '*' || entry === account || entry === `arn:aws:iam::${account}:root`,
    );
    return forAccount && strings(statement.Action).some((pattern) => matches(pattern, `kms:${action}`));
  });
}

/** Every account's keys, aliases and grants in every Region, as plain data (saved with the EC2 state). */
export interface KmsState {
  readonly stores: readonly {
    readonly account: string;
    readonly region: string;
    readonly keys: readonly KmsKey[];
    readonly aliases: readonly KmsAlias[];
    readonly grants: readonly KmsGrant[];
    readonly created: number;
  }[];
}

/** Every account's KMS in every Region. */
export class LocalKms {
  private readonly stores = new Map<string, KeyStore>();

  constructor(private readonly now: () => number) {}

  exportState(): KmsState {
    return {
      stores: [...this.stores.values()].map((store) => ({
        account: store.account,
        region: store.region,
        keys: [...store.keys.values()],
        aliases: [...store.aliases.values()],
        grants: [...store.grants.values()],
        created: store.created,
      })),
    };
  }

  /** Replaces every store with the state given (as {@link exportState} gave it). */
  importState(state: KmsState): void {
    this.stores.clear();
    for (const saved of state.stores) {
      const store = this.store(saved.account, saved.region);
      store.keys.clear();
      store.aliases.clear();
      for (const key of saved.keys) store.keys.set(key.keyId, key);
      for (const alias of saved.aliases) store.aliases.set(alias.name, alias);
      for (const grant of saved.grants) store.grants.set(grant.grantId, grant);
      store.created = saved.created;
    }
  }

  private store(account: string, region: string): KeyStore {
    const name = `${account}/${region}`;
    let store = this.stores.get(name);
    if (store === undefined) {
      store = new KeyStore(account, region, this.now());
      this.stores.set(name, store);
    }
    return store;
  }

  /** The key a KeyId names for a caller (key id, key ARN, alias name, alias ARN), or undefined. */
  findKey(caller: string, region: string, keyIdentifier: string): KmsKey | undefined {
    if (keyIdentifier.startsWith('arn:')) {
      const [, , , arnRegion = '', account = '', resource = ''] = keyIdentifier.split(':');
      const store = this.store(account, arnRegion);
      if (resource.startsWith('key/')) return store.keys.get(resource.slice('key/'.length));
      const alias = store.aliases.get(resource);
      return alias === undefined ? undefined : store.keys.get(alias.keyId);
    }
    const store = this.store(caller, region);
    if (keyIdentifier.startsWith('alias/')) {
      const alias = store.aliases.get(keyIdentifier);
      return alias === undefined ? undefined : store.keys.get(alias.keyId);
    }
    return store.keys.get(keyIdentifier);
  }

  /**
   * Whether an account may call an operation on a key: its own account always (the default key policy), another one
   * through a grant to one of its principals or the key's policy; an AWS managed key never for another account.
   */
  allows(account: string, key: KmsKey, operation: string): boolean {
    if (key.account === account) return true;
    if (key.keyManager === 'AWS') return false;
    if (key.policy !== undefined && policyAllows(key.policy, account, operation)) return true;
    const store = this.store(key.account, key.region);
    return [...store.grants.values()].some(
      (grant) =>
        grant.keyArn === key.arn &&
        arnAccount(grant.granteePrincipal) === account &&
        grant.operations.includes(operation),
    );
  }

  /** Whether EBS may restore a volume encrypted with this key (by ARN) for an account. */
  mayUseForVolumes(account: string, keyArn: string): boolean {
    const region = keyArn.split(':')[3] ?? '';
    const key = this.findKey(account, region, keyArn);
    return key !== undefined && KEY_USE_FOR_VOLUMES.every((operation) => this.allows(account, key, operation));
  }

  /** The grants of a key (tests). */
  grantsOf(keyArn: string): readonly KmsGrant[] {
    const [, , , region = '', account = ''] = keyArn.split(':');
    return [...this.store(account, region).grants.values()].filter((grant) => grant.keyArn === keyArn);
  }

  /** Serves one request of `account` in `region`. */
  handle(target: string, body: string, account: string, region: string): JsonResponse {
    const action = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : '';
    let request: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(body === '' ? '{}' : body);
      if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
      request = parsed as Record<string, unknown>;
    } catch {
      return error('SerializationException', 'The request body is not valid JSON.');
    }
    try {
      return { status: 200, body: this.serve(action, request, account, region) };
    } catch (err: unknown) {
      if (err instanceof KmsError) return error(err.type, err.message);
      throw err;
    }
  }

  private serve(action: string, request: Record<string, unknown>, account: string, region: string): unknown {
    const text = (name: string): string | undefined =>
      typeof request[name] === 'string' ? (request[name] as string) : undefined;
    const required = (name: string): string => {
      const value = text(name);
      if (value === undefined || value === '') {
        throw new KmsError(
          'ValidationException',
          `1 validation error detected: Value null at '${lowerFirst(name)}' failed to satisfy constraint: Member must not be null`,
        );
      }
      return value;
    };
    const store = this.store(account, region);
    /** The key a request names, which the caller must be allowed `operation` on. */
    const keyFor = (operation: string): KmsKey => {
      const identifier = required('KeyId');
      const key = this.findKey(account, region, identifier);
      if (key === undefined) throw notFound(`Key '${identifier}'`);
      if (!this.allows(account, key, operation)) {
        throw new KmsError(
          'AccessDeniedException',
          `User: arn:aws:iam::${account}:root is not authorized to perform: kms:${operation} on resource: ${key.arn}`,
        );
      }
      return key;
    };
    switch (action) {
      case 'CreateKey': {
        store.created += 1;
        const keyId = customerKeyId(account, region, store.created);
        const key: KmsKey = {
          keyId,
          arn: `arn:aws:kms:${region}:${account}:key/${keyId}`,
          account,
          region,
          keyManager: 'CUSTOMER',
          description: text('Description') ?? '',
          creationDate: this.now(),
          policy: text('Policy'),
        };
        store.keys.set(keyId, key);
        return { KeyMetadata: keyMetadata(key) };
      }
      case 'DescribeKey':
        return { KeyMetadata: keyMetadata(keyFor('DescribeKey')) };
      case 'CreateAlias': {
        const name = required('AliasName');
        if (!/^alias\/[a-zA-Z0-9/_-]+$/.test(name) || name.startsWith('alias/aws/')) {
          throw new KmsError('InvalidAliasNameException', `Alias ${name} is not valid (alias/aws/ is reserved).`);
        }
        if (store.aliases.has(name)) {
          throw new KmsError(
            'AlreadyExistsException',
            `An alias with the name arn:aws:kms:${region}:${account}:${name} already exists`,
          );
        }
        const target = required('TargetKeyId');
        const key = this.findKey(account, region, target);
        if (key === undefined) throw notFound(`Key '${target}'`);
        if (key.account !== account) throw notFound(`Key '${key.arn}'`); // aliases name keys of their own account
        store.aliases.set(name, { name, keyId: key.keyId, creationDate: this.now() });
        return {};
      }
      case 'ListAliases': {
        const key = text('KeyId') === undefined ? undefined : keyFor('ListAliases');
        const aliases = [...store.aliases.values()].filter((alias) => key === undefined || alias.keyId === key.keyId);
        return {
          Aliases: aliases.map((alias) => ({
            AliasName: alias.name,
            AliasArn: `arn:aws:kms:${region}:${account}:${alias.name}`,
            TargetKeyId: alias.keyId,
            CreationDate: alias.creationDate / 1000,
            LastUpdatedDate: alias.creationDate / 1000,
          })),
          Truncated: false,
        };
      }
      case 'CreateGrant': {
        const key = keyFor('CreateGrant');
        if (key.keyManager === 'AWS') {
          // The AWS managed key's policy allows grants only through the AWS service that uses it.
          throw new KmsError(
            'AccessDeniedException',
            `User: arn:aws:iam::${account}:root is not authorized to perform: kms:CreateGrant on resource: ${key.arn}`,
          );
        }
        const granteePrincipal = required('GranteePrincipal');
        const operations = request.Operations;
        if (
          !Array.isArray(operations) ||
          operations.length === 0 ||
          !operations.every((operation) => typeof operation === 'string' && GRANT_OPERATIONS.has(operation))
        ) {
          throw new KmsError(
            'ValidationException',
            `Operations must be a non-empty list of: ${[...GRANT_OPERATIONS].join(', ')}`,
          );
        }
        const name = text('Name');
        const keyStore = this.store(key.account, key.region);
        const same = [...keyStore.grants.values()].find(
          (grant) =>
            name !== undefined &&
            grant.name === name &&
            grant.keyArn === key.arn &&
            grant.granteePrincipal === granteePrincipal &&
            JSON.stringify(grant.operations) === JSON.stringify(operations),
        );
        // A grant of the same name and parameters is the same grant (KMS: CreateGrant is idempotent by name).
        const grant: KmsGrant = same ?? {
          grantId: randomBytes(32).toString('hex'),
          grantToken: randomBytes(48).toString('base64url'),
          keyArn: key.arn,
          name,
          granteePrincipal,
          retiringPrincipal: text('RetiringPrincipal'),
          operations: operations as string[],
          issuingAccount: `arn:aws:iam::${account}:root`,
          creationDate: this.now(),
        };
        keyStore.grants.set(grant.grantId, grant);
        return { GrantId: grant.grantId, GrantToken: grant.grantToken };
      }
      case 'ListGrants': {
        const key = keyFor('ListGrants');
        const grantId = text('GrantId');
        const grantee = text('GranteePrincipal');
        const grants = this.grantsOf(key.arn).filter(
          (grant) =>
            (grantId === undefined || grant.grantId === grantId) &&
            (grantee === undefined || grant.granteePrincipal === grantee),
        );
        return { Grants: grants.map(grantEntry), Truncated: false };
      }
      case 'RevokeGrant': {
        const key = keyFor('RevokeGrant');
        this.removeGrant(key, required('GrantId'));
        return {};
      }
      case 'RetireGrant': {
        // By its token, or by key and grant id; the retiring principal, the grantee or the key's account may.
        const token = text('GrantToken');
        const grant =
          token === undefined
            ? this.grantsOf(keyFor('RetireGrant').arn).find((entry) => entry.grantId === required('GrantId'))
            : [...this.stores.values()]
                .flatMap((each) => [...each.grants.values()])
                .find((entry) => entry.grantToken === token);
        if (grant === undefined) throw notFound('Grant');
        const mayRetire = [
          grant.retiringPrincipal,
          grant.granteePrincipal,
          `arn:aws:iam::${arnAccount(grant.keyArn)}:root`,
        ].some((principal) => principal !== undefined && arnAccount(principal) === account);
        if (!mayRetire) {
          throw new KmsError(
            'AccessDeniedException',
            `User: arn:aws:iam::${account}:root may not retire grant ${grant.grantId}`,
          );
        }
        const [, , , keyRegion = '', keyAccount = ''] = grant.keyArn.split(':');
        this.store(keyAccount, keyRegion).grants.delete(grant.grantId);
        return {};
      }
      default:
        throw new KmsError('UnknownOperationException', `The operation ${action} is not supported here.`);
    }
  }

  private removeGrant(key: KmsKey, grantId: string): void {
    const store = this.store(key.account, key.region);
    const grant = store.grants.get(grantId);
    if (grant === undefined || grant.keyArn !== key.arn) {
      throw new KmsError('InvalidGrantIdException', `Grant ID ${grantId} is not valid for key ${key.arn}.`);
    }
    store.grants.delete(grantId);
  }
}

const lowerFirst = (name: string): string => name.charAt(0).toLowerCase() + name.slice(1);

const error = (type: string, message: string): JsonResponse => ({
  status: type === 'KMSInternalException' ? 500 : 400,
  body: { __type: type, message },
  errorType: type,
});

/** KeyMetadata as DescribeKey and CreateKey answer it (timestamps in epoch seconds, as the JSON protocol has them). */
function keyMetadata(key: KmsKey): Record<string, unknown> {
  return {
    AWSAccountId: key.account,
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: key.creationDate / 1000,
    Enabled: true,
    Description: key.description,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: 'Enabled',
    Origin: 'AWS_KMS',
    KeyManager: key.keyManager,
    CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
    KeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
  };
}

function grantEntry(grant: KmsGrant): Record<string, unknown> {
  return {
    KeyId: grant.keyArn,
    GrantId: grant.grantId,
    ...(grant.name === undefined ? {} : { Name: grant.name }),
    CreationDate: grant.creationDate / 1000,
    GranteePrincipal: grant.granteePrincipal,
    ...(grant.retiringPrincipal === undefined ? {} : { RetiringPrincipal: grant.retiringPrincipal }),
    IssuingAccount: grant.issuingAccount,
    Operations: [...grant.operations],
  };
}
