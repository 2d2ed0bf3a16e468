import { ConfigError, DEVELOPMENT_SECRETS, loadConfig, productionProblems } from './config';

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
    ['REDIS_CLUSTER_URLS', 'redis://a:7000,http://b:7001'],
    ['REDIS_WAIT_REPLICAS', '-1'],
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

  it('takes a Redis Cluster as a list of node URLs; a single Redis (and no WAIT) by default', () => {
    expect(loadConfig({}).REDIS_CLUSTER_URLS).toEqual([]);
    expect(loadConfig({}).REDIS_WAIT_REPLICAS).toBeUndefined();
    // As .env.example leaves it: unset, not 0 (which would turn WAIT off on a cluster).
    expect(loadConfig({ REDIS_WAIT_REPLICAS: '' }).REDIS_WAIT_REPLICAS).toBeUndefined();
    expect(loadConfig({ REDIS_WAIT_REPLICAS: '0' }).REDIS_WAIT_REPLICAS).toBe(0);
    const c = loadConfig({ REDIS_CLUSTER_URLS: 'redis://h1:7000, redis://h2:7001,,rediss://h3:7002', REDIS_WAIT_REPLICAS: '1' });
    expect(c.REDIS_CLUSTER_URLS).toEqual(['redis://h1:7000', 'redis://h2:7001', 'rediss://h3:7002']);
    expect(c.REDIS_WAIT_REPLICAS).toBe(1);
    expect(c.REDIS_WAIT_TIMEOUT_MS).toBe(100);
  });

  it('names every bad variable at once', () => {
    expect(() => loadConfig({ API_PORT: '-1', WORKER_CONCURRENCY: 'x' })).toThrow(/API_PORT[\s\S]*WORKER_CONCURRENCY/);
  });
});

describe('RATE_LIMITS', () => {
  const limits = (value?: string) => loadConfig(value === undefined ? {} : { RATE_LIMITS: value }).RATE_LIMITS;

  it('has production defaults: auth.login per IP and per email, signups per IP, orders and coupon claims per user, 600/60 s per IP for the rest', () => {
    expect(limits()).toEqual({
      '*': { ip: { points: 600, seconds: 60 } },
      'auth.login': { ip: { points: 10, seconds: 60 }, email: { points: 5, seconds: 60 } },
      'auth.signup': { ip: { points: 5, seconds: 3600 } },
      'orders.place': { user: { points: 20, seconds: 1 }, ip: { points: 100, seconds: 1 } },
      'waitingRoom.status': { user: { points: 60, seconds: 60 }, ip: { points: 6000, seconds: 60 } },
      'waitingRoom.enter': { user: { points: 10, seconds: 60 } },
      'coupons.claim': { user: { points: 10, seconds: 10 } },
    });
  });

  it('is null when off', () => {
    expect(limits('off')).toBeNull();
    expect(limits(' off ')).toBeNull();
  });

  it('lays entries over the defaults scope by scope; scope:off drops one; * is every other procedure', () => {
    const t = limits('orders.place=user:3/2; auth.login=email:off ;*=ip:50/10,user:100/60;chat.send=user:5/1')!;
    expect(t['orders.place']).toEqual({ user: { points: 3, seconds: 2 }, ip: { points: 100, seconds: 1 } });
    expect(t['auth.login']).toEqual({ ip: { points: 10, seconds: 60 }, email: null });
    expect(t['*']).toEqual({ ip: { points: 50, seconds: 10 }, user: { points: 100, seconds: 60 } });
    expect(t['chat.send']).toEqual({ user: { points: 5, seconds: 1 } });
    expect(t['auth.signup']).toEqual({ ip: { points: 5, seconds: 3600 } });
  });

  it.each([
    ['orders.place', 'no = sign'],
    ['orders.place=user', 'no limit'],
    ['orders.place=user:0/1', 'zero points'],
    ['orders.place=user:5/0', 'a zero window'],
    ['orders.place=user:5/86401', 'a window over a day'],
    ['orders.place=user:5/1.5', 'a fractional window'],
    ['orders.place=device:5/1', 'an unknown scope'],
    ['orders.place=email:5/60', 'email on another procedure than auth.login'],
    ['orders=user:5/1', 'a procedure without a router'],
    ['on', 'neither off nor entries'],
  ])('refuses %s (%s), naming RATE_LIMITS', (value) => {
    expect(() => loadConfig({ RATE_LIMITS: value })).toThrow(/RATE_LIMITS/);
  });
});

describe('production refuses development secrets', () => {
  const own = {
    NODE_ENV: 'production',
    PAYMENT_SECRET_KEY: 'live_sk_0123456789',
    ADMISSION_TOKEN_KEYS: 'k1:a-long-random-signing-secret',
  };

  it('starts with secrets of its own', () => {
    expect(productionProblems(loadConfig(own))).toEqual([]);
    expect(loadConfig({ ...own, ADMISSION_TOKEN_KEYS: undefined, ADMISSION_TOKEN_KEYS_FILE: '/run/secrets/keys' }).NODE_ENV).toBe('production');
  });

  it('names every development default it was given, all at once, and starts with none of them', () => {
    let err: unknown;
    try {
      loadConfig({ NODE_ENV: 'production', ADMIN_PASSWORD: DEVELOPMENT_SECRETS.ADMIN_PASSWORD });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.map((p) => p.split(':')[0]);
    expect(problems).toEqual(['PAYMENT_SECRET_KEY', 'ADMIN_PASSWORD', 'ADMISSION_TOKEN_KEYS']);
    for (const [name, value] of Object.entries(DEVELOPMENT_SECRETS)) {
      expect(() => loadConfig({ ...own, [name]: value })).toThrow(new RegExp(`${name}: `));
    }
  });

  it('development and test keep the defaults', () => {
    for (const NODE_ENV of ['development', 'test']) expect(productionProblems(loadConfig({ NODE_ENV }))).toEqual([]);
  });
});
