/** `npm run keys -- create|list|revoke` (see keys-command.ts). */
import { keysCommand } from './keys-command.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const result = await keysCommand(process.argv.slice(2));
for (const line of result.out) console.log(line);
for (const line of result.err) console.error(line);
process.exitCode = result.code;
