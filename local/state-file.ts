import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where a running `npm start` says how to reach it, for `npm run events`. */
export const LOCAL_STATE_FILE = join(tmpdir(), `verification-sessions-${process.getuid?.() ?? 'user'}.json`);
