import { z } from 'zod';
import { parseDurationMs } from '../clock.js';

/** Building blocks shared by the config sections: sizes, durations, names, ports. */

export const MiB = 1024 * 1024;

export const duration = z
  .union([z.string(), z.number().int().nonnegative()])
  .transform((v, ctx) => {
    if (typeof v === 'number') return v;
    try {
      return parseDurationMs(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });

export const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'use letters, digits, "_", "." or "-" (max 63 characters)');

export const port = z.number().int().min(0).max(65535);
