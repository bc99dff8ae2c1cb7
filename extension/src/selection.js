// Splits a selected piece of text ("Sneha Iyer — 098450 12345") into a phone number and a name.
import { findNumbers } from "libphonenumber-js/min";

// The dial buttons the content script adds sit inside selections: their labels are not text.
const BUTTON_LABELS = /☎\s*(?:Call(?:ed|ing…)?|Refused)/g;
// Something number-like when no valid number is found: it goes to the API, which says why not.
const NUMBERISH = /\+?\d[\d\s().-]*\d/;
const SEPARATORS = /^[\s,;:|/–—()-]+|[\s,;:|/–—()-]+$/g;

export function cleanSelection(text) {
  return String(text || "").replace(BUTTON_LABELS, " ").replace(/\s+/g, " ").trim().slice(0, 200);
}

// Whether a selection is worth offering to save: a few digits, not a whole paragraph.
export function looksLikeContact(text) {
  const clean = cleanSelection(text);
  return clean.length > 0 && clean.length <= 120 && (clean.match(/\d/g) || []).length >= 6;
}

// { phone, name }: phone in E.164 when the text holds a valid number, else the number-like part
// as written (or "" when there is none); name is what is left, without separators.
export function splitSelection(text, region) {
  const clean = cleanSelection(text);
  const [match] = findNumbers(clean, { defaultCountry: region, v2: true }).filter((m) => m.number.isValid());
  let phone = "";
  let rest = clean;
  if (match) {
    phone = match.number.number;
    rest = `${clean.slice(0, match.startsAt)} ${clean.slice(match.endsAt)}`;
  } else {
    const loose = clean.match(NUMBERISH);
    if (loose) {
      phone = loose[0].trim().slice(0, 40);
      rest = clean.replace(loose[0], " ");
    }
  }
  const name = rest.replace(/\s+/g, " ").replace(SEPARATORS, "").slice(0, 200);
  return { phone, name };
}
