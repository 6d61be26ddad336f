import {
  type Ec2ResourceLookup,
  ec2Arn,
  ec2AuthorizationChecks,
  putEventsChecks,
  requestTagContext,
} from '../../../local/ec2/iam-context';
import { QueryParams } from '../../../local/ec2/query';

const scope = { region: 'eu-west-1', account: '123456789012' };
const INSTANCE_ARN = 'arn:aws:ec2:eu-west-1:123456789012:instance/i-1';

const lookup: Ec2ResourceLookup = {
  tagsOf: (id) =>
    ({
      'i-1': new Map([['Backup', 'true']]),
      'ami-1': new Map([['ami-backup:managed-by', 'ami-backup']]),
      'snap-1': new Map<string, string>(),
    })[id],
  snapshotIdsOf: (imageId) => (imageId === 'ami-1' ? ['snap-1'] : []),
  imageOf: (id) => (id === 'ami-1' ? { owner: '123456789012', isPublic: false } : undefined),
  snapshotOf: (id) => (id === 'snap-1' ? { owner: '123456789012', volumeSize: 8 } : undefined),
};

const checksOf = (action: string, params: Record<string, string>) =>
  ec2AuthorizationChecks(action, new QueryParams(new URLSearchParams({ Action: action, ...params })), scope, lookup);

describe('ec2Arn', () => {
  it('gives instances the account and images and snapshots an empty account field', () => {
    expect(ec2Arn(scope, 'i-1')).toBe(INSTANCE_ARN);
    expect(ec2Arn(scope, 'ami-1')).toBe('arn:aws:ec2:eu-west-1::image/ami-1');
    expect(ec2Arn(scope, 'snap-1')).toBe('arn:aws:ec2:eu-west-1::snapshot/snap-1');
    expect(ec2Arn(scope, 'sg-1')).toBeUndefined();
  });
});

describe('requestTagContext', () => {
  it('sets no aws:TagKeys at all without tags, so Null conditions see the key missing', () => {
    expect(requestTagContext([], true)).toEqual({});
  });

  it('lists each key once and gives request tags their values', () => {
    const tags = [
      { key: 'a', value: '1' },
      { key: 'a', value: '2' },
      { key: 'b', value: undefined },
    ];
    expect(requestTagContext(tags, true)).toEqual({
      'aws:TagKeys': ['a', 'b'],
      'aws:RequestTag/a': '2',
      'aws:RequestTag/b': '',
    });
    expect(requestTagContext(tags, false)).toEqual({ 'aws:TagKeys': ['a', 'b'] });
  });
});

describe('ec2AuthorizationChecks', () => {
  it('tells IAM whom ModifySnapshotAttribute shares with, and the image attribute ModifyImageAttribute changes', () => {
    const [snapshot] = checksOf('ModifySnapshotAttribute', {
      SnapshotId: 'snap-1',
      'CreateVolumePermission.Add.1.Group': 'all',
      'CreateVolumePermission.Add.2.UserId': '210987654321',
    }).required;
    expect(snapshot?.resource).toBe('arn:aws:ec2:eu-west-1::snapshot/snap-1');
    expect(snapshot?.context).toMatchObject({
      'ec2:Attribute': 'createVolumePermission',
      'ec2:Add/group': ['all'],
      'ec2:Add/userId': ['210987654321'],
      'ec2:Owner': '123456789012',
    });
    expect(snapshot?.context).not.toHaveProperty('ec2:Remove/userId');
    const [image] = checksOf('ModifyImageAttribute', {
      ImageId: 'ami-1',
      'LaunchPermission.Add.1.UserId': '210987654321',
    }).required;
    expect(image?.context).toMatchObject({
      'ec2:Attribute': 'launchPermission',
      'ec2:ImageID': 'ami-1',
      'ec2:Public': 'false',
      'ec2:ResourceTag/ami-backup:managed-by': 'ami-backup',
    });
  });

  it('authorizes Describe calls on *', () => {
    expect(checksOf('DescribeInstances', {}).required).toEqual([
      { action: 'ec2:DescribeInstances', resource: '*', context: { 'ec2:Region': 'eu-west-1' } },
    ]);
  });

  it('authorizes DeleteTags on each resource with its tags, and without aws:TagKeys when no keys are given', () => {
    const { required } = checksOf('DeleteTags', { 'ResourceId.1': 'i-1', 'ResourceId.2': 'ami-1' });
    expect(required).toEqual([
      {
        action: 'ec2:DeleteTags',
        resource: INSTANCE_ARN,
        context: { 'ec2:Region': 'eu-west-1', 'aws:ResourceTag/Backup': 'true', 'ec2:ResourceTag/Backup': 'true' },
      },
      {
        action: 'ec2:DeleteTags',
        resource: 'arn:aws:ec2:eu-west-1::image/ami-1',
        context: {
          'ec2:Region': 'eu-west-1',
          'aws:ResourceTag/ami-backup:managed-by': 'ami-backup',
          'ec2:ResourceTag/ami-backup:managed-by': 'ami-backup',
        },
      },
    ]);
  });

  it('gives CreateTags the request tags and their keys', () => {
    const { required } = checksOf('CreateTags', { 'ResourceId.1': 'i-1', 'Tag.1.Key': 'k', 'Tag.1.Value': 'v' });
    expect(required[0]?.context).toMatchObject({ 'aws:TagKeys': ['k'], 'aws:RequestTag/k': 'v' });
  });

  it('authorizes CreateImage on the instance, and on the new image and snapshots with their request tags', () => {
    const { required } = checksOf('CreateImage', {
      InstanceId: 'i-1',
      Name: 'n',
      'TagSpecification.1.ResourceType': 'image',
      'TagSpecification.1.Tag.1.Key': 'ami-backup:managed-by',
      'TagSpecification.1.Tag.1.Value': 'ami-backup',
    });
    const imageTags = {
      'aws:TagKeys': ['ami-backup:managed-by'],
      'aws:RequestTag/ami-backup:managed-by': 'ami-backup',
    };
    expect(required.map(({ action, resource }) => [action, resource])).toEqual([
      ['ec2:CreateImage', INSTANCE_ARN],
      ['ec2:CreateImage', 'arn:aws:ec2:eu-west-1::image/*'],
      ['ec2:CreateTags', 'arn:aws:ec2:eu-west-1::image/*'],
      ['ec2:CreateImage', 'arn:aws:ec2:eu-west-1::snapshot/*'],
    ]);
    expect(required[0]?.context).not.toHaveProperty('aws:TagKeys');
    expect(required[1]?.context).toMatchObject(imageTags);
    expect(required[2]?.context).toMatchObject({ ...imageTags, 'ec2:CreateAction': 'CreateImage' });
    expect(required[3]?.context).toEqual({ 'ec2:Region': 'eu-west-1' });
  });

  it('authorizes CopyImage on the source image in its Region, and on the new image and snapshots here', () => {
    const { required } = checksOf('CopyImage', {
      SourceImageId: 'ami-1',
      SourceRegion: 'us-east-1',
      Name: 'n',
      'TagSpecification.1.ResourceType': 'image',
      'TagSpecification.1.Tag.1.Key': 'ami-backup:copy-of',
      'TagSpecification.1.Tag.1.Value': 'ami-1',
      'TagSpecification.2.ResourceType': 'snapshot',
      'TagSpecification.2.Tag.1.Key': 'ami-backup:managed-by',
      'TagSpecification.2.Tag.1.Value': 'ami-backup',
    });
    expect(required.map(({ action, resource }) => [action, resource])).toEqual([
      ['ec2:CopyImage', 'arn:aws:ec2:us-east-1::image/ami-1'],
      ['ec2:CopyImage', 'arn:aws:ec2:eu-west-1::image/*'],
      ['ec2:CreateTags', 'arn:aws:ec2:eu-west-1::image/*'],
      ['ec2:CopyImage', 'arn:aws:ec2:eu-west-1::snapshot/*'],
      ['ec2:CreateTags', 'arn:aws:ec2:eu-west-1::snapshot/*'],
    ]);
    // The request is made in the destination Region: ec2:Region is its Region on every check.
    expect(required[0]?.context).toEqual({ 'ec2:Region': 'eu-west-1', 'ec2:ImageID': 'ami-1' });
    expect(required[1]?.context).toMatchObject({ 'aws:RequestTag/ami-backup:copy-of': 'ami-1' });
    expect(required[2]?.context).toMatchObject({ 'ec2:CreateAction': 'CopyImage' });
    expect(required[3]?.context).toMatchObject({
      'aws:TagKeys': ['ami-backup:managed-by'],
      'aws:RequestTag/ami-backup:managed-by': 'ami-backup',
    });
    expect(() => checksOf('CopyImage', { SourceImageId: 'ami-1', Name: 'n' })).toThrow(
      expect.objectContaining({ code: 'MissingParameter' }),
    );
  });

  it('gives the source of a copy within the Region its owner (ec2:Owner), and no resource tags', () => {
    const { required } = checksOf('CopyImage', { SourceImageId: 'ami-1', SourceRegion: 'eu-west-1', Name: 'n' });
    expect(required[0]).toEqual({
      action: 'ec2:CopyImage',
      resource: 'arn:aws:ec2:eu-west-1::image/ami-1',
      context: { 'ec2:Region': 'eu-west-1', 'ec2:ImageID': 'ami-1', 'ec2:Owner': '123456789012' },
    });
  });

  it('authorizes the snapshot deletions of DeregisterImage apart, only when asked to delete them', () => {
    expect(checksOf('DeregisterImage', { ImageId: 'ami-1' }).snapshotDeletions).toEqual([]);
    const { required, snapshotDeletions } = checksOf('DeregisterImage', {
      ImageId: 'ami-1',
      DeleteAssociatedSnapshots: 'true',
    });
    expect(required.map((check) => check.resource)).toEqual(['arn:aws:ec2:eu-west-1::image/ami-1']);
    expect(snapshotDeletions).toEqual([
      {
        snapshotId: 'snap-1',
        check: {
          action: 'ec2:DeleteSnapshot',
          resource: 'arn:aws:ec2:eu-west-1::snapshot/snap-1',
          context: { 'ec2:Region': 'eu-west-1' },
        },
      },
    ]);
  });

  it('throws the error the handler would for a malformed request', () => {
    expect(() => checksOf('CreateImage', {})).toThrow(expect.objectContaining({ code: 'MissingParameter' }));
  });
});

describe('putEventsChecks', () => {
  it('authorizes each entry on its bus (the default one when unnamed) with its source and detail type', () => {
    const body = JSON.stringify({
      Entries: [
        { Source: 's', DetailType: 'd', Detail: '{}' },
        {
          Source: 's',
          DetailType: 'd',
          Detail: '{}',
          EventBusName: 'arn:aws:events:eu-west-1:210987654321:event-bus/x',
        },
      ],
    });
    expect(putEventsChecks(body, scope)).toEqual([
      {
        action: 'events:PutEvents',
        resource: 'arn:aws:events:eu-west-1:123456789012:event-bus/default',
        context: { 'events:source': 's', 'events:detail-type': 'd' },
      },
      {
        action: 'events:PutEvents',
        resource: 'arn:aws:events:eu-west-1:210987654321:event-bus/x',
        context: { 'events:source': 's', 'events:detail-type': 'd' },
      },
    ]);
  });

  it('checks an unreadable body against the default bus', () => {
    expect(putEventsChecks('not json', scope)).toEqual([
      { action: 'events:PutEvents', resource: 'arn:aws:events:eu-west-1:123456789012:event-bus/default', context: {} },
    ]);
  });
});
