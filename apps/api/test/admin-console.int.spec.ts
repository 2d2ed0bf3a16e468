import { execute } from '@bazaar/db';
import { ADMIN_COOKIE, ensureAdminAccount } from '@bazaar/api/hosting';
import { newAccount, PASSWORD, startTestApi, uniqueEmail, type TestApi } from '../../../test/support/api-harness';

/**
 * The admin console (apps/api/src/http/admin-console.ts): Bull Board at /admin/queues for a signed-in ADMIN only,
 * through a sign-in form, a cookie session kept apart from the API's, and auth.login's rate limits.
 */
/** auth.login's attempts per email a minute, in this suite (the admin signs in a dozen times in all). */
const EMAIL_LIMIT = 20;

describe('admin console (Bull Board behind an admin session)', () => {
  let api: TestApi;
  const adminEmail = uniqueEmail('admin');
  const adminPassword = 'an-admin-password-for-tests';
  let adminId: number;

  beforeAll(async () => {
    api = await startTestApi({ RATE_LIMITS: `*=ip:off;auth.login=ip:off,email:${EMAIL_LIMIT}/60` });
    await ensureAdminAccount(api.deps.ds, { ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: adminPassword });
    adminId = (await api.deps.users.findByEmail(adminEmail))!.id;
  });
  afterAll(() => api.close());

  const get = (path: string, cookie?: string) => fetch(`${api.url}${path}`, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  const signIn = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${api.url}/admin/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
  /** Signs the admin in; the cookie header to send back. */
  async function adminCookie(): Promise<string> {
    const res = await signIn({ email: adminEmail, password: adminPassword });
    expect(res.status).toBe(303);
    return res.headers.get('set-cookie')!.split(';')[0]!;
  }

  it('sends a visitor without a session to sign in, and refuses the board’s API', async () => {
    const page = await get('/admin/queues');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/admin/login?next=%2Fadmin%2Fqueues');
    const apiCall = await get('/admin/queues/api/queues');
    expect(apiCall.status).toBe(401);
    expect(await apiCall.json()).toEqual({ error: 'sign in at /admin/login' });

    const login = await get('/admin/login');
    expect(login.status).toBe(200);
    expect(login.headers.get('content-type')).toMatch(/^text\/html/);
    expect(login.headers.get('content-security-policy')).toContain("form-action 'self'");
    expect(login.headers.get('content-security-policy')).not.toContain('script-src');
    expect(await login.text()).toContain('<form method="post" action="/admin/login">');
  });

  it('signs the admin in with a strict cookie and shows the queues', async () => {
    const res = await signIn({ email: adminEmail.toUpperCase(), password: adminPassword, next: '/admin/queues/queue/x' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/admin/queues/queue/x');
    const set = res.headers.get('set-cookie')!;
    expect(set).toMatch(new RegExp(`^${ADMIN_COOKIE}=[A-Za-z0-9_-]{43};`));
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    expect(set).toMatch(/Path=\/admin/);
    expect(set).toMatch(/Max-Age=28800/);
    const cookie = set.split(';')[0]!;

    const page = await get('/admin/queues', cookie);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
    const queues = await get('/admin/queues/api/queues', cookie);
    expect(queues.status).toBe(200);
    const names = ((await queues.json()) as { queues: { name: string }[] }).queues.map((q) => q.name);
    expect(names.sort()).toEqual([api.deps.ordersQueue.name, api.deps.refundsQueue.name].sort());
  });

  it('refuses a wrong password, a customer’s right one, and an unknown email alike, setting no cookie', async () => {
    const customer = await newAccount(api, 'CUSTOMER');
    for (const fields of [
      { email: adminEmail, password: 'not-the-password' },
      { email: customer.user.email, password: PASSWORD },
      { email: uniqueEmail('nobody'), password: adminPassword },
    ]) {
      const res = await signIn(fields);
      expect(res.status).toBe(401);
      expect(res.headers.get('set-cookie')).toBeNull();
      expect(await res.text()).toContain('wrong email or password, or not an admin account');
    }
    // An empty form is a 400, not a guess.
    expect((await signIn({})).status).toBe(400);
  });

  it('never redirects off the board (no open redirect)', async () => {
    for (const next of ['https://evil.example/', '//evil.example/admin/queues', '/admin/queues//evil.example', '/trpc/auth.me', 'javascript:alert(1)']) {
      const res = await signIn({ email: adminEmail, password: adminPassword, next });
      expect(res.headers.get('location')).toBe('/admin/queues');
    }
    const page = await get('/admin/login?next=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E');
    expect(await page.text()).not.toContain('<script>');
  });

  it('keeps the console session and API tokens apart', async () => {
    const cookie = await adminCookie();
    const token = cookie.slice(ADMIN_COOKIE.length + 1);
    const me = await fetch(`${api.url}/trpc/auth.me`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(401);
    // An admin's API token is not a console session either.
    const apiToken = (await api.deps.sessions.issue({ userId: adminId, role: 'ADMIN' })).token;
    expect((await get('/admin/queues/api/queues', `${ADMIN_COOKIE}=${apiToken}`)).status).toBe(401);
  });

  it('refuses a change from another site’s page, and sign-ins posted from one', async () => {
    const cookie = await adminCookie();
    const evil = { origin: 'https://evil.example', cookie };
    const clean = await fetch(`${api.url}/admin/queues/api/queues/${encodeURIComponent(api.deps.ordersQueue.name)}/clean/failed`, {
      method: 'PUT',
      headers: evil,
    });
    expect(clean.status).toBe(403);
    const crossSite: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site', origin: api.url },
    ];
    for (const headers of crossSite) {
      const login = await signIn({ email: adminEmail, password: adminPassword }, headers);
      expect(login.status).toBe(403);
      expect(login.headers.get('set-cookie')).toBeNull();
    }
    // The same request from the board's own origin goes through.
    const own = await fetch(`${api.url}/admin/queues/api/queues/${encodeURIComponent(api.deps.ordersQueue.name)}/clean/failed`, {
      method: 'PUT',
      headers: { origin: api.url, cookie },
    });
    expect(own.status).toBe(200);
  });

  it('ends a session at sign-out, and at once when the account stops being an admin', async () => {
    const cookie = await adminCookie();
    expect((await get('/admin/queues/api/queues', cookie)).status).toBe(200);
    const out = await fetch(`${api.url}/admin/logout`, { method: 'POST', redirect: 'manual', headers: { cookie } });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(new RegExp(`^${ADMIN_COOKIE}=;`));
    expect((await get('/admin/queues/api/queues', cookie)).status).toBe(401);

    const again = await adminCookie();
    await execute(api.deps.ds, `UPDATE users SET role = 'CUSTOMER' WHERE id = ?`, [adminId]);
    try {
      expect((await get('/admin/queues/api/queues', again)).status).toBe(401);
    } finally {
      await execute(api.deps.ds, `UPDATE users SET role = 'ADMIN' WHERE id = ?`, [adminId]);
    }
    expect((await get('/admin/queues/api/queues', again)).status).toBe(200);
  });

  it('counts sign-ins against auth.login’s per-email limit, in parallel too', async () => {
    const target = (await newAccount(api, 'CUSTOMER')).user.email; // its sign-up's login is the first attempt
    const answers = await Promise.all(Array.from({ length: 100 }, () => signIn({ email: target, password: 'guess-guess-guess' })));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(EMAIL_LIMIT - 1);
    expect(statuses.filter((s) => s === 429)).toHaveLength(100 - (EMAIL_LIMIT - 1));
    // The API's own login shares the budget: the account is locked out there too.
    await expect(api.client().auth.login.mutate({ email: target, password: PASSWORD })).rejects.toMatchObject({ data: { code: 'TOO_MANY_REQUESTS' } });
    expect(Number(answers[statuses.indexOf(429)]!.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
