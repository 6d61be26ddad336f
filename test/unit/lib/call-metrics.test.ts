/**
 * DeniedCalls and ThrottledCalls: counted by the EC2 adapter at every attempt (inside the SDK's retry loop), published
 * by the handlers' middleware. A real SDK client answers from a scripted HTTP handler (no network).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { Ec2Gateway } from '../../../lib/ec2-gateway';
import { isDenied, isThrottled } from '../../../lib/errors';
import { callCounts, callMetrics, countEc2Answer, MetricName } from '../../../lib/metrics';

const ok = `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet/></DescribeInstancesResponse>`;
const refusal = (code: string) =>
  `<Response><Errors><Error><Code>${code}</Code><Message>no</Message></Error></Errors><RequestID>r</RequestID></Response>`;

/** A client whose answers are the script's, in order (the last one repeats). */
function scriptedClient(script: readonly { status: number; body: string }[], maxAttempts: number): EC2Client {
  let call = 0;
  return new EC2Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts,
    requestHandler: {
      handle: async () => {
        const answer = script[Math.min(call, script.length - 1)] as { status: number; body: string };
        call += 1;
        return {
          response: {
            statusCode: answer.status,
            headers: { 'content-type': 'text/xml' },
            body: Buffer.from(answer.body),
          },
        };
      },
    },
  });
}

/** One invocation as middy runs it: the middleware's before, the work, then its after (or onError). */
async function invocation(work: () => Promise<unknown>): Promise<void> {
  const middleware = callMetrics();
  const request = {} as never;
  await middleware.before?.(request);
  try {
    await work();
  } catch {
    // a failed call is counted all the same
  }
}

const errorNamed = (name: string) => Object.assign(new Error('x'), { name });

describe('the classification of EC2 answers', () => {
  it('counts UnauthorizedOperation and AccessDenied as denied, RequestLimitExceeded as throttled, others not', async () => {
    await invocation(async () => {
      for (const name of [
        'UnauthorizedOperation',
        'AccessDenied',
        'RequestLimitExceeded',
        'Throttling',
        'InternalError',
      ])
        countEc2Answer(errorNamed(name));
    });
    expect(callCounts()).toEqual({ [MetricName.deniedCalls]: 2, [MetricName.throttledCalls]: 2 });
    expect(isDenied(errorNamed('InvalidAMIID.NotFound'))).toBe(false);
    expect(isThrottled(errorNamed('RequestLimitExceeded'))).toBe(true);
  });
});

describe('the EC2 adapter counting answers', () => {
  it('counts every throttled attempt, the retried ones too, and starts from zero at each invocation', async () => {
    // Prepare: two throttles, then the answer.
    const throttled = { status: 503, body: refusal('RequestLimitExceeded') };
    const client = scriptedClient([throttled, throttled, { status: 200, body: ok }], 3);
    const gateway = new Ec2Gateway(client);

    // Act
    await invocation(() => gateway.findInstances({ instanceIds: ['i-0000000a'] }));
    const first = callCounts();
    await invocation(async () => undefined);

    // Assess
    expect(first).toEqual({ [MetricName.deniedCalls]: 0, [MetricName.throttledCalls]: 2 });
    expect(callCounts()).toEqual({ [MetricName.deniedCalls]: 0, [MetricName.throttledCalls]: 0 });
  });

  it('counts a refused call once (it is not retried), and once per client however many gateways share it', async () => {
    // Prepare
    const client = scriptedClient([{ status: 403, body: refusal('UnauthorizedOperation') }], 3);
    const gateway = new Ec2Gateway(client).forInvocation(() => 60_000);

    // Act
    await invocation(() => gateway.findInstances({ instanceIds: ['i-0000000a'] }));

    // Assess
    expect(callCounts()).toEqual({ [MetricName.deniedCalls]: 1, [MetricName.throttledCalls]: 0 });
  });
});
