// IAM condition keys cannot hold variables in serverless.yml (only values are resolved), so the
// `aws:ResourceTag/<opt-in key>` entry is built here from the `optInTagKey` and `optInTagValue` parameters.
module.exports = async ({ resolveVariable }) => {
  const key = await resolveVariable('param:optInTagKey');
  const value = await resolveVariable('param:optInTagValue');
  return { [`aws:ResourceTag/${key}`]: value };
};
