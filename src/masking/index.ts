/** Masking of sensitive values: in-process detectors and the strategies that rewrite what they find. */
export { BUILTIN_DETECTORS, NO_MATCHES, customDetector, resolveOverlaps } from './detectors.js';
export type { BuiltinName, Detector, Match } from './detectors.js';
export { maskKey, maskMatches, maskWhole, scan } from './strategies.js';
export type { MaskKey, Strategy } from './strategies.js';
