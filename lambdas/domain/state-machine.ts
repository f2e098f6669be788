/**
 * The VerificationSession state machine: ONE table that the API, the store's
 * conditional writes and the workers all ask. The DynamoDB condition of a
 * transition is generated from `allowedFrom`, so the rule and its enforcement
 * cannot drift apart.
 */
export const STATUSES = ['requires_input', 'processing', 'verified', 'canceled'] as const;
export type Status = (typeof STATUSES)[number];

export type Action =
  | 'submit' //          the user submits on the hosted page
  | 'checks_passed' //   the checks worker verified everything
  | 'checks_failed' //   a check failed: back to requires_input with last_error
  | 'cancel'
  | 'redact' //          the merchant asks for redaction: personal data on the session goes at once,
  //                     the copies elsewhere follow (redaction.status: processing)
  | 'finish_redaction' // every copy is redacted: redaction.status becomes redacted
  | 'update'; //         the merchant changes type, options, metadata, provided_details

/** Event names (without the `identity.verification_session.` prefix). */
export type SessionEventName = 'created' | 'processing' | 'verified' | 'requires_input' | 'canceled' | 'redacted';

interface Rule {
  /** Current statuses in which the action is allowed; status after it. */
  readonly from: Partial<Record<Status, Status>>;
  /** What the action is called in a refusal message. */
  readonly verb: string;
}

export const TRANSITIONS: Readonly<Record<Action, Rule>> = {
  submit: { verb: 'submit', from: { requires_input: 'processing' } },
  checks_passed: { verb: 'verify', from: { processing: 'verified' } },
  checks_failed: { verb: 'fail', from: { processing: 'requires_input' } },
  cancel: { verb: 'cancel', from: { requires_input: 'canceled' } },
  // While processing, a redact is accepted as pending: the checks still need the
  // submission. When they end (verified or requires_input), finish_redaction runs.
  redact: {
    verb: 'redact',
    from: { requires_input: 'canceled', processing: 'processing', verified: 'verified', canceled: 'canceled' },
  },
  // A session the checks sent back to requires_input while a redaction was pending is canceled.
  finish_redaction: {
    verb: 'finish redacting',
    from: { requires_input: 'canceled', verified: 'verified', canceled: 'canceled' },
  },
  update: { verb: 'update', from: { requires_input: 'requires_input' } },
};

/** The status every new session starts in. */
export const INITIAL_STATUS: Status = 'requires_input';

export function allowedFrom(action: Action): Status[] {
  return Object.keys(TRANSITIONS[action].from) as Status[];
}

export function isAllowed(action: Action, current: Status): boolean {
  return TRANSITIONS[action].from[current] !== undefined;
}

/** The status after `action` from `current`, or undefined when refused. */
export function nextStatus(action: Action, current: Status): Status | undefined {
  return TRANSITIONS[action].from[current];
}

/** A message that names the current status and what would have been allowed. */
export function refusalMessage(action: Action, current: Status): string {
  const allowed = allowedFrom(action);
  const list = allowed.length === 1 ? `\`${allowed[0]}\`` : allowed.map((s) => `\`${s}\``).join(' or ');
  return `You cannot ${TRANSITIONS[action].verb} this VerificationSession because it has a status of \`${current}\`. It can be ${pastTense(action)} only while its status is ${list}.`;
}

function pastTense(action: Action): string {
  switch (action) {
    case 'submit':
      return 'submitted';
    case 'checks_passed':
      return 'verified';
    case 'checks_failed':
      return 'failed';
    case 'cancel':
      return 'canceled';
    case 'redact':
      return 'redacted';
    case 'finish_redaction':
      return 'finished redacting';
    case 'update':
      return 'updated';
  }
}

/**
 * Actions that a pending or finished redaction refuses: nothing may bring
 * personal data back onto a session that is being redacted.
 */
export const REFUSED_WHILE_REDACTING: readonly Action[] = ['submit', 'cancel', 'update'];

/**
 * The events a status change makes, in order. `redacted` means the redaction
 * is finished (redaction.status: redacted), not merely asked for. A redact of a
 * `requires_input` session cancels it at once (`canceled`); `redacted` follows
 * when every copy is redacted.
 */
export function eventsForChange(
  before: { status: Status; redacted: boolean } | undefined,
  after: { status: Status; redacted: boolean },
): SessionEventName[] {
  if (!before) return ['created'];
  const events: SessionEventName[] = [];
  if (before.status !== after.status) events.push(after.status as SessionEventName);
  if (!before.redacted && after.redacted) events.push('redacted');
  return events;
}
