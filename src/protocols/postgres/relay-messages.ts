import { code } from './wire.js';

/**
 * The message type codes the relay follows, and the sets it sorts them by. Kept as plain numbers
 * and Sets (not a switch over strings): the server side consults them for every row.
 */

export const B = {
  // frontend
  Query: code('Q'), Parse: code('P'), Bind: code('B'), Execute: code('E'), Describe: code('D'), Close: code('C'),
  Sync: code('S'), Flush: code('H'), Terminate: code('X'), FunctionCall: code('F'), CopyData: code('d'),
  CopyDone: code('c'), CopyFail: code('f'),
  // backend
  ParseComplete: code('1'), BindComplete: code('2'), CloseComplete: code('3'), ParameterDescription: code('t'),
  RowDescription: code('T'), NoData: code('n'), DataRow: code('D'), CommandComplete: code('C'), EmptyQuery: code('I'),
  PortalSuspended: code('s'), ErrorResponse: code('E'), ReadyForQuery: code('Z'), CopyIn: code('G'), CopyOut: code('H'),
  CopyBoth: code('W'), FunctionResult: code('V'), Notice: code('N'), Notification: code('A'), ParameterStatus: code('S'),
  NegotiateVersion: code('v'),
} as const;

export const FRONTEND_TYPES = new Set<number>([
  B.Query, B.Parse, B.Bind, B.Execute, B.Describe, B.Close, B.Sync, B.Flush, B.Terminate, B.FunctionCall,
  B.CopyData, B.CopyDone, B.CopyFail,
]);

/** Backend messages that belong to a result (and count into its bytes and digest). */
export const RESULT_TYPES = new Set<number>([
  B.RowDescription, B.DataRow, B.CommandComplete, B.EmptyQuery, B.PortalSuspended, B.ErrorResponse, B.CopyIn,
  B.CopyOut, B.CopyBoth, B.CopyData, B.CopyDone, B.FunctionResult,
]);

/** Frontend messages that are commands: held whole and decided before they go upstream. */
export const GATED_TYPES = new Set<number>([B.Query, B.Parse, B.Execute, B.FunctionCall]);

/** Backend messages whose body the relay reads (others pass by without a copy). */
export const READ_BODY = new Set<number>([
  B.RowDescription, B.CommandComplete, B.ErrorResponse, B.ReadyForQuery, B.CopyIn, B.CopyOut, B.CopyBoth,
]);
