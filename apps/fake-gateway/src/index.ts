export { startFakeGateway, type FakeGateway, type FakeGatewayOptions } from './fake-gateway';
export {
  BEHAVIORS,
  type Behavior,
  type CancelRecord,
  type ChargeRecord,
  type ConfirmAttempt,
  type Ledger,
  type MintOptions,
  type Payment,
  type PaymentCancel,
  type PaymentStatus,
  type TossError,
} from './gateway-state';
