// Phone numbers as people type them: as-you-type formatting and validation (libphonenumber-js).
import { AsYouType, parsePhoneNumberFromString } from "libphonenumber-js/min";

export function formatAsYouType(raw, region) {
  return new AsYouType(region).input(raw);
}

/** {valid, e164, international} for a typed number in the organization's region. */
export function check(raw, region) {
  const parsed = parsePhoneNumberFromString(raw || "", region);
  if (!parsed) return { valid: false, e164: null, international: null };
  return {
    valid: parsed.isValid(),
    e164: parsed.number,
    international: parsed.formatInternational(),
  };
}

export function pretty(e164) {
  const parsed = parsePhoneNumberFromString(e164 || "");
  return parsed ? parsed.formatInternational() : e164 || "—";
}
