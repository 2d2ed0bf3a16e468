import { pollAdvice } from './waiting-room.service';

describe('pollAdvice', () => {
  it('a tenth of the wait, at least 2 s, at most a third of the abandon time', () => {
    expect(pollAdvice(0, 30)).toBe(2);
    expect(pollAdvice(15, 30)).toBe(2);
    expect(pollAdvice(21, 30)).toBe(3);
    expect(pollAdvice(95, 30)).toBe(10);
    expect(pollAdvice(100_000, 30)).toBe(10);
    expect(pollAdvice(1_000, 120)).toBe(40);
    // A short abandon time still leaves 2 s: WAITING_ROOM_ABANDON_SECONDS is at least 1, and 3 polls fit in 6 s.
    expect(pollAdvice(1_000, 3)).toBe(2);
  });
});
