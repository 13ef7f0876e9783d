// How old a response already is when memfront receives it, and how old it is now
// (RFC 9111 4.2.3), as plain arithmetic over numbers the engine hands in.
import { firstValue, type Headers } from './headers.js';
import { parseHttpDate } from './http-date.js';

export interface AgeInputs {
  /** The response's Date, ms since the epoch (absent or unparsable: undefined). */
  dateValue?: number;
  /** The response's Age, whole seconds (absent or invalid: undefined). */
  ageValue?: number;
  /** When memfront sent the request that produced the response (ms). */
  requestTime: number;
  /** When memfront received the response's headers (ms). */
  responseTime: number;
}

/**
 * RFC 9111 5.1: "a cache encountering a message with a list-based Age field value SHOULD use
 * the first member of the field value, discarding subsequent ones. If the field value ... is
 * invalid (e.g., it contains something other than a non-negative integer), a cache SHOULD
 * ignore the field."
 */
export function ageValueOf(headers: Headers): number | undefined {
  const v = firstValue(headers['age'])?.split(',')[0].trim();
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  // RFC 9111 1.2.2: a delta-seconds too large to hold is 2^31.
  return Math.min(Number(v), 2147483648);
}

/** The inputs for a response whose headers arrived at `responseTime` (the request sent at `requestTime`). */
export function ageInputs(headers: Headers, requestTime: number, responseTime: number): AgeInputs {
  return {
    dateValue: parseHttpDate(firstValue(headers['date']), responseTime) ?? undefined,
    ageValue: ageValueOf(headers),
    requestTime,
    responseTime,
  };
}

/**
 * corrected_initial_age in whole seconds: how old the response was when it reached memfront.
 */
export function correctedInitialAge(i: AgeInputs): number {
  // RFC 9111 4.2.3: "apparent_age = max(0, response_time - date_value);"
  // Date has a resolution of one second and is truncated when sent: a Date of second S was
  // made in [S, S+1), so only what lies beyond that second is age it proves. Without this,
  // every response would arrive up to a second old and a max-age=1 page would never be fresh.
  const apparentAge = i.dateValue === undefined ? 0 : Math.max(0, Math.floor(i.responseTime / 1000) - Math.floor(i.dateValue / 1000) - 1);

  // RFC 9111 4.2.3: "response_delay = response_time - request_time;
  //   corrected_age_value = age_value + response_delay;"
  const responseDelay = Math.max(0, Math.floor((i.responseTime - i.requestTime) / 1000));
  const correctedAgeValue = i.ageValue === undefined ? 0 : i.ageValue + responseDelay;

  // RFC 9111 4.2.3: "corrected_initial_age = max(apparent_age, corrected_age_value);"
  return Math.max(apparentAge, correctedAgeValue);
}

/**
 * current_age in whole seconds: what the Age header memfront sends says (RFC 9111 5.1: "the
 * sender's estimate of the time since the response was generated or successfully validated").
 * Never negative: another worker's clock may be a little behind the one that stored it.
 */
export function currentAge(initialAge: number, responseTime: number, now: number): number {
  // RFC 9111 4.2.3: "resident_time = now - response_time;
  //   current_age = corrected_initial_age + resident_time;"
  const residentTime = Math.max(0, Math.floor((now - responseTime) / 1000));
  return initialAge + residentTime;
}
