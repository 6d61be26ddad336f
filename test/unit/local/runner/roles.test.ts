import { type JsonObject, RoleError, rolesOf } from '../../../../local/runner/roles';

const OPTIONS = { projectRoot: '.', stage: 'dev', region: 'eu-west-1', account: '111122223333' };

function config(statement: JsonObject, role: JsonObject = {}): JsonObject {
  return {
    service: 'svc',
    functions: { worker: { handler: 'functions/worker.handler', role: 'WorkerRole' } },
    resources: {
      Resources: {
        Queue: { Type: 'AWS::SQS::Queue' },
        WorkerRole: {
          Type: 'AWS::IAM::Role',
          Properties: { Policies: [{ PolicyName: 'worker', PolicyDocument: { Statement: [statement] } }] },
          ...role,
        },
      },
    },
  };
}

describe('rolesOf', () => {
  it('resolves pseudo parameters in Fn::Sub and queue ARNs, and names the principal after the function', () => {
    const [role] = rolesOf(
      config({
        Effect: 'Allow',
        Action: ['ec2:CreateTags', 'sqs:SendMessage'],
        Resource: [
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
          { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*' },
          { 'Fn::GetAtt': ['Queue', 'Arn'] },
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
          { 'Fn::Sub': '${Queue.Arn}' },
        ],
        Condition: { StringEquals: { 'aws:ResourceTag/Backup': 'true' } },
      }),
      OPTIONS,
    );
    expect(role).toEqual({
      functionName: 'worker',
      roleId: 'WorkerRole',
      principalArn: 'arn:aws:sts::111122223333:assumed-role/svc-dev-WorkerRole/svc-dev-worker',
      policies: [
        {
          Statement: [
            {
              Effect: 'Allow',
              Action: ['ec2:CreateTags', 'sqs:SendMessage'],
              Resource: [
                'arn:aws:ec2:eu-west-1:111122223333:instance/*',
                'arn:aws:sqs:eu-west-1:111122223333:svc-dev-Queue',
                'arn:aws:sqs:eu-west-1:111122223333:svc-dev-Queue',
              ],
              Condition: { StringEquals: { 'aws:ResourceTag/Backup': 'true' } },
            },
          ],
        },
      ],
    });
  });

  it('refuses what it cannot resolve rather than guess', () => {
    expect(() => rolesOf(config({ Effect: 'Allow', Resource: { Ref: 'Queue' } }), OPTIONS)).toThrow(RoleError);
    expect(() => rolesOf(config({ Effect: 'Allow', Resource: { 'Fn::ImportValue': 'x' } }), OPTIONS)).toThrow(
      /Fn::ImportValue/,
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
    expect(() => rolesOf(config({ Effect: 'Allow', Resource: { 'Fn::Sub': '${Other.Arn}' } }), OPTIONS)).toThrow(
      /Other\.Arn/,
    );
  });

  it('refuses a function without a role of its own in the stack', () => {
    const shared = { ...config({ Effect: 'Allow' }), functions: { worker: { handler: 'functions/worker.handler' } } };
    expect(() => rolesOf(shared, OPTIONS)).toThrow(/functions\.worker\.role/);
    expect(() => rolesOf(config({ Effect: 'Allow' }, { Type: 'AWS::SQS::Queue' }), OPTIONS)).toThrow(
      /not an AWS::IAM::Role/,
    );
  });
});
