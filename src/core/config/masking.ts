import { z } from 'zod';
import { name } from './primitives.js';

/** The `masking` section: detectors, column rules, and the key of the pseudonym strategy. */

const maskingStrategy = z.enum(['redact', 'partial', 'pseudonym', 'null']);
const builtinDetector = z.enum(['email', 'card', 'iban', 'ssn', 'phone', 'ipv4', 'ipv6', 'jwt', 'cloud_key', 'private_key']);

export const maskingRule = z.strictObject({
  name,
  /** connections the rule applies to (default: all) */
  connections: z.array(z.string().min(1)).optional(),
  /** groups the rule applies to (default: everyone) */
  groups: z.array(z.string().min(1)).optional(),
  /** groups that see clear values (e.g. the data protection officer) */
  exempt: z.array(z.string().min(1)).default([]),
  /** `schema.table.column`, `table.column`, or a column-name pattern with `*` (`*email*`) */
  columns: z.array(z.string().min(1)).default([]),
  /** detectors run over every text value (built-in names or masking.detectors names) */
  detectors: z.array(z.string().min(1)).default([]),
  strategy: maskingStrategy.default('redact'),
}).refine((r) => r.columns.length > 0 || r.detectors.length > 0, { message: 'give columns, detectors, or both' });

export const maskingSection = z.strictObject({
  /** HMAC key for the pseudonym strategy (e.g. ${GATEHOUSE_MASKING_KEY}); or keyFile */
  key: z.string().min(16, 'use at least 16 characters').optional(),
  keyFile: z.string().optional(),
  /** custom detectors: a regular expression each */
  detectors: z.array(z.strictObject({ name, pattern: z.string().min(1) })).default([]),
  rules: z.array(maskingRule).default([]),
}).superRefine((m, ctx) => {
  if (m.key !== undefined && m.keyFile !== undefined) ctx.addIssue({ code: 'custom', message: 'give either key or keyFile, not both' });
  const known = new Set<string>([...builtinDetector.options, ...m.detectors.map((d) => d.name)]);
  m.rules.forEach((r, i) => {
    for (const d of r.detectors) {
      if (!known.has(d)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'detectors'], message: `unknown detector "${d}" (built in: ${builtinDetector.options.join(', ')}; or define it under masking.detectors)` });
    }
    if (r.strategy === 'pseudonym' && m.key === undefined && m.keyFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['rules', i, 'strategy'], message: 'the pseudonym strategy needs masking.key or masking.keyFile' });
    }
  });
  m.detectors.forEach((d, i) => {
    try {
      if (new RegExp(d.pattern, 'u').test('')) ctx.addIssue({ code: 'custom', path: ['detectors', i, 'pattern'], message: 'the pattern matches the empty string' });
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: ['detectors', i, 'pattern'], message: `not a valid regular expression: ${(e as Error).message}` });
    }
  });
});

export type MaskingConfig = z.output<typeof maskingSection>;
export type MaskingRule = z.output<typeof maskingRule>;
