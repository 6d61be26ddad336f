/** An error EC2 would answer with: its code, message and HTTP status (400 unless said otherwise). */
export class Ec2ApiError extends Error {
  override readonly name = 'Ec2ApiError';

  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export const dryRunSucceeded = (): Ec2ApiError =>
  new Ec2ApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);

export const requestLimitExceeded = (): Ec2ApiError =>
  new Ec2ApiError('RequestLimitExceeded', 'Request limit exceeded.', 503);

export const invalidParameterValue = (message: string): Ec2ApiError =>
  new Ec2ApiError('InvalidParameterValue', message);

export const missingParameter = (name: string): Ec2ApiError =>
  new Ec2ApiError('MissingParameter', `The request must contain the parameter ${name}`);

export const invalidParameterCombination = (message: string): Ec2ApiError =>
  new Ec2ApiError('InvalidParameterCombination', message);

export const incorrectInstanceState = (message: string): Ec2ApiError =>
  new Ec2ApiError('IncorrectInstanceState', message);

/** The same client token with other parameters (EC2 API reference, "Ensuring idempotency"). */
export const idempotentParameterMismatch = (): Ec2ApiError =>
  new Ec2ApiError(
    'IdempotentParameterMismatch',
    'Arguments on this idempotent request are inconsistent with arguments used in previous request(s).',
  );
