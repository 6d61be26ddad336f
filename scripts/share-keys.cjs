// The customer managed keys sharing may use (ARNs), as the resources of the shareImages role's KMS statements:
// CloudFormation cannot map a list parameter onto a list.
// - keys: those it may grant target accounts the use of, and list and revoke grants on (`shareKmsKey` and
//   `shareGrantKeys`);
// - copyKey: the one EC2 re-encrypts copies with on the service's behalf (`shareKmsKey`).
// Without any, a list names a key in a Region that does not exist ("none"), so the statement grants nothing (IAM
// needs a resource).
const list = (value) =>
  String(value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');

const orNone = (keys) =>
  keys.length > 0 ? keys : [{ 'Fn::Sub': `arn:\${AWS::Partition}:kms:none:\${AWS::AccountId}:key/none` }];

module.exports = async ({ resolveVariable }) => {
  const shareKmsKey = list(await resolveVariable('param:shareKmsKey'));
  const keys = [...new Set([...shareKmsKey, ...list(await resolveVariable('param:shareGrantKeys'))])];
  return { keys: orNone(keys), copyKey: orNone(shareKmsKey) };
};
