import { MAX_CUSTOM_STRING_LENGTH } from "../../lib/custom-values.ts";

// What one Acme account may define and what one contact may hold in custom properties. The
// README's "Custom properties" and the OpenAPI descriptions state the same numbers.

/**
 * The most custom properties one account may have, archived ones included: an archived property
 * keeps its name and the values contacts hold, so counting it keeps both bounded (a contact's
 * `acme_custom` never has more keys than this, and the list needs no paging).
 */
export const MAX_PROPERTIES_PER_ACCOUNT = 100;

/** A property's name: what `acme_custom` keys it by. */
export const PROPERTY_NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;

/** A property's label: 1 to this many characters. */
export const MAX_LABEL_LENGTH = 100;

/** An enumeration's options: 1 to this many, unique, each 1 to {@link MAX_OPTION_LENGTH} characters. */
export const MAX_ENUMERATION_OPTIONS = 100;
export const MAX_OPTION_LENGTH = 100;

/** A `string` property's value: at most this many characters. */
export const MAX_STRING_VALUE_LENGTH = MAX_CUSTOM_STRING_LENGTH;

/** A contact's whole `acme_custom`, serialized as JSON: at most this many bytes of UTF-8. */
export const MAX_CUSTOM_BYTES = 16_384;
