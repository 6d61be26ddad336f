/**
 * The rules of the functions' named schedules, made on the endpoint's EventBridge as CloudFormation makes them at
 * deploy (enabled, unless serverless.yml says `enabled: false`), so that the functions can turn them on and off and
 * the simulation fires them only when on.
 */
import {
  DescribeRuleCommand,
  type EventBridgeClient,
  PutRuleCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-eventbridge';
import type { LocalFunction } from './simulation';

export async function deployRules(functions: readonly LocalFunction[], client: EventBridgeClient): Promise<void> {
  for (const fn of functions) {
    for (const { ruleName, deployedDisabled } of fn.schedules) {
      if (ruleName === undefined) continue;
      await client.send(new PutRuleCommand({ Name: ruleName, State: deployedDisabled ? 'DISABLED' : 'ENABLED' }));
    }
  }
}

/** Whether a rule is enabled, as the endpoint's EventBridge says; a rule it does not know fires (it was never made). */
export function ruleState(client: EventBridgeClient): (ruleName: string) => Promise<boolean> {
  return async (ruleName) => {
    try {
      return (await client.send(new DescribeRuleCommand({ Name: ruleName }))).State !== 'DISABLED';
    } catch (error: unknown) {
      if (error instanceof ResourceNotFoundException) return true;
      throw error;
    }
  };
}
