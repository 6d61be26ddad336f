import {
  CreateGrantCommand,
  DescribeKeyCommand,
  KMSClient,
  ListGrantsCommand,
  NotFoundException,
  RevokeGrantCommand,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { GRANT_OPERATIONS, grantName } from '../../../lib/decisions/sharing';
import { KmsGateway } from '../../../lib/kms-gateway';

const kms = mockClient(KMSClient);
const OWNER = 'ami-backup-test';
const TEAM = '111122223333';
const KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const CHINA_KEY = 'arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

beforeEach(() => {
  kms.reset();
});

describe('KmsGateway', () => {
  it('reads who manages each key, once per key, and says which could not be described', async () => {
    // Prepare
    const managed = 'arn:aws:kms:us-east-1:123456789012:key/aws-managed';
    const gone = 'arn:aws:kms:us-east-1:123456789012:key/gone';
    kms
      .on(DescribeKeyCommand, { KeyId: KEY })
      .resolves({ KeyMetadata: { KeyId: 'k', KeyManager: 'CUSTOMER' } })
      .on(DescribeKeyCommand, { KeyId: managed })
      .resolves({ KeyMetadata: { KeyId: 'm', KeyManager: 'AWS' } })
      .on(DescribeKeyCommand, { KeyId: gone })
      .rejects(new NotFoundException({ message: 'Key not found', $metadata: {} }));

    // Act
    const { managers, failures } = await new KmsGateway(new KMSClient({})).keyManagers([KEY, managed, gone, KEY]);

    // Assess
    expect(managers).toEqual(
      new Map([
        [KEY, 'CUSTOMER'],
        [managed, 'AWS'],
      ]),
    );
    expect([...failures.keys()]).toEqual([gone]);
    expect(kms.commandCalls(DescribeKeyCommand)).toHaveLength(3);
  });

  it("lists only the service's own grants, with the account each is for, over every page", async () => {
    // Prepare
    kms
      .on(ListGrantsCommand, { KeyId: KEY, Marker: undefined })
      .resolves({
        Grants: [
          { GrantId: 'g1', Name: grantName(OWNER, TEAM) },
          { GrantId: 'g2', Name: 'someone-elses' },
          { GrantId: 'g3', Name: `${OWNER}-all` },
        ],
        Truncated: true,
        NextMarker: 'next',
      })
      .on(ListGrantsCommand, { KeyId: KEY, Marker: 'next' })
      .resolves({ Grants: [{ GrantId: 'g4', Name: grantName(OWNER, '444455556666') }], Truncated: false });

    // Act
    const grants = await new KmsGateway(new KMSClient({})).serviceGrants(KEY, OWNER);

    // Assess
    expect(grants).toEqual([
      { keyId: KEY, grantId: 'g1', account: TEAM },
      { keyId: KEY, grantId: 'g4', account: '444455556666' },
    ]);
  });

  it("grants an account's root in the key's partition the operations, by name; revokes by id", async () => {
    // Prepare
    kms.on(CreateGrantCommand).resolves({ GrantId: 'g1' });
    kms.on(RevokeGrantCommand).resolves({});
    const gateway = new KmsGateway(new KMSClient({}));

    // Act
    await gateway.createGrant({
      keyId: KEY,
      account: TEAM,
      name: grantName(OWNER, TEAM),
      operations: GRANT_OPERATIONS,
    });
    await gateway.createGrant({
      keyId: CHINA_KEY,
      account: TEAM,
      name: grantName(OWNER, TEAM),
      operations: ['Decrypt'],
    });
    await gateway.revokeGrant({ keyId: KEY, grantId: 'g1', account: TEAM });

    // Assess
    expect(kms.commandCalls(CreateGrantCommand).map((call) => call.args[0].input)).toEqual([
      {
        KeyId: KEY,
        GranteePrincipal: `arn:aws:iam::${TEAM}:root`,
        Operations: [...GRANT_OPERATIONS],
        Name: `${OWNER}-${TEAM}`,
      },
      {
        KeyId: CHINA_KEY,
        GranteePrincipal: `arn:aws-cn:iam::${TEAM}:root`,
        Operations: ['Decrypt'],
        Name: `${OWNER}-${TEAM}`,
      },
    ]);
    expect(kms.commandCalls(RevokeGrantCommand)[0]?.args[0].input).toEqual({ KeyId: KEY, GrantId: 'g1' });
  });
});
