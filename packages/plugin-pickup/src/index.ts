export { plugin, plugin as default } from './plugin.js';
export { createPickupScanner, type PickupScanner } from './pickup.js';
export { pickupFile, type PickupFileOptions, type PickupOutcome } from './pickup-file.js';

