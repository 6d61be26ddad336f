import fc from 'fast-check';
import {
  InvalidInputError,
  MAX_CONSOLE_INSTANCE_IDS,
  parseImageStateChange,
  parseInvocation,
  parseQueueBatch,
} from '../../../lib/input';

const REAL_NOW = new Date('2026-11-26T10:15:00.000Z');
const realNow = () => REAL_NOW;

/** EventBridge's scheduled-rule payload. */
function scheduledEvent(time: unknown) {
  return {
    version: '0',
    id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time,
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:123456789012:rule/ami-backup-prod-reboot'],
    detail: {},
  };
}

/** EventBridge's `EC2 AMI State Change` event. */
function amiStateChange(detail: Record<string, unknown>, time: unknown = '2026-11-26T03:25:00Z') {
  return {
    version: '0',
    id: '01234567-0123-0123-0123-012345678901',
    'detail-type': 'EC2 AMI State Change',
    source: 'aws.ec2',
    account: '123456789012',
    time,
    region: 'us-east-1',
    resources: ['arn:aws:ec2:us-east-1::image/ami-0abc1234def567890'],
    detail,
  };
}

function hexId(index: number): string {
  return `i-${index.toString(16).padStart(17, '0')}`;
}

/** The error a parse throws, or a failure when it throws none. */
function rejection(parse: () => unknown): InvalidInputError {
  try {
    parse();
  } catch (error: unknown) {
    if (error instanceof InvalidInputError) return error;
    throw error;
  }
  throw new Error('expected an InvalidInputError, but the input was accepted');
}

describe('parseInvocation', () => {
  describe('a scheduled event', () => {
    it('takes now from the event time, so a simulated clock drives the service', () => {
      // Act
      const invocation = parseInvocation(scheduledEvent('2026-11-26T03:00:00Z'), realNow);

      // Assess
      expect(invocation).toEqual({
        trigger: 'schedule',
        now: new Date('2026-11-26T03:00:00Z'),
        dryRun: false,
        rule: 'ami-backup-prod-reboot',
      });
    });

    it('names the rule only when its resources give a rule ARN', () => {
      const event = { ...scheduledEvent('2026-11-26T03:00:00Z'), resources: ['not-an-arn'] };
      expect(parseInvocation(event, realNow)).not.toHaveProperty('rule');
      expect(parseInvocation({ ...event, resources: undefined }, realNow)).not.toHaveProperty('rule');
    });

    it('accepts fractions of a second and an explicit offset', () => {
      expect(parseInvocation(scheduledEvent('2026-11-26T04:00:00.250+01:00'), realNow).now).toEqual(
        new Date('2026-11-26T03:00:00.250Z'),
      );
    });

    it.each([
      undefined,
      42,
      '',
      'yesterday',
      '2026-13-40T99:00:00Z',
      '2026-11-26T03:00:00',
      '2026-11-26',
      'Thu, 26 Nov 2026 03:00:00 GMT',
    ])('rejects the time %p, naming the field', (time) => {
      // Act
      const error = rejection(() => parseInvocation(scheduledEvent(time), realNow));

      // Assess
      expect(error.message).toMatch(/^time must be an ISO-8601 time/);
    });
  });

  describe('a console payload', () => {
    it.each([undefined, null])('means every opted-in instance, now, for real when it is %p', (event) => {
      expect(parseInvocation(event, realNow)).toEqual({ trigger: 'console', now: REAL_NOW, dryRun: false });
    });

    it('means every opted-in instance for an empty object', () => {
      expect(parseInvocation({}, realNow)).toEqual({ trigger: 'console', now: REAL_NOW, dryRun: false });
    });

    it('reads a dry run', () => {
      expect(parseInvocation({ dryRun: true }, realNow)).toEqual({ trigger: 'console', now: REAL_NOW, dryRun: true });
      expect(parseInvocation({ dryRun: false }, realNow).dryRun).toBe(false);
    });

    it('reads instance ids of both lengths, once each', () => {
      // Prepare
      const payload = { instanceIds: ['i-0123456789abcdef0', 'i-12345678', 'i-0123456789abcdef0'], dryRun: false };

      // Act
      const invocation = parseInvocation(payload, realNow);

      // Assess
      expect(invocation).toEqual({
        trigger: 'console',
        now: REAL_NOW,
        dryRun: false,
        instanceIds: ['i-0123456789abcdef0', 'i-12345678'],
      });
    });

    it(`accepts ${MAX_CONSOLE_INSTANCE_IDS} ids`, () => {
      // Prepare
      const instanceIds = Array.from({ length: MAX_CONSOLE_INSTANCE_IDS }, (_, index) => hexId(index));

      // Act
      const invocation = parseInvocation({ instanceIds }, realNow);

      // Assess
      expect(invocation.instanceIds).toEqual(instanceIds);
    });

    it(`rejects more than ${MAX_CONSOLE_INSTANCE_IDS} ids`, () => {
      // Prepare
      const instanceIds = Array.from({ length: MAX_CONSOLE_INSTANCE_IDS + 1 }, (_, index) => hexId(index));

      // Act
      const error = rejection(() => parseInvocation({ instanceIds }, realNow));

      // Assess
      expect(error.message).toBe(`instanceIds has 1001 ids; at most ${MAX_CONSOLE_INSTANCE_IDS}`);
    });

    it('rejects an empty list rather than reading it as every instance', () => {
      expect(rejection(() => parseInvocation({ instanceIds: [] }, realNow)).message).toMatch(
        /^instanceIds must not be empty/,
      );
    });

    it.each(['i-0123456789abcdef0', 'i-0123456789abcdef0,i-12345678', { 0: 'i-12345678' }, 7, null])(
      'rejects instanceIds that are not a list (%p)',
      (instanceIds) => {
        expect(rejection(() => parseInvocation({ instanceIds }, realNow)).message).toBe(
          'instanceIds must be an array of instance ids',
        );
      },
    );

    it.each([
      'i-0123456789ABCDEF0',
      'i-1234567',
      'i-0123456789abcdef',
      'i-0123456789abcdef01',
      'i-0123456789abcdefg',
      ' i-12345678',
      'ami-12345678',
      '',
      42,
      null,
      ['i-12345678'],
    ])('rejects the id %p, naming its position', (badId) => {
      // Act
      const error = rejection(() => parseInvocation({ instanceIds: ['i-12345678', badId] }, realNow));

      // Assess
      expect(error.message).toMatch(/^instanceIds\[1\] is not an instance id: /);
    });

    it('quotes only the start of a very long bad id', () => {
      // Act
      const error = rejection(() => parseInvocation({ instanceIds: ['x'.repeat(10_000)] }, realNow));

      // Assess
      expect(error.message.length).toBeLessThan(200);
    });

    it.each(['true', 1, null, {}])('rejects dryRun=%p', (dryRun) => {
      expect(rejection(() => parseInvocation({ dryRun }, realNow)).message).toBe('dryRun must be true or false');
    });

    it.each([
      [{ instanceId: 'i-12345678' }, 'instanceId'],
      [{ dryrun: true }, 'dryrun'],
      [{ instanceIds: ['i-12345678'], force: true }, 'force'],
    ])('rejects the unknown field in %p, naming it', (payload, field) => {
      expect(rejection(() => parseInvocation(payload, realNow)).message).toBe(
        `unknown field ${JSON.stringify(field)}; the payload takes instanceIds and dryRun`,
      );
    });

    it('rejects an event of another kind rather than running on it', () => {
      // Prepare: an image event delivered to a function that does not take it
      const event = amiStateChange({ ImageId: 'ami-0abc1234def567890', State: 'available' });

      // Act / Assess
      expect(rejection(() => parseInvocation(event, realNow)).message).toMatch(/^unknown field "version"/);
    });

    it('rejects a scheduled event that only looks like one from the console', () => {
      // Prepare: the right source but another detail type
      const event = { ...scheduledEvent('2026-11-26T03:00:00Z'), 'detail-type': 'Scheduled event' };

      // Act / Assess
      expect(() => parseInvocation(event, realNow)).toThrow(InvalidInputError);
    });

    it.each([[['i-12345678']], 'run', 42, true])('rejects a payload that is not an object (%p)', (payload) => {
      expect(rejection(() => parseInvocation(payload, realNow)).message).toBe('the payload must be a JSON object');
    });
  });

  it('either accepts a payload as it is documented or rejects it with InvalidInputError, for any JSON', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.record(
            {
              instanceIds: fc.array(fc.oneof(fc.stringMatching(/^i-[0-9a-f]{8}$/), fc.string()), { maxLength: 5 }),
              dryRun: fc.oneof(fc.boolean(), fc.jsonValue()),
            },
            { requiredKeys: [] },
          ),
        ),
        (payload) => {
          let invocation: ReturnType<typeof parseInvocation>;
          try {
            invocation = parseInvocation(payload, realNow);
          } catch (error: unknown) {
            expect(error).toBeInstanceOf(InvalidInputError);
            return;
          }
          expect(invocation.trigger).toBe('console');
          expect(invocation.now).toBe(REAL_NOW);
          expect(typeof invocation.dryRun).toBe('boolean');
          for (const id of invocation.instanceIds ?? []) expect(id).toMatch(/^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/);
        },
      ),
    );
  });

  it('errors carry their name, so logs say what failed', () => {
    expect(rejection(() => parseInvocation('run', realNow)).name).toBe('InvalidInputError');
  });
});

describe('parseImageStateChange', () => {
  it('reads the image, its state and the event time', () => {
    // Prepare
    const event = amiStateChange({ ImageId: 'ami-0abc1234def567890', State: 'failed', ErrorMessage: 'boom' });

    // Act
    const change = parseImageStateChange(event);

    // Assess
    expect(change).toEqual({
      now: new Date('2026-11-26T03:25:00Z'),
      imageId: 'ami-0abc1234def567890',
      state: 'failed',
    });
  });

  it.each([
    undefined,
    null,
    {},
    { instanceIds: ['i-12345678'] },
    scheduledEvent('2026-11-26T03:00:00Z'),
    { ...amiStateChange({ ImageId: 'ami-0abc1234', State: 'available' }), source: 'aws.events' },
    { ...amiStateChange({ ImageId: 'ami-0abc1234', State: 'available' }), 'detail-type': 'EC2 Instance State-change' },
  ])('is undefined for anything that is not an AMI state change (%#)', (event) => {
    expect(parseImageStateChange(event)).toBeUndefined();
  });

  it.each([{}, { ImageId: 'snap-0abc1234' }, { ImageId: 'ami-0ABC1234' }, { ImageId: 42 }, { State: 'available' }])(
    'rejects an AMI state change without an image id (%p)',
    (detail) => {
      expect(rejection(() => parseImageStateChange(amiStateChange({ State: 'available', ...detail }))).message).toMatch(
        /^detail\.ImageId is not an image id/,
      );
    },
  );

  it('rejects an AMI state change whose detail is missing', () => {
    // Prepare
    const { detail: _detail, ...event } = amiStateChange({});

    // Act / Assess
    expect(rejection(() => parseImageStateChange(event)).message).toMatch(/^detail\.ImageId/);
  });

  it('rejects an AMI state change without a state', () => {
    expect(rejection(() => parseImageStateChange(amiStateChange({ ImageId: 'ami-0abc1234' }))).message).toBe(
      'detail.State must be a string',
    );
  });

  it('rejects an AMI state change with an unreadable time', () => {
    expect(
      rejection(() => parseImageStateChange(amiStateChange({ ImageId: 'ami-0abc1234', State: 'available' }, 'soon')))
        .message,
    ).toMatch(/^time must be an ISO-8601 time/);
  });
});

/** Lambda's SQS event around message bodies. */
function sqsEvent(bodies: readonly unknown[]) {
  return {
    Records: bodies.map((body, index) => ({
      messageId: `m-${index}`,
      receiptHandle: 'handle',
      body,
      attributes: { ApproximateReceiveCount: '1' },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:ImageStateQueue',
      awsRegion: 'us-east-1',
    })),
  };
}

describe('parseQueueBatch', () => {
  it('is not concerned with events that are not SQS batches', () => {
    expect(parseQueueBatch(amiStateChange({ ImageId: 'ami-0abc1234', State: 'available' }))).toBeUndefined();
    expect(parseQueueBatch(scheduledEvent('2026-11-26T03:00:00Z'))).toBeUndefined();
    expect(parseQueueBatch(undefined)).toBeUndefined();
  });

  it('reads the image state change of each message, keeping its message id', () => {
    // Prepare
    const body = JSON.stringify(amiStateChange({ ImageId: 'ami-0abc1234', State: 'available' }));

    // Act
    const batch = parseQueueBatch(sqsEvent([body]));

    // Assess
    expect(batch).toEqual({
      changes: [
        {
          messageId: 'm-0',
          change: { imageId: 'ami-0abc1234', state: 'available', now: new Date('2026-11-26T03:25:00Z') },
        },
      ],
      rejected: [],
    });
  });

  it('rejects each message that is not an image state change on its own, saying why', () => {
    // Prepare
    const good = JSON.stringify(amiStateChange({ ImageId: 'ami-0abc1234', State: 'failed' }));
    const bodies = [
      'not json',
      JSON.stringify(scheduledEvent('2026-11-26T03:00:00Z')),
      JSON.stringify(amiStateChange({ ImageId: 'vol-1', State: 'available' })),
      42,
      good,
    ];

    // Act
    const batch = parseQueueBatch(sqsEvent(bodies));

    // Assess
    expect(batch?.changes.map((queued) => queued.messageId)).toEqual(['m-4']);
    expect(batch?.rejected).toEqual([
      { messageId: 'm-0', reason: 'the message is not an EC2 AMI State Change event' },
      { messageId: 'm-1', reason: 'the message is not an EC2 AMI State Change event' },
      { messageId: 'm-2', reason: expect.stringContaining('detail.ImageId') },
      { messageId: 'm-3', reason: 'the message is not an EC2 AMI State Change event' },
    ]);
  });

  it.each([
    [{ Records: [] }, 'Records must be a non-empty array'],
    [{ Records: 'x' }, 'Records must be a non-empty array'],
    [{ Records: [{ body: '{}' }] }, 'Records[0] is not an SQS message'],
    [{ Records: [{ messageId: 'm', body: '{}', eventSource: 'aws:kinesis' }] }, 'Records[0] is not an SQS message'],
  ])('rejects a batch %j that is not made of SQS messages', (event, message) => {
    expect(rejection(() => parseQueueBatch(event)).message).toContain(message);
  });

  it('never throws anything but a clear rejection, whatever the messages hold', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string(), fc.json(), fc.anything()), { minLength: 1, maxLength: 5 }),
        (bodies) => {
          const batch = parseQueueBatch(sqsEvent(bodies));
          expect((batch?.changes.length ?? 0) + (batch?.rejected.length ?? 0)).toBe(bodies.length);
        },
      ),
    );
  });
});
