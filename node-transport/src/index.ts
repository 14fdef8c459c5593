// winston-sawmill: a winston transport for the Sawmill log server.
export {
  SawmillTransport,
  SawmillError,
  type SawmillTransportOptions,
  type SawmillStats,
  type SawmillErrorCode,
  type OnFullPolicy,
  type TlsOptions,
} from "./transport.js";
export { KNOWN_SEVERITIES } from "./private/severity.js";
