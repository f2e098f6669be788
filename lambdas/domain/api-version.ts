/** The Stripe API version this service speaks, as pinned by stripe-node 23.1. */
export const API_VERSION = '2026-10-28.endive';
