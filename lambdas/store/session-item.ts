import type { SessionRecord } from '../domain/session.js';
import type { Address, VerifiedOutputs } from '../domain/report.js';

/**
 * How a session is laid out in its item: a field whose value is null need not
 * be stored. DynamoDB bills a write by the item's size in 1 KB steps, and a null
 * attribute still costs its name: a verified session holds about a dozen null
 * fields (return_url, related_person, last_error, the empty parts of
 * verified_outputs, ...), over 180 bytes of names. Without them a typical
 * verified session stays under 1 KB, so each of its writes costs 1 unit instead
 * of 2 (and 2 instead of 4 in a transaction). Reading puts the nulls back, so
 * nothing outside the store sees the difference.
 *
 * Sessions have been written this way since the release after 2145ffa; items
 * written with their nulls by earlier releases read the same. 2145ffa was
 * staged for it (it reads both forms but wrote the nulls): a release older
 * than it tests `redaction !== null` before writing the checks' outcome, so a
 * deployment older than 2145ffa upgrades through it (README, "Upgrading").
 */

/** Every top-level field of a session that may be null; the compiler checks that none is missing. */
const NULLABLE: Record<NullableField, true> = {
  provided_details: true,
  return_url: true,
  client_reference_id: true,
  related_customer: true,
  related_customer_account: true,
  related_person: true,
  last_error: true,
  last_verification_report: true,
  redaction: true,
  verified_outputs: true,
  secret_seed: true,
  last_request: true,
  submission: true,
};
type NullableField = { [K in keyof SessionRecord]-?: null extends SessionRecord[K] ? K : never }[keyof SessionRecord];
export const NULLABLE_SESSION_FIELDS = Object.keys(NULLABLE) as NullableField[];

/** The fields of verified_outputs and of its address, each stored only when not null. */
const OUTPUT_FIELDS: Record<keyof VerifiedOutputs, true> = {
  address: true,
  dob: true,
  email: true,
  first_name: true,
  id_number: true,
  id_number_type: true,
  last_name: true,
  phone: true,
  sex: true,
  unparsed_place_of_birth: true,
  unparsed_sex: true,
};
const ADDRESS_FIELDS = Object.keys({ city: true, country: true, line1: true, line2: true, postal_code: true, state: true } satisfies Record<keyof Address, true>);

const withoutNulls = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));

function withNulls(o: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...o };
  for (const f of fields) if (out[f] === undefined) out[f] = null;
  return out;
}

/** The attributes a session is stored as (without its keys). */
export function compactSession(s: SessionRecord): Record<string, unknown> {
  const item: Record<string, unknown> = withoutNulls(s as unknown as Record<string, unknown>);
  const outputs = s.verified_outputs as Record<string, unknown> | null;
  if (outputs) {
    const compact = withoutNulls(outputs);
    if (outputs.address && typeof outputs.address === 'object') compact.address = withoutNulls(outputs.address as Record<string, unknown>);
    item.verified_outputs = compact;
  }
  return item;
}

/** The session a stored item holds (its keys already removed): the nulls put back. */
export function expandSession(item: Record<string, unknown>): SessionRecord {
  const s = withNulls(item, NULLABLE_SESSION_FIELDS);
  if (s.verified_outputs && typeof s.verified_outputs === 'object') {
    const outputs = withNulls(s.verified_outputs as Record<string, unknown>, Object.keys(OUTPUT_FIELDS));
    if (outputs.address && typeof outputs.address === 'object') outputs.address = withNulls(outputs.address as Record<string, unknown>, ADDRESS_FIELDS);
    s.verified_outputs = outputs;
  }
  return s as unknown as SessionRecord;
}
