import { ApiError } from '../domain/errors.js';
import { obj, parseParams } from '../domain/params.js';
import { SETTINGS_PARAMS, type SettingsParams, applySettings, renderSettings } from '../domain/settings.js';
import { IdempotencyKeyTaken } from '../store/idempotency.js';
import { SettingsChanged, type SettingsStore } from '../store/settings-store.js';
import type { HttpResponse } from './http.js';
import { answerFromSaved } from './idempotent.js';
import type { CallContext } from './sessions.js';

/**
 * GET and POST /v1/identity/settings: an extension of this service, not a
 * Stripe API. The account's branding on the hosted page, per mode.
 */
export interface SettingsDeps {
  settings: SettingsStore;
}

const WRITE_ATTEMPTS = 3;

export async function retrieveSettings(deps: SettingsDeps, ctx: CallContext, raw: unknown): Promise<HttpResponse> {
  parseParams(obj({}), raw);
  return { status: 200, body: renderSettings(await deps.settings.get(ctx.scope)) };
}

export async function updateSettings(deps: SettingsDeps, ctx: CallContext, raw: unknown): Promise<HttpResponse> {
  const p = parseParams<SettingsParams>(SETTINGS_PARAMS, raw);
  for (let attempt = 1; ; attempt++) {
    const current = await deps.settings.get(ctx.scope);
    const next = applySettings(current, p, ctx.nowMs);
    const body = renderSettings(next);
    try {
      await deps.settings.put(next, current.version, ctx.idempotency && { req: ctx.idempotency, status: 200, body, nowMs: ctx.nowMs });
      return { status: 200, body };
    } catch (err) {
      if (err instanceof IdempotencyKeyTaken) return answerFromSaved(err.saved, ctx.idempotency!);
      if (!(err instanceof SettingsChanged)) throw err;
      if (attempt >= WRITE_ATTEMPTS)
        throw new ApiError(409, 'invalid_request_error', 'The settings were changed by another request at the same time. Retry the request.', {
          code: 'lock_timeout',
          shouldRetry: true,
        });
    }
  }
}
