import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeInstancesCommand, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import {
  ATTEMPT_RESERVE_MS,
  DeadlineRetryStrategy,
  isTransient,
  refusedIds,
  retryTimeLeft,
  withinDeadline,
} from '../../../lib/errors';
import { InvalidInputError } from '../../../lib/input';
import { maxAttemptsFrom } from '../../../lib/runtime';

function ec2Error(code: string, message: string, httpStatusCode: number): EC2ServiceException {
  const $fault = httpStatusCode >= 500 ? 'server' : 'client';
  return new EC2ServiceException({ name: code, message, $fault, $metadata: { httpStatusCode } });
}

/** A network error as Node's HTTP client raises it. */
function networkError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('isTransient', () => {
  it.each([
    ['throttling', ec2Error('RequestLimitExceeded', 'Request limit exceeded.', 503)],
    ['a server fault', ec2Error('InternalError', 'An internal error has occurred', 500)],
    ['an unavailable service', ec2Error('Unavailable', 'The server is overloaded', 503)],
    ['a connection reset', networkError('ECONNRESET', 'socket hang up')],
    ['a refused connection', networkError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1')],
    ['a timeout', Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' })],
  ])('retries %s', (_kind, error) => {
    expect(isTransient(error)).toBe(true);
  });

  it.each([
    ['an unknown id', ec2Error('InvalidInstanceID.NotFound', "The instance ID 'i-1' does not exist", 400)],
    ['a malformed id', ec2Error('InvalidAMIID.Malformed', 'Invalid id: "x" (expecting "ami-...")', 400)],
    ['a missing permission', ec2Error('UnauthorizedOperation', 'You are not authorized', 403)],
    ['a bad console payload', new InvalidInputError('instanceIds must be a list of instance ids')],
    ['an error without a response', new Error('CreateImage returned no ImageId')],
    ['something not an error', 'ECONNRESET'],
  ])('never retries %s', (_kind, error) => {
    expect(isTransient(error)).toBe(false);
  });
});

describe('refusedIds', () => {
  const batch = ['i-0000000a', 'i-0000000b', 'i-0000000c', 'ami-0000000a', 'snap-0000000a', 'snap-0000000b'];

  it.each([
    ['InvalidInstanceID.NotFound', "The instance ID 'i-0000000b' does not exist", ['i-0000000b']],
    [
      'InvalidInstanceID.NotFound',
      "The instance IDs 'i-0000000a, i-0000000c' do not exist",
      ['i-0000000a', 'i-0000000c'],
    ],
    ['InvalidAMIID.NotFound', "The image id '[ami-0000000a]' does not exist", ['ami-0000000a']],
    ['InvalidSnapshot.NotFound', "The snapshot 'snap-0000000b' does not exist.", ['snap-0000000b']],
    [
      'InvalidSnapshot.NotFound',
      "The snapshots 'snap-0000000a, snap-0000000b' do not exist.",
      ['snap-0000000a', 'snap-0000000b'],
    ],
    ['InvalidID', "The ID 'i-0000000c' is not valid", ['i-0000000c']],
  ])('reads the ids of the batch that %s names', (code, message, expected) => {
    expect(refusedIds(ec2Error(code, message, 400), batch)).toEqual(expected);
  });

  it('names nothing for an id outside the batch, another refusal, or a fault', () => {
    expect(
      refusedIds(ec2Error('InvalidInstanceID.NotFound', "The instance ID 'i-0000000f' does not exist", 400), batch),
    ).toEqual([]);
    expect(refusedIds(ec2Error('InvalidParameterValue', "Value 'i-0000000a' is invalid", 400), batch)).toEqual([]);
    expect(refusedIds(ec2Error('InternalError', 'i-0000000a', 500), batch)).toEqual([]);
    expect(refusedIds('i-0000000a', batch)).toEqual([]);
  });

  it('does not take a longer id for one of the batch', () => {
    const error = ec2Error('InvalidInstanceID.NotFound', "The instance ID 'i-0000000a1' does not exist", 400);
    expect(refusedIds(error, batch)).toEqual([]);
  });
});

describe('maxAttemptsFrom', () => {
  it("takes the SDK's AWS_MAX_ATTEMPTS, else ten attempts, and refuses a bad value", () => {
    expect(maxAttemptsFrom({})).toBe(10);
    expect(maxAttemptsFrom({ AWS_MAX_ATTEMPTS: '2' })).toBe(2);
    expect(() => maxAttemptsFrom({ AWS_MAX_ATTEMPTS: '0' })).toThrow(/AWS_MAX_ATTEMPTS/);
    expect(() => maxAttemptsFrom({ AWS_MAX_ATTEMPTS: 'many' })).toThrow(/AWS_MAX_ATTEMPTS/);
  });
});

describe('DeadlineRetryStrategy with the SDK', () => {
  /** What the endpoint does with each request: answer with an EC2 error, or reset the connection. */
  type Answer = { readonly status: number; readonly code: string } | 'reset';
  let server: Server;
  let answer: Answer;
  let requests: number;
  let client: (maxAttempts: number) => EC2Client;

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests += 1;
      request.resume();
      if (answer === 'reset') {
        request.socket.destroy();
        return;
      }
      response.statusCode = answer.status;
      response.setHeader('content-type', 'text/xml');
      response.end(
        `<Response><Errors><Error><Code>${answer.code}</Code><Message>no</Message></Error></Errors><RequestID>r</RequestID></Response>`,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = (maxAttempts) =>
      new EC2Client({
        endpoint: `http://127.0.0.1:${port}`,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        retryStrategy: new DeadlineRetryStrategy(maxAttempts),
      });
  });

  beforeEach(() => {
    requests = 0;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** The error the call ends with, and the SDK's count of attempts and backoff. */
  async function failure(
    remainingMs: (() => number) | undefined,
    maxAttempts: number,
  ): Promise<{ name: string; attempts?: number; totalRetryDelay?: number }> {
    const ec2 = client(maxAttempts);
    try {
      await withinDeadline(remainingMs, () => ec2.send(new DescribeInstancesCommand({})));
    } catch (error: unknown) {
      const { name, $metadata } = error as EC2ServiceException;
      return { name, attempts: $metadata?.attempts, totalRetryDelay: $metadata?.totalRetryDelay };
    } finally {
      ec2.destroy();
    }
    throw new Error('expected the call to fail');
  }

  it('retries a server error and a reset connection up to its attempts', async () => {
    answer = { status: 500, code: 'InternalError' };
    expect(await failure(undefined, 3)).toMatchObject({ name: 'InternalError', attempts: 3 });
    expect(requests).toBe(3);

    requests = 0;
    answer = 'reset';
    expect(await failure(undefined, 3)).toMatchObject({ attempts: 3 });
    expect(requests).toBe(3);
  });

  it('never retries a bad request', async () => {
    answer = { status: 400, code: 'InvalidInstanceID.Malformed' };
    expect(await failure(undefined, 5)).toMatchObject({ name: 'InvalidInstanceID.Malformed', attempts: 1 });
    answer = { status: 403, code: 'UnauthorizedOperation' };
    expect(await failure(undefined, 5)).toMatchObject({ name: 'UnauthorizedOperation', attempts: 1 });
    expect(requests).toBe(2);
  });

  it('makes no retry the invocation has no time for', async () => {
    answer = { status: 503, code: 'RequestLimitExceeded' };
    expect(await failure(() => ATTEMPT_RESERVE_MS, 10)).toMatchObject({ name: 'RequestLimitExceeded', attempts: 1 });
    expect(requests).toBe(1);
  });

  it('cuts the backoff of a throttled call to the time left, never past it', async () => {
    // 20 ms for backoff in all: the SDK's throttling backoff would wait up to 1, 2 and 4 s.
    answer = { status: 503, code: 'RequestLimitExceeded' };
    const result = await failure(() => ATTEMPT_RESERVE_MS + 20, 4);
    expect(result).toMatchObject({ name: 'RequestLimitExceeded', attempts: 4 });
    expect(result.totalRetryDelay).toBeLessThanOrEqual(3 * 20);
  });

  it('leaves calls outside a deadline unbounded, and each deadline to its own calls', async () => {
    expect(retryTimeLeft()).toBe(Number.POSITIVE_INFINITY);
    const seen = await Promise.all([
      withinDeadline(
        () => 60_000,
        async () => retryTimeLeft(),
      ),
      withinDeadline(
        () => 30_000,
        async () => retryTimeLeft(),
      ),
    ]);
    expect(seen).toEqual([60_000 - ATTEMPT_RESERVE_MS, 30_000 - ATTEMPT_RESERVE_MS]);
  });
});
