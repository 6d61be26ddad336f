import type { EvaluationResult } from '@cloud-copilot/iam-simulate';
import { ACTIONS } from './actions';
import { Ec2ApiError } from './errors';
import type { JsonResponse } from './eventbridge';
import { type IamOptions, type IamPrincipal, PolicyEvaluator, sigV4Credential } from './iam';
import {
  type AuthorizationCheck,
  type Ec2ResourceLookup,
  ec2AuthorizationChecks,
  eventBridgeChecks,
  type RequestScope,
} from './iam-context';
import type { QueryParams } from './query';

/** A request (or a snapshot deletion within DeregisterImage) refused by the caller's policies. */
export interface Denial {
  readonly accessKeyId: string;
  readonly principalArn: string;
  /** `service:Action`, e.g. `ec2:CreateTags`. */
  readonly action: string;
  /** The ARN refused (the first one, when several were). */
  readonly resource: string;
  /** The endpoint's simulated time of the request. */
  readonly at: Date;
}

/** The outcome of authorizing an EC2 request. */
export interface Ec2Authorization {
  /** What to answer instead of serving the request; undefined when it is allowed. */
  readonly error: Ec2ApiError | undefined;
  /** Snapshots DeregisterImage may not delete (their ReturnCode is `missing-permissions`). */
  readonly deniedSnapshotDeletions: ReadonlySet<string>;
}

const ALLOWED: Ec2Authorization = { error: undefined, deniedSnapshotDeletions: new Set() };

/** EC2's answer to an access key it does not know. */
export const authFailure = (): Ec2ApiError =>
  new Ec2ApiError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401);

/** Why IAM refused, in the words AWS's messages use. */
function refusalReason(check: AuthorizationCheck, result: EvaluationResult): string {
  return result === 'ExplicitlyDenied'
    ? 'with an explicit deny in an identity-based policy'
    : `because no identity-based policy allows the ${check.action} action`;
}

/** `on resource: <arn>`, left out for `*` as AWS does for actions without resource-level permissions. */
const onResource = (check: AuthorizationCheck): string =>
  check.resource === '*' ? '' : ` on resource: ${check.resource}`;

/**
 * The decision in the shape STS DecodeAuthorizationMessage gives back, base64-encoded: EC2's "encoded authorization
 * failure message" (AWS encrypts it; here it is readable).
 */
export function encodedAuthorizationMessage(
  principal: IamPrincipal,
  check: AuthorizationCheck,
  result: EvaluationResult,
): string {
  const conditions = Object.entries(check.context).map(([key, value]) => ({
    key,
    values: { items: (typeof value === 'string' ? [value] : [...value]).map((item) => ({ value: item })) },
  }));
  const decision = {
    allowed: false,
    explicitDeny: result === 'ExplicitlyDenied',
    matchedStatements: { items: [] },
    failures: { items: [] },
    context: {
      principal: { arn: principal.arn },
      action: check.action,
      resource: check.resource,
      conditions: { items: conditions },
    },
  };
  return Buffer.from(JSON.stringify(decision)).toString('base64');
}

/** EC2's `UnauthorizedOperation` (403) for a refused check. */
export function unauthorizedOperation(
  principal: IamPrincipal,
  check: AuthorizationCheck,
  result: EvaluationResult,
): Ec2ApiError {
  return new Ec2ApiError(
    'UnauthorizedOperation',
    `You are not authorized to perform this operation. User: ${principal.arn} is not authorized to perform: ` +
      `${check.action}${onResource(check)} ${refusalReason(check, result)}. ` +
      `Encoded authorization failure message: ${encodedAuthorizationMessage(principal, check, result)}`,
    403,
  );
}

const jsonError = (type: string, message: string): JsonResponse => ({
  status: 400,
  body: { __type: type, message },
  errorType: type,
});

/** EventBridge's answer to an access key it does not know (JSON protocol services answer 400). */
export const unrecognizedClient = (): JsonResponse =>
  jsonError('UnrecognizedClientException', 'The security token included in the request is invalid.');

/** EventBridge's `AccessDeniedException` for a refused PutEvents. */
export const accessDenied = (principal: IamPrincipal, check: AuthorizationCheck, result: EvaluationResult) =>
  jsonError(
    'AccessDeniedException',
    `User: ${principal.arn} is not authorized to perform: ${check.action}${onResource(check)} ${refusalReason(check, result)}`,
  );

export interface IamGateOptions {
  /** The account an access key acts in. */
  accountOf: (accessKeyId: string) => string;
  /** The Region of ARNs when a request's credential scope names none. */
  region: string;
  /** The resources of an account's Region, as its requests' checks see them. */
  lookupIn: (account: string, region: string) => Ec2ResourceLookup;
  /** The endpoint's clock, for the time of a denial. */
  now: () => Date;
}

/**
 * Authorizes each request against the IAM policies of the principal behind its access key, before it is served:
 * an unknown key is refused as AWS refuses one, a refused check records a {@link Denial}.
 */
export class IamGate {
  readonly denied: Denial[] = [];

  private constructor(
    private readonly evaluator: PolicyEvaluator,
    private readonly options: IamGateOptions,
  ) {}

  /** A gate for these principals; throws when a principal's ARN or policies are not valid. */
  static async create(iam: IamOptions, options: IamGateOptions): Promise<IamGate> {
    const evaluator = new PolicyEvaluator(iam.principals);
    await evaluator.assertValid();
    return new IamGate(evaluator, options);
  }

  /** Authorizes an EC2 request made in `region` (its ARNs' Region and the resources its checks look up). */
  async authorizeEc2(
    authorization: string | undefined,
    action: string,
    params: QueryParams,
    region: string,
  ): Promise<Ec2Authorization> {
    const caller = this.caller(authorization);
    if (caller === undefined) return { error: authFailure(), deniedSnapshotDeletions: new Set() };
    if (!Object.hasOwn(ACTIONS, action)) return ALLOWED; // the handler answers InvalidAction
    let checks: ReturnType<typeof ec2AuthorizationChecks>;
    try {
      const scope = { ...caller.scope, region };
      checks = ec2AuthorizationChecks(action, params, scope, this.options.lookupIn(scope.account, region));
    } catch (err: unknown) {
      if (err instanceof Ec2ApiError) return { error: err, deniedSnapshotDeletions: new Set() };
      throw err;
    }
    const refusal = await this.firstRefusal(caller, checks.required);
    if (refusal !== undefined) {
      return {
        error: unauthorizedOperation(caller.principal, refusal.check, refusal.result),
        deniedSnapshotDeletions: new Set(),
      };
    }
    const deniedSnapshotDeletions = new Set<string>();
    for (const { snapshotId, check } of checks.snapshotDeletions) {
      if ((await this.firstRefusal(caller, [check])) !== undefined) deniedSnapshotDeletions.add(snapshotId);
    }
    return { error: undefined, deniedSnapshotDeletions };
  }

  /** The error to answer a PutEvents with, or undefined when it is allowed. */
  async authorizeEventBridge(
    authorization: string | undefined,
    target: string,
    body: string,
  ): Promise<JsonResponse | undefined> {
    const caller = this.caller(authorization);
    if (caller === undefined) return unrecognizedClient();
    const refusal = await this.firstRefusal(caller, eventBridgeChecks(target, body, caller.scope));
    return refusal === undefined ? undefined : accessDenied(caller.principal, refusal.check, refusal.result);
  }

  private caller(
    authorization: string | undefined,
  ): { accessKeyId: string; principal: IamPrincipal; scope: RequestScope } | undefined {
    const credential = sigV4Credential(authorization);
    const principal = credential === undefined ? undefined : this.evaluator.principal(credential.accessKeyId);
    if (credential === undefined || principal === undefined) return undefined;
    const scope = {
      account: this.options.accountOf(credential.accessKeyId),
      region: credential.region ?? this.options.region,
    };
    return { accessKeyId: credential.accessKeyId, principal, scope };
  }

  /** The first check refused (recorded as a denial), or undefined when all are allowed. */
  private async firstRefusal(
    caller: { accessKeyId: string; principal: IamPrincipal; scope: RequestScope },
    checks: readonly AuthorizationCheck[],
  ): Promise<{ check: AuthorizationCheck; result: EvaluationResult } | undefined> {
    const results = await Promise.all(
      checks.map((check) => this.evaluator.decide(caller.principal, check, caller.scope.account)),
    );
    const index = results.findIndex((result) => result !== 'Allowed');
    const check = checks[index];
    const result = results[index];
    if (check === undefined || result === undefined) return undefined;
    this.denied.push({
      accessKeyId: caller.accessKeyId,
      principalArn: caller.principal.arn,
      action: check.action,
      resource: check.resource,
      at: this.options.now(),
    });
    return { check, result };
  }
}
