// The customer managed keys sharing may grant (`shareKmsKey` and `shareGrantKeys`, ARNs), as the resources of the
// shareImages role's KMS statements: CloudFormation cannot map a list parameter onto a list. Without any, the list names
// a key in a Region that does not exist ("none"), so the statements grant nothing (IAM needs a resource).
const list = (value) =>
  String(value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');

module.exports = async ({ resolveVariable }) => {
  const keys = [
    ...new Set([
      ...list(await resolveVariable('param:shareKmsKey')),
      ...list(await resolveVariable('param:shareGrantKeys')),
    ]),
  ];
  return {
    keys: keys.length > 0 ? keys : [{ 'Fn::Sub': `arn:\${AWS::Partition}:kms:none:\${AWS::AccountId}:key/none` }],
  };
};
