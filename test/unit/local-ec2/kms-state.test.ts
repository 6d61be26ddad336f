import { LocalKms } from '../../../local/ec2/kms';

const OWNER = '123456789012';
const TARGET = '210987654321';
const REGION = 'us-east-1';

/** Calls the local KMS as `account`, and returns the answer's body (failing on an error). */
function call(kms: LocalKms, action: string, request: unknown, account = OWNER): Record<string, unknown> {
  const answer = kms.handle(`TrentService.${action}`, JSON.stringify(request), account, REGION);
  if (answer.status !== 200) throw new Error(`${action}: ${JSON.stringify(answer.body)}`);
  return answer.body as Record<string, unknown>;
}

describe('LocalKms state', () => {
  it('saves keys, aliases and grants, and a new KMS given them answers as the first did', () => {
    const first = new LocalKms(() => 0);
    const { KeyMetadata } = call(first, 'CreateKey', { Description: 'sharing' }) as { KeyMetadata: { Arn: string } };
    call(first, 'CreateAlias', { AliasName: 'alias/sharing', TargetKeyId: KeyMetadata.Arn });
    call(first, 'CreateGrant', {
      KeyId: KeyMetadata.Arn,
      GranteePrincipal: `arn:aws:iam::${TARGET}:root`,
      Operations: ['Decrypt', 'DescribeKey', 'CreateGrant', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom'],
      Name: 'shared',
    });

    const second = new LocalKms(() => 0);
    second.importState(structuredClone(first.exportState()));

    expect(second.findKey(OWNER, REGION, 'alias/sharing')?.arn).toBe(KeyMetadata.Arn);
    expect(second.grantsOf(KeyMetadata.Arn).map((grant) => grant.name)).toEqual(['shared']);
    expect(second.mayUseForVolumes(TARGET, KeyMetadata.Arn)).toBe(true);
    // The next key made has the id the first KMS would have given it.
    const next = (kms: LocalKms) => (call(kms, 'CreateKey', {}) as { KeyMetadata: { Arn: string } }).KeyMetadata.Arn;
    expect(next(second)).toBe(next(first));
    // Importing replaces: a grant made after the save is gone.
    call(first, 'CreateGrant', {
      KeyId: KeyMetadata.Arn,
      GranteePrincipal: `arn:aws:iam::${TARGET}:root`,
      Operations: ['Decrypt'],
      Name: 'later',
    });
    const saved = second.exportState();
    first.importState(structuredClone(saved));
    expect(first.grantsOf(KeyMetadata.Arn).map((grant) => grant.name)).toEqual(['shared']);
  });
});
