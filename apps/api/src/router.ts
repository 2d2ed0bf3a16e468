import { authRouter } from './routers/auth/_router';
import { cartRouter } from './routers/cart/_router';
import { chatRouter } from './routers/chat/_router';
import { couponsRouter } from './routers/coupons/_router';
import { fulfillmentRouter } from './routers/fulfillment/_router';
import { ordersRouter } from './routers/orders/_router';
import { pointsRouter } from './routers/points/_router';
import { productsRouter } from './routers/products/_router';
import { questionsRouter } from './routers/questions/_router';
import { refundsRouter } from './routers/refunds/_router';
import { storesRouter } from './routers/stores/_router';
import { subscriptionsRouter } from './routers/subscriptions/_router';
import { walletRouter } from './routers/wallet/_router';
import { waitingRoomRouter } from './routers/waiting-room/_router';
import { router } from './trpc';

export const appRouter = router({
  auth: authRouter,
  wallet: walletRouter,
  stores: storesRouter,
  products: productsRouter,
  orders: ordersRouter,
  points: pointsRouter,
  cart: cartRouter,
  questions: questionsRouter,
  coupons: couponsRouter,
  refunds: refundsRouter,
  fulfillment: fulfillmentRouter,
  subscriptions: subscriptionsRouter,
  chat: chatRouter,
  waitingRoom: waitingRoomRouter,
});

export type AppRouter = typeof appRouter;
