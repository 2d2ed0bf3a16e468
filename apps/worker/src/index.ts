export { startWorkerApp, type WorkerApp, type WorkerAppOptions } from './worker-app';
