import { TRPCError } from '@trpc/server';
import { loginInput, signupInput, type UserView } from '@bazaar/contracts';
import { DuplicateEmailError, type UserEntity } from '@bazaar/db';
import { limitedByEmail, protectedProcedure, publicProcedure, router } from '../../trpc';

export const toUserView = (u: UserEntity): UserView => ({ id: u.id, email: u.email, name: u.name, role: u.role, createdAt: u.createdAt.toISOString() });

export const authRouter = router({
  signup: publicProcedure.input(signupInput).mutation(async ({ ctx, input }) => {
    const passwordHash = await ctx.deps.passwords.hash(input.password);
    try {
      const user = await ctx.deps.users.create({ email: input.email, passwordHash, name: input.name, role: input.role });
      return toUserView(user);
    } catch (err) {
      if (err instanceof DuplicateEmailError) throw new TRPCError({ code: 'CONFLICT', message: 'this email is already registered' });
      throw err;
    }
  }),

  // Every attempt counts against the address it names (RATE_LIMITS auth.login email), right or wrong: counted atomically
  // before the password is checked, so a burst of parallel guesses cannot slip past the limit.
  login: publicProcedure
    .input(loginInput)
    .use(limitedByEmail)
    .mutation(async ({ ctx, input }) => {
      const user = await ctx.deps.users.findByEmail(input.email);
      const ok = await ctx.deps.passwords.verify(user?.passwordHash ?? null, input.password);
      if (!user || !ok) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'wrong email or password' });
      return ctx.deps.sessions.issue({ userId: user.id, role: user.role });
    }),

  me: protectedProcedure.query(async ({ ctx }) => {
    const user = await ctx.deps.users.findById(ctx.user.userId);
    if (!user) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'the account no longer exists' });
    return toUserView(user);
  }),

  logout: protectedProcedure.mutation(async ({ ctx }) => {
    await ctx.deps.sessions.revoke(ctx.token);
    return { ok: true as const };
  }),
});
