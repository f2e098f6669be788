/**
 * Imported first by `npm start`, before any module builds the Powertools
 * metrics: a local run prints no CloudWatch EMF lines (there is no CloudWatch
 * to read them). Set POWERTOOLS_METRICS_DISABLED=false to see them.
 */
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
// The SDK's notice about future Node versions is not for users of `npm start`.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
