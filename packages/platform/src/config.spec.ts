import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('gives localhost defaults, the API on 3000', () => {
    const c = loadConfig({});
    expect(c.API_PORT).toBe(3000);
    expect(c.MYSQL_URL).toBe('mysql://root@127.0.0.1:3306/bazaar');
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.MYSQL_REPLICA_URLS).toEqual([]);
  });

  it('parses numbers and replica lists from strings', () => {
    const c = loadConfig({ API_PORT: '8080', MYSQL_REPLICA_URLS: 'mysql://r1:3306/b, mysql://r2:3306/b', WORKER_CONCURRENCY: '4' });
    expect(c.API_PORT).toBe(8080);
    expect(c.WORKER_CONCURRENCY).toBe(4);
    expect(c.MYSQL_REPLICA_URLS).toEqual(['mysql://r1:3306/b', 'mysql://r2:3306/b']);
  });

  it.each([
    ['API_PORT', 'abc'],
    ['API_PORT', '70000'],
    ['MYSQL_URL', 'postgres://x/y'],
    ['MYSQL_REPLICA_URLS', 'not a url'],
    ['REDIS_URL', 'http://x'],
    ['MYSQL_POOL_SIZE', '0'],
    ['IDEMPOTENCY_TTL_SECONDS', '60'],
    ['LOG_LEVEL', 'loud'],
    ['REDIS_PREFIX', 'has space'],
  ])('refuses %s=%s with a message naming the variable', (name, value) => {
    let err: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(name);
  });

  it('names every bad variable at once', () => {
    expect(() => loadConfig({ API_PORT: '-1', WORKER_CONCURRENCY: 'x' })).toThrow(/API_PORT[\s\S]*WORKER_CONCURRENCY/);
  });
});
