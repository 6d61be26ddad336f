/**
 * The KMS calls sharing needs, on the keys the deployment names: who manages a key (an AWS managed key cannot be
 * shared), the service's grants on a key, and creating and revoking them. Every call ends within the invocation's
 * remaining time.
 */
import {
  CreateGrantCommand,
  DescribeKeyCommand,
  type KMSClient,
  paginateListGrants,
  RevokeGrantCommand,
} from '@aws-sdk/client-kms';
import { accountOfGrant, type GrantRequest, type KeyManager, type ServiceGrant } from './decisions/sharing';
import { errorMessage, withinDeadline } from './errors';

/** The partition of a key's ARN (`arn:<partition>:kms:…`), for the grantee's ARN. */
function partitionOf(keyArn: string): string {
  return /^arn:([^:]+):/.exec(keyArn)?.[1] ?? 'aws';
}

export class KmsGateway {
  constructor(
    private readonly client: KMSClient,
    /** The invocation's remaining time: the SDK's retries end within it. */
    private readonly remainingMs?: () => number,
  ) {}

  forInvocation(remainingMs: () => number): KmsGateway {
    return new KmsGateway(this.client, remainingMs);
  }

  /**
   * Who manages each key (DescribeKey `KeyManager`). A key that cannot be described is left out, with why: sharing
   * treats it as one it may not grant.
   */
  async keyManagers(
    keyIds: readonly string[],
  ): Promise<{ managers: Map<string, KeyManager>; failures: Map<string, string> }> {
    const managers = new Map<string, KeyManager>();
    const failures = new Map<string, string>();
    for (const keyId of new Set(keyIds)) {
      try {
        const { KeyMetadata } = await this.within(() => this.client.send(new DescribeKeyCommand({ KeyId: keyId })));
        const manager = KeyMetadata?.KeyManager;
        if (manager === 'AWS' || manager === 'CUSTOMER') managers.set(keyId, manager);
      } catch (error: unknown) {
        failures.set(keyId, errorMessage(error));
      }
    }
    return { managers, failures };
  }

  /** The service's grants on a key: those whose name is the owner's and an account's (see `grantName`). */
  serviceGrants(keyId: string, owner: string): Promise<ServiceGrant[]> {
    return this.within(async () => {
      const grants: ServiceGrant[] = [];
      for await (const page of paginateListGrants({ client: this.client }, { KeyId: keyId })) {
        for (const grant of page.Grants ?? []) {
          const account = accountOfGrant(owner, grant.Name);
          if (account !== undefined && grant.GrantId !== undefined) {
            grants.push({ keyId, grantId: grant.GrantId, account });
          }
        }
      }
      return grants;
    });
  }

  /**
   * Grants an account (its root principal: the account's administrators delegate it) the operations on a key. The
   * name makes a repeated request return the same grant.
   */
  async createGrant(request: GrantRequest): Promise<void> {
    await this.within(() =>
      this.client.send(
        new CreateGrantCommand({
          KeyId: request.keyId,
          GranteePrincipal: `arn:${partitionOf(request.keyId)}:iam::${request.account}:root`,
          Operations: [...request.operations],
          Name: request.name,
        }),
      ),
    );
  }

  async revokeGrant(grant: ServiceGrant): Promise<void> {
    await this.within(() => this.client.send(new RevokeGrantCommand({ KeyId: grant.keyId, GrantId: grant.grantId })));
  }

  private within<T>(call: () => Promise<T>): Promise<T> {
    return withinDeadline(this.remainingMs, call);
  }
}
