// One catalogue of memfront's errors: each has a stable code and is built with its cause.

export type ErrorCode =
  | 'MF_CONFIG_INVALID'
  | 'MF_CACHE_UNAVAILABLE'
  | 'MF_CACHE_TIMEOUT'
  | 'MF_ENTRY_CORRUPT'
  | 'MF_BACKEND_FAILED'
  | 'MF_BACKEND_TIMEOUT'
  | 'MF_REPROXY_FAILED'
  | 'MF_TRACKER_UNAVAILABLE'
  | 'MF_TRACKER_ERROR';

export class MemfrontError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class ConfigError extends MemfrontError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MF_CONFIG_INVALID', message, options);
  }
}

/** Memcached down, slow or refusing: always degraded to a miss by the caller. */
export class CacheError extends MemfrontError {
  constructor(code: 'MF_CACHE_UNAVAILABLE' | 'MF_CACHE_TIMEOUT', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export class UpstreamError extends MemfrontError {}
