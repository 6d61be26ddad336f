import fc from 'fast-check';
import {
  type EventPattern,
  EventPatternError,
  matchesPattern,
  validatePattern,
} from '../../../../local/runner/event-pattern';

/** Validates like the runner does, so that every pattern below is also checked to be accepted. */
function matches(pattern: unknown, event: unknown): boolean {
  return matchesPattern(validatePattern(pattern), event);
}

const amiStateChange = (state: string) => ({
  version: '0',
  id: '7f2c1a4e-0b1d-4c55-9a0e-3f8d2b6c9e11',
  'detail-type': 'EC2 AMI State Change',
  source: 'aws.ec2',
  account: '123456789012',
  time: '2024-05-01T12:05:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1::image/ami-0abc'],
  detail: { RequestId: '3c6e1f0a-5d2b-4e8f-a1c7-9b0d4e2f6a83', ImageId: 'ami-0abc', State: state, ErrorMessage: 'x' },
});

/** The sample event of EventBridge's content-filtering documentation. */
const instanceEvent = {
  version: '0',
  id: 'ddddd4-aaaa-7777-4444-345dd43cc333',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '012345679012',
  time: '2017-10-02T16:24:49Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
  detail: {
    'c-count': 5,
    'd-count': 3,
    'x-limit': 301.8,
    'source-ip': '10.0.0.33',
    'instance-id': 'i-000000aaaaaa00000',
    state: 'running',
  },
};

const withDetail = (detail: Record<string, unknown>) => ({ ...instanceEvent, detail });

describe('matchesPattern', () => {
  describe('the EC2 AMI State Change rule', () => {
    const pattern = {
      source: ['aws.ec2'],
      'detail-type': ['EC2 AMI State Change'],
      detail: { State: ['available', 'failed'] },
    };

    it.each(['available', 'failed'])('matches an image that became %s', (state) => {
      expect(matches(pattern, amiStateChange(state))).toBe(true);
    });

    it.each(['pending', 'deregistered', 'disabled', 'Failed'])('ignores an image in state %s', (state) => {
      expect(matches(pattern, amiStateChange(state))).toBe(false);
    });

    it('ignores the same detail from another source or detail type', () => {
      expect(matches(pattern, { ...amiStateChange('failed'), source: 'aws.events' })).toBe(false);
      expect(matches(pattern, { ...amiStateChange('failed'), 'detail-type': 'Scheduled Event' })).toBe(false);
    });

    it('does not match an event without the nested field', () => {
      const { detail: _omitted, ...withoutDetail } = amiStateChange('failed');
      expect(matches(pattern, withoutDetail)).toBe(false);
      expect(matches(pattern, { ...amiStateChange('failed'), detail: {} })).toBe(false);
    });

    it('does not match values that are not events', () => {
      expect(matches(pattern, null)).toBe(false);
      expect(matches(pattern, 'aws.ec2')).toBe(false);
      expect(matches(pattern, [amiStateChange('failed')])).toBe(false);
    });
  });

  describe('exact values', () => {
    it('matches the documented instance-termination pattern only for terminated instances', () => {
      const pattern = {
        source: ['aws.ec2'],
        'detail-type': ['EC2 Instance State-change Notification'],
        detail: { state: ['terminated'] },
      };
      expect(matches(pattern, withDetail({ 'instance-id': 'i-1', state: 'terminated' }))).toBe(true);
      expect(matches(pattern, withDetail({ 'instance-id': 'i-1', state: 'running' }))).toBe(false);
    });

    it('compares strings character by character, without case folding', () => {
      expect(matches({ source: ['aws.ec2'] }, { source: 'AWS.EC2' })).toBe(false);
      expect(matches({ source: ['aws.ec2'] }, { source: 'aws.ec2 ' })).toBe(false);
    });

    it('matches numbers by value and never a string spelling of them', () => {
      const pattern = { detail: { 'risk-score': [80], trigger: { risk: [8] } } };
      expect(matches(pattern, { detail: { 'risk-score': 80, trigger: { risk: 8 } } })).toBe(true);
      expect(matches(pattern, { detail: { 'risk-score': 80, trigger: { risk: 9 } } })).toBe(false);
      expect(matches(pattern, { detail: { 'risk-score': '80', trigger: { risk: 8 } } })).toBe(false);
    });

    it('matches booleans exactly', () => {
      expect(matches({ detail: { ok: [true] } }, { detail: { ok: true } })).toBe(true);
      expect(matches({ detail: { ok: [true] } }, { detail: { ok: 'true' } })).toBe(false);
      expect(matches({ detail: { ok: [false] } }, { detail: { ok: true } })).toBe(false);
    });

    it('keeps null and the empty string apart', () => {
      const event = { detail: { eventVersion: '', responseElements: null } };
      expect(matches({ detail: { eventVersion: [''] } }, event)).toBe(true);
      expect(matches({ detail: { responseElements: [null] } }, event)).toBe(true);
      expect(matches({ detail: { eventVersion: [null] } }, event)).toBe(false);
      expect(matches({ detail: { responseElements: [''] } }, event)).toBe(false);
    });

    it('requires every field of the pattern (AND) and any of its values (OR)', () => {
      const pattern = { source: ['aws.ec2', 'aws.fargate'], region: ['us-east-1'] };
      expect(matches(pattern, { source: 'aws.fargate', region: 'us-east-1' })).toBe(true);
      expect(matches(pattern, { source: 'aws.fargate', region: 'eu-west-1' })).toBe(false);
      expect(matches(pattern, { source: 'aws.fargate' })).toBe(false);
    });

    it('does not let a leaf pattern match an object in the event', () => {
      expect(matches({ detail: ['x'] }, { detail: { x: 'x' } })).toBe(false);
    });
  });

  describe('arrays in events', () => {
    it('matches when the pattern and the event array share an element', () => {
      const pattern = {
        resources: [
          'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
          'arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f',
          'arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f',
        ],
      };
      const asg =
        'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate';
      expect(matches(pattern, { resources: [asg, 'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f'] })).toBe(
        true,
      );
      expect(matches(pattern, { resources: [asg] })).toBe(false);
      expect(matches(pattern, { resources: [] })).toBe(false);
    });

    it('matches fields of objects inside arrays, within one element at a time', () => {
      const event = {
        employees: [
          [
            { firstName: 'John', lastName: 'Doe' },
            { firstName: 'Anna', lastName: 'Smith' },
          ],
          [{ firstName: 'Peter', lastName: 'Jones' }],
        ],
      };
      expect(matches({ employees: { firstName: ['Anna'] } }, event)).toBe(true);
      expect(matches({ employees: { firstName: ['Anna'], lastName: ['Smith'] } }, event)).toBe(true);
      expect(matches({ employees: { firstName: ['Anna'], lastName: ['Jones'] } }, event)).toBe(false);
    });
  });

  describe('prefix and suffix', () => {
    it('matches the documented prefix of a time', () => {
      expect(matches({ time: [{ prefix: '2017-10-02' }] }, instanceEvent)).toBe(true);
      expect(matches({ time: [{ prefix: '2017-10-03' }] }, instanceEvent)).toBe(false);
    });

    it('matches European regions by prefix', () => {
      const pattern = { source: ['aws.autoscaling'], region: [{ prefix: 'eu-' }] };
      expect(matches(pattern, { source: 'aws.autoscaling', region: 'eu-west-1' })).toBe(true);
      expect(matches(pattern, { source: 'aws.autoscaling', region: 'us-east-1' })).toBe(false);
    });

    it('matches a prefix regardless of case with equals-ignore-case', () => {
      const pattern = { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } };
      for (const service of ['EventBridge', 'EVENTBRIDGE', 'eventb']) {
        expect(matches(pattern, { detail: { service } })).toBe(true);
      }
      expect(matches(pattern, { detail: { service: 'Event Bridge' } })).toBe(false);
      expect(matches({ detail: { service: [{ prefix: 'EventB' }] } }, { detail: { service: 'eventbridge' } })).toBe(
        false,
      );
    });

    it('matches a suffix, with or without case', () => {
      expect(matches({ FileName: [{ suffix: '.png' }] }, { FileName: 'cat.png' })).toBe(true);
      expect(matches({ FileName: [{ suffix: '.png' }] }, { FileName: 'cat.PNG' })).toBe(false);
      const ignoringCase = { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } };
      expect(matches(ignoringCase, { detail: { FileName: 'cat.PNG' } })).toBe(true);
      expect(matches(ignoringCase, { detail: { FileName: 'cat.jpg' } })).toBe(false);
    });

    it('applies only to strings', () => {
      expect(matches({ n: [{ prefix: '12' }] }, { n: 123 })).toBe(false);
      expect(matches({ n: [{ suffix: '' }] }, { n: null })).toBe(false);
    });
  });

  describe('anything-but', () => {
    it('excludes a single string or number', () => {
      expect(matches({ detail: { state: [{ 'anything-but': 'initializing' }] } }, instanceEvent)).toBe(true);
      expect(matches({ detail: { state: [{ 'anything-but': 'running' }] } }, instanceEvent)).toBe(false);
      expect(matches({ detail: { 'x-limit': [{ 'anything-but': 123 }] } }, instanceEvent)).toBe(true);
      expect(matches({ detail: { 'x-limit': [{ 'anything-but': 301.8 }] } }, instanceEvent)).toBe(false);
    });

    it('excludes a list of strings or numbers', () => {
      const states = { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } };
      expect(matches(states, instanceEvent)).toBe(true);
      expect(matches(states, withDetail({ state: 'stopped' }))).toBe(false);
      const limits = { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } };
      expect(matches(limits, instanceEvent)).toBe(true);
      expect(matches(limits, withDetail({ 'x-limit': 200 }))).toBe(false);
    });

    it('excludes by prefix, as in keeping only custom events', () => {
      const pattern = { source: [{ 'anything-but': { prefix: 'aws.' } }] };
      expect(matches(pattern, { source: 'com.example.backup' })).toBe(true);
      expect(matches(pattern, { source: 'aws.ec2' })).toBe(false);
    });

    it('excludes by suffix', () => {
      const pattern = { FileName: [{ 'anything-but': { suffix: '.png' } }] };
      expect(matches(pattern, { FileName: 'notes.txt' })).toBe(true);
      expect(matches(pattern, { FileName: 'cat.png' })).toBe(false);
    });

    it('excludes regardless of case, one value or a list', () => {
      const single = { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] };
      expect(matches(single, { state: 'INITIALIZING' })).toBe(false);
      expect(matches(single, { state: 'running' })).toBe(true);
      const list = { state: [{ 'anything-but': { 'equals-ignore-case': ['Stopped', 'Overloaded'] } }] };
      expect(matches(list, { state: 'OVERLOADED' })).toBe(false);
      expect(matches(list, { state: 'running' })).toBe(true);
    });

    it('excludes by wildcard', () => {
      const pattern = { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] };
      expect(matches(pattern, { FilePath: 'opt/bin/tool' })).toBe(true);
      expect(matches(pattern, { FilePath: 'opt/lib/libc.so' })).toBe(false);
      const list = { FilePath: [{ 'anything-but': { wildcard: ['*/lib/*', '*.tmp'] } }] };
      expect(matches(list, { FilePath: 'scratch.tmp' })).toBe(false);
    });

    it('does not match a field that is missing', () => {
      expect(matches({ detail: { weather: [{ 'anything-but': 'Raining' }] } }, instanceEvent)).toBe(false);
    });

    it('matches an event array when any element is not excluded', () => {
      const pattern = { tags: [{ 'anything-but': 'skip' }] };
      expect(matches(pattern, { tags: ['skip', 'keep'] })).toBe(true);
      expect(matches(pattern, { tags: ['skip'] })).toBe(false);
    });
  });

  describe('numeric', () => {
    const documented = {
      detail: {
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ numeric: ['=', 3.018e2] }],
      },
    };

    it('matches the documented example when every field is in range', () => {
      expect(matches(documented, instanceEvent)).toBe(true);
    });

    it.each([
      ['c-count at the open lower bound', { 'c-count': 0 }],
      ['c-count above the closed upper bound', { 'c-count': 6 }],
      ['d-count at the open upper bound', { 'd-count': 10 }],
      ['x-limit not equal', { 'x-limit': 301.9 }],
      ['a number given as a string', { 'c-count': '5' }],
    ])('rejects %s', (_case, change) => {
      expect(matches(documented, withDetail({ ...instanceEvent.detail, ...change }))).toBe(false);
    });

    it('includes closed bounds', () => {
      const pattern = { price: [{ numeric: ['>=', 10, '<=', 20] }] };
      expect([9.999, 10, 15, 20, 20.001].map((price) => matches(pattern, { price }))).toEqual([
        false,
        true,
        true,
        true,
        false,
      ]);
    });

    it('agrees with the comparison it names, for any number', () => {
      fc.assert(
        fc.property(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -1000, max: 1000 }), (value, bound) => {
          expect(matches({ n: [{ numeric: ['<', bound] }] }, { n: value })).toBe(value < bound);
          expect(matches({ n: [{ numeric: ['>=', bound] }] }, { n: value })).toBe(value >= bound);
          expect(matches({ n: [{ numeric: ['=', bound] }] }, { n: value })).toBe(value === bound);
        }),
      );
    });
  });

  describe('cidr', () => {
    it('matches IPv4 addresses inside the block', () => {
      const pattern = { detail: { 'source-ip': [{ cidr: '10.0.0.0/24' }] } };
      expect(matches(pattern, instanceEvent)).toBe(true);
      expect(matches(pattern, withDetail({ 'source-ip': '10.0.0.255' }))).toBe(true);
      expect(matches(pattern, withDetail({ 'source-ip': '10.0.1.0' }))).toBe(false);
      expect(matches(pattern, withDetail({ 'source-ip': 'not-an-address' }))).toBe(false);
    });

    it('matches IPv6 addresses inside the block', () => {
      const pattern = { ip: [{ cidr: '2001:db8::/32' }] };
      expect(matches(pattern, { ip: '2001:db8:1::1' })).toBe(true);
      expect(matches(pattern, { ip: '2001:db9::1' })).toBe(false);
      expect(matches(pattern, { ip: '10.0.0.1' })).toBe(false);
    });
  });

  describe('exists', () => {
    it('matches present fields with true and missing fields with false', () => {
      expect(matches({ detail: { 'c-count': [{ exists: true }] } }, instanceEvent)).toBe(true);
      expect(matches({ detail: { 'c-count': [{ exists: false }] } }, instanceEvent)).toBe(false);
      expect(matches({ detail: { description: [{ exists: true }] } }, instanceEvent)).toBe(false);
      expect(matches({ detail: { description: [{ exists: false }] } }, instanceEvent)).toBe(true);
    });

    it('counts null as present', () => {
      expect(matches({ detail: { userId: [{ exists: true }] } }, { detail: { userId: null } })).toBe(true);
    });

    it('only sees leaves: an object in its place counts as missing', () => {
      const event = { detail: { state: ['initializing', 'running'], 'c-count': { c1: 100 } } };
      expect(matches({ detail: { 'c-count': [{ exists: false }] } }, event)).toBe(true);
      expect(matches({ detail: { 'c-count': [{ exists: true }] } }, event)).toBe(false);
    });

    it('treats a missing parent or an empty array as a missing field', () => {
      expect(matches({ detail: { 'c-count': [{ exists: false }] } }, { source: 'aws.ec2' })).toBe(true);
      expect(matches({ detail: { 'c-count': [{ exists: true }] } }, { source: 'aws.ec2' })).toBe(false);
      expect(matches({ tags: [{ exists: false }] }, { tags: [] })).toBe(true);
    });

    it('is one alternative among the values of a leaf', () => {
      const pattern = { detail: { ErrorMessage: [{ exists: false }, 'Timeout'] } };
      expect(matches(pattern, { detail: {} })).toBe(true);
      expect(matches(pattern, { detail: { ErrorMessage: 'Timeout' } })).toBe(true);
      expect(matches(pattern, { detail: { ErrorMessage: 'Quota' } })).toBe(false);
    });
  });

  describe('equals-ignore-case and wildcard', () => {
    it('matches a name regardless of case', () => {
      const pattern = { Name: [{ 'equals-ignore-case': 'alice' }] };
      expect(matches(pattern, { Name: 'Alice' })).toBe(true);
      expect(matches(pattern, { Name: 'ALICE' })).toBe(true);
      expect(matches(pattern, { Name: 'Alicia' })).toBe(false);
    });

    it('matches wildcards anywhere in the value', () => {
      const pattern = { source: [{ wildcard: 'Simple*Service' }] };
      expect(matches(pattern, { source: 'SimpleService' })).toBe(true);
      expect(matches(pattern, { source: 'Simple Queue Service' })).toBe(true);
      expect(matches(pattern, { source: 'Simple Queue Services' })).toBe(false);
      const png = { EventName: [{ wildcard: 'dir/*.png' }] };
      expect(matches(png, { EventName: 'dir/cat.png' })).toBe(true);
      expect(matches(png, { EventName: 'dir/sub/cat.png' })).toBe(true);
      expect(matches(png, { EventName: 'other/cat.png' })).toBe(false);
      expect(matches(png, { EventName: 'dirXcat.png' })).toBe(false);
    });

    it('takes escaped asterisks and backslashes literally', () => {
      expect(matches({ v: [{ wildcard: 'a\\*b' }] }, { v: 'a*b' })).toBe(true);
      expect(matches({ v: [{ wildcard: 'a\\*b' }] }, { v: 'axb' })).toBe(false);
      expect(matches({ v: [{ wildcard: 'a\\\\b' }] }, { v: 'a\\b' })).toBe(true);
    });

    it('treats regular-expression characters as plain text', () => {
      expect(matches({ v: [{ wildcard: 'a.b(c)*' }] }, { v: 'a.b(c)d' })).toBe(true);
      expect(matches({ v: [{ wildcard: 'a.b(c)*' }] }, { v: 'aXb(c)d' })).toBe(false);
    });
  });

  describe('$or', () => {
    it('matches "source" and ("metricName" or "namespace")', () => {
      const pattern = {
        source: ['aws.cloudwatch'],
        $or: [{ metricName: ['CPUUtilization', 'ReadLatency'] }, { namespace: ['AWS/EC2', 'AWS/ES'] }],
      };
      expect(matches(pattern, { source: 'aws.cloudwatch', metricName: 'ReadLatency' })).toBe(true);
      expect(matches(pattern, { source: 'aws.cloudwatch', namespace: 'AWS/ES' })).toBe(true);
      expect(matches(pattern, { source: 'aws.cloudwatch', namespace: 'AWS/S3' })).toBe(false);
      expect(matches(pattern, { source: 'aws.ec2', metricName: 'ReadLatency' })).toBe(false);
    });

    it('nests alternatives inside nested fields and inside each other', () => {
      const pattern = {
        source: ['aws.cloudwatch'],
        $or: [
          { metricName: ['CPUUtilization'] },
          { metricType: ['MetricType'], $or: [{ metricId: [1234] }, { spaceId: [1000] }] },
        ],
        detail: { $or: [{ state: ['ALARM'] }, { previousState: ['ALARM'] }] },
      };
      const base = { source: 'aws.cloudwatch', detail: { previousState: 'ALARM' } };
      expect(matches(pattern, { ...base, metricType: 'MetricType', spaceId: 1000 })).toBe(true);
      expect(matches(pattern, { ...base, metricType: 'MetricType', spaceId: 1001 })).toBe(false);
      expect(matches(pattern, { ...base, metricName: 'CPUUtilization' })).toBe(true);
      expect(matches(pattern, { ...base, metricName: 'CPUUtilization', detail: { state: 'OK' } })).toBe(false);
    });
  });

  it('matches the documented complex example', () => {
    const pattern = {
      time: [{ prefix: '2017-10-02' }],
      detail: {
        state: [{ 'anything-but': 'initializing' }],
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ 'anything-but': [100, 200, 300] }],
        'source-ip': [{ cidr: '10.0.0.0/8' }],
      },
    };
    expect(matches(pattern, instanceEvent)).toBe(true);
    expect(matches(pattern, withDetail({ ...instanceEvent.detail, state: 'initializing' }))).toBe(false);
  });

  it('makes exact values and anything-but complements for any present value', () => {
    const leaf = fc.oneof(fc.string(), fc.integer(), fc.boolean());
    fc.assert(
      fc.property(leaf, fc.string(), (value, excluded) => {
        const event = { field: value };
        expect(matches({ field: [value] }, event)).toBe(true);
        expect(matches({ field: [{ 'anything-but': excluded }] }, event)).toBe(value !== excluded);
        expect(matches({ field: [excluded] }, event)).toBe(value === excluded);
      }),
    );
  });
});

describe('validatePattern', () => {
  it('returns a valid pattern unchanged', () => {
    const pattern = { source: ['aws.ec2'], detail: { State: ['available', { prefix: 'fail' }] } };
    expect(validatePattern(pattern)).toBe(pattern);
  });

  it.each<[string, unknown, string]>([
    ['a non-object pattern', ['aws.ec2'], '(root)'],
    ['an empty pattern', {}, '(root)'],
    ['an empty nested object', { detail: {} }, 'detail'],
    ['a bare value instead of an array', { source: 'aws.ec2' }, 'source'],
    ['an empty array of values', { source: [] }, 'source'],
    ['a nested array', { source: [['aws.ec2']] }, 'source[0]'],
    ['a non-finite number', { n: [Number.POSITIVE_INFINITY] }, 'n[0]'],
    ['an unknown filter', { source: [{ contains: 'ec2' }] }, 'source[0]'],
    ['two operators in one filter', { source: [{ prefix: 'a', suffix: 'b' }] }, 'source[0]'],
    ['a numeric prefix', { source: [{ prefix: 1 }] }, 'source[0].prefix'],
    ['a prefix with another option', { s: [{ prefix: { 'ignore-case': 'a' } }] }, 's[0].prefix'],
    ['a non-string equals-ignore-case', { s: [{ 'equals-ignore-case': ['a'] }] }, 's[0].equals-ignore-case'],
    ['an unknown numeric operator', { n: [{ numeric: ['!=', 1] }] }, 'n[0].numeric[0]'],
    ['a numeric operand that is a string', { n: [{ numeric: ['>', '1'] }] }, 'n[0].numeric[1]'],
    ['a numeric condition of three items', { n: [{ numeric: ['>', 1, '<'] }] }, 'n[0].numeric'],
    ['a range with its upper bound first', { n: [{ numeric: ['<', 5, '>', 0] }] }, 'n[0].numeric'],
    ['a range with "="', { n: [{ numeric: ['=', 5, '<', 6] }] }, 'n[0].numeric'],
    ['an empty range', { n: [{ numeric: ['>', 5, '<', 5] }] }, 'n[0].numeric'],
    ['a number beyond the numeric limits', { n: [{ numeric: ['>', 6e9] }] }, 'n[0].numeric[1]'],
    ['anything-but of mixed types', { s: [{ 'anything-but': ['a', 1] }] }, 's[0].anything-but'],
    ['anything-but of an empty list', { s: [{ 'anything-but': [] }] }, 's[0].anything-but'],
    ['anything-but of a boolean', { s: [{ 'anything-but': true }] }, 's[0].anything-but'],
    ['anything-but of an unknown filter', { s: [{ 'anything-but': { numeric: ['>', 1] } }] }, 's[0].anything-but'],
    ['anything-but of a prefix list', { s: [{ 'anything-but': { prefix: ['a', 'b'] } }] }, 's[0].anything-but.prefix'],
    ['consecutive wildcards', { s: [{ wildcard: 'a**b' }] }, 's[0].wildcard'],
    ['an escape of another character', { s: [{ wildcard: 'a\\b' }] }, 's[0].wildcard'],
    ['a bad wildcard inside anything-but', { s: [{ 'anything-but': { wildcard: ['*', 'x**'] } }] }, 'wildcard[1]'],
    ['a non-boolean exists', { s: [{ exists: 'yes' }] }, 's[0].exists'],
    ['an address without a prefix length', { ip: [{ cidr: '10.0.0.1' }] }, 'ip[0].cidr'],
    ['a prefix length beyond 32 bits', { ip: [{ cidr: '10.0.0.0/33' }] }, 'ip[0].cidr'],
    ['a block that is no address', { ip: [{ cidr: 'example.com/8' }] }, 'ip[0].cidr'],
    ['$or with one alternative', { $or: [{ a: ['1'] }] }, '$or'],
    ['$or as an object', { $or: { a: ['1'] } }, '$or'],
    ['$or with an invalid alternative', { $or: [{ a: ['1'] }, { b: 'x' }] }, '$or[1].b'],
  ])('rejects %s, naming where', (_case, pattern, path) => {
    const attempt = () => validatePattern(pattern);
    expect(attempt).toThrow(EventPatternError);
    expect(attempt).toThrow(path);
  });

  it('accepts every documented form', () => {
    const pattern: EventPattern = {
      a: ['x', 1, true, null, ''],
      b: [{ prefix: 'x' }, { prefix: { 'equals-ignore-case': 'x' } }, { suffix: { 'equals-ignore-case': 'x' } }],
      c: [{ 'anything-but': 1 }, { 'anything-but': ['x', 'y'] }, { 'anything-but': { suffix: 'x' } }],
      d: [{ 'anything-but': { 'equals-ignore-case': ['x'] } }, { 'anything-but': { wildcard: 'x*' } }],
      e: [{ numeric: ['>=', -5e9, '<', 5e9] }, { numeric: ['=', 0] }, { exists: false }, { cidr: '::/0' }],
      f: [{ wildcard: 'a\\\\b\\**' }, { 'equals-ignore-case': 'x' }],
      $or: [{ g: ['1'] }, { h: { i: ['2'] } }],
    };
    expect(validatePattern(pattern)).toBe(pattern);
  });
});
