import { monotonicFactory } from 'ulid';

const nextUlid = monotonicFactory();

/** A ULID: 26 chars, time-ordered, never numeric, no ':' — safe as a BullMQ job id. */
export function newId(): string {
  return nextUlid();
}

export const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;
