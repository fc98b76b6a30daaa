export type { DeliveryOptions } from "./service.js";
export { startDelivery } from "./service.js";
export { DELIVERY_STREAM } from "./queues.js";
