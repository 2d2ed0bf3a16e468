import { pollAdvice } from './waiting-room.service';

describe('pollAdvice', () => {
  it('a fifth of the wait, at least 2 s, at most a third of the abandon time', () => {
    expect(pollAdvice(0, 30)).toBe(2);
    expect(pollAdvice(10, 30)).toBe(2);
    expect(pollAdvice(11, 30)).toBe(3);
    expect(pollAdvice(48, 30)).toBe(10);
    expect(pollAdvice(100_000, 30)).toBe(10);
    expect(pollAdvice(1_000, 120)).toBe(40);
    // A short abandon time still leaves 2 s: WAITING_ROOM_ABANDON_SECONDS is at least 1, and 3 polls fit in 6 s.
    expect(pollAdvice(1_000, 3)).toBe(2);
  });
});
