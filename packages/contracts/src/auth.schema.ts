import { z } from 'zod';
import { Role } from './enums';

export const signupInput = z.strictObject({
  email: z
    .email()
    .max(254)
    .transform((e) => e.toLowerCase()),
  password: z.string().min(10, 'at least 10 characters').max(128),
  name: z.string().trim().min(1).max(50),
  role: z.enum([Role.CUSTOMER, Role.SELLER]),
});
export type SignupInput = z.infer<typeof signupInput>;

export const loginInput = z.strictObject({
  email: z
    .email()
    .max(254)
    .transform((e) => e.toLowerCase()),
  password: z.string().min(1).max(128),
});
export type LoginInput = z.infer<typeof loginInput>;

export interface UserView {
  id: number;
  email: string;
  name: string;
  role: Role;
  createdAt: string;
}
