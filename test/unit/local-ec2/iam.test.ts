import { type IamPrincipal, PolicyEvaluator, sigV4Credential } from '../../../local/ec2/iam';
import { encodedAuthorizationMessage, unauthorizedOperation } from '../../../local/ec2/iam-gate';

const ACCOUNT = '123456789012';
const INSTANCE_ARN = `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/i-1`;

const principal = (statements: readonly Record<string, unknown>[]): IamPrincipal => ({
  arn: `arn:aws:iam::${ACCOUNT}:role/tagger`,
  policies: [{ Version: '2012-10-17', Statement: statements }],
});

const scopedTagging = principal([
  {
    Effect: 'Allow',
    Action: 'ec2:DeleteTags',
    Resource: 'arn:aws:ec2:*:*:instance/*',
    Condition: {
      StringEquals: { 'aws:ResourceTag/Backup': 'true' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['a', 'b'] },
      Null: { 'aws:TagKeys': 'false' },
    },
  },
]);

const deleteTags = (context: Record<string, string | string[]>) => ({
  action: 'ec2:DeleteTags',
  resource: INSTANCE_ARN,
  context,
});

describe('sigV4Credential', () => {
  it('reads the access key id and Region of the credential scope', () => {
    const header =
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260301/eu-west-1/ec2/aws4_request, SignedHeaders=host, Signature=abc';
    expect(sigV4Credential(header)).toEqual({ accessKeyId: 'AKIDEXAMPLE', region: 'eu-west-1' });
  });

  it('finds none in a missing or foreign header', () => {
    expect(sigV4Credential(undefined)).toBeUndefined();
    expect(sigV4Credential('Basic dXNlcjpwYXNz')).toBeUndefined();
  });
});

describe('PolicyEvaluator', () => {
  const evaluator = new PolicyEvaluator({ KEY: scopedTagging });

  it('refuses a DeleteTags without keys (no aws:TagKeys) under Null aws:TagKeys false', async () => {
    await expect(
      evaluator.decide(scopedTagging, deleteTags({ 'aws:ResourceTag/Backup': 'true' }), ACCOUNT),
    ).resolves.toBe('ImplicitlyDenied');
  });

  it('allows listed keys on a tagged resource and refuses others or an untagged resource', async () => {
    const decide = (context: Record<string, string | string[]>) =>
      evaluator.decide(scopedTagging, deleteTags(context), ACCOUNT);
    await expect(decide({ 'aws:ResourceTag/Backup': 'true', 'aws:TagKeys': ['a'] })).resolves.toBe('Allowed');
    await expect(decide({ 'aws:ResourceTag/Backup': 'true', 'aws:TagKeys': ['a', 'c'] })).resolves.toBe(
      'ImplicitlyDenied',
    );
    await expect(decide({ 'aws:TagKeys': ['a'] })).resolves.toBe('ImplicitlyDenied');
  });

  it('reports an explicit deny', async () => {
    const denied = principal([
      { Effect: 'Allow', Action: '*', Resource: '*' },
      { Effect: 'Deny', Action: 'ec2:DeleteTags', Resource: '*' },
    ]);
    await expect(new PolicyEvaluator({}).decide(denied, deleteTags({}), ACCOUNT)).resolves.toBe('ExplicitlyDenied');
  });

  it('matches the new image of CreateImage (image/*) against image patterns and its request tags', async () => {
    const creator = principal([
      {
        Effect: 'Allow',
        Action: 'ec2:CreateImage',
        Resource: 'arn:aws:ec2:*::image/*',
        Condition: { StringEquals: { 'aws:RequestTag/owner': 'backup' } },
      },
    ]);
    const check = (context: Record<string, string | string[]>) => ({
      action: 'ec2:CreateImage',
      resource: 'arn:aws:ec2:us-east-1::image/*',
      context,
    });
    const decider = new PolicyEvaluator({});
    await expect(
      decider.decide(creator, check({ 'aws:RequestTag/owner': 'backup', 'aws:TagKeys': ['owner'] }), ACCOUNT),
    ).resolves.toBe('Allowed');
    await expect(decider.decide(creator, check({}), ACCOUNT)).resolves.toBe('ImplicitlyDenied');
  });

  it('rejects invalid policies up front, naming the access key', async () => {
    const broken = new PolicyEvaluator({ BROKEN: principal([{ Effect: 'Perhaps', Action: 'ec2:*', Resource: '*' }]) });
    await expect(broken.assertValid()).rejects.toThrow(/access key BROKEN/);
    await expect(new PolicyEvaluator({ KEY: scopedTagging }).assertValid()).resolves.toBeUndefined();
  });
});

describe('unauthorizedOperation', () => {
  it('says who may not do what, and why, as EC2 does, with the decision encoded', () => {
    const check = deleteTags({ 'aws:ResourceTag/Backup': 'true' });
    const error = unauthorizedOperation(scopedTagging, check, 'ImplicitlyDenied');
    const encoded = encodedAuthorizationMessage(scopedTagging, check, 'ImplicitlyDenied');

    expect(error).toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
    expect(error.message).toBe(
      `You are not authorized to perform this operation. User: arn:aws:iam::${ACCOUNT}:role/tagger is not ` +
        `authorized to perform: ec2:DeleteTags on resource: ${INSTANCE_ARN} because no identity-based policy allows ` +
        `the ec2:DeleteTags action. Encoded authorization failure message: ${encoded}`,
    );
    expect(JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'))).toMatchObject({
      allowed: false,
      explicitDeny: false,
      context: { action: 'ec2:DeleteTags', resource: INSTANCE_ARN },
    });
  });

  it('leaves out the resource for * and names an explicit deny', () => {
    const error = unauthorizedOperation(
      scopedTagging,
      { action: 'ec2:DescribeInstances', resource: '*', context: {} },
      'ExplicitlyDenied',
    );
    expect(error.message).toContain(
      'not authorized to perform: ec2:DescribeInstances with an explicit deny in an identity-based policy.',
    );
  });
});
