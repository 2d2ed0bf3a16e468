import { TRPCClientError } from '@trpc/client';
import type { AppRouter } from '@bazaar/api';

/** The error a call was refused with (failing the test if it succeeded or threw something else). */
export async function refusal(p: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TRPCClientError);
  return err as TRPCClientError<AppRouter>;
}

/** Refused with this tRPC code. */
export async function expectCode(p: Promise<unknown>, code: string): Promise<TRPCClientError<AppRouter>> {
  const err = await refusal(p);
  expect(err.data?.code).toBe(code);
  return err;
}

/** BAD_REQUEST whose issues and message name the field. */
export async function expectBadField(p: Promise<unknown>, field: string): Promise<void> {
  const err = await expectCode(p, 'BAD_REQUEST');
  expect(err.data?.httpStatus).toBe(400);
  expect((err.data as { issues?: { path: string }[] }).issues?.map((i) => i.path)).toContain(field);
  expect(err.message).toContain(field);
}

/** The data of the error a call was refused with: code, and the contract's reason and issues when present. */
export async function refusalData(p: Promise<unknown>): Promise<{ code: string; reason?: string; issues?: { path: string }[] }> {
  return (await refusal(p)).data as unknown as { code: string; reason?: string; issues?: { path: string }[] };
}
