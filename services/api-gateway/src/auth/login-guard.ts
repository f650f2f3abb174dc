import { createHash, createHmac, randomBytes } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { Redis } from 'ioredis';

/** The guard's numbers (`auth.maxAttempts`, `auth.maxAttemptsPerAddress`, `auth.lockout`). */
export interface LoginLimits {
  /** Failed logins for one username from one address before that pair is refused. */
  maxAttempts: number;
  /** Failed logins from one address, whatever the usernames, before every login from it is refused. */
  maxAttemptsPerAddress: number;
  /** Seconds failures are counted for, and a pair or address stays refused once it reached its limit. */
  lockoutSeconds: number;
}

/** Which count refused a login: the username from this address, or the address for every username. */
export type LockScope = 'user-address' | 'address';

/** An attempt that may check its password: it is counted as a failure already until `succeeded` or `abandoned`. */
export interface Reservation {
  readonly allowed: true;
  /** This attempt reached a limit: if it fails, the next one is refused. */
  readonly last: boolean;
  readonly keys: readonly [pair: string, address: string];
}

/** An attempt refused without checking its password. */
export interface Refusal {
  readonly allowed: false;
  /** Seconds until the lock-out ends (at least 1). */
  readonly retryAfter: number;
  readonly scope: LockScope;
}

// The check and the count are one step, so parallel guesses cannot all pass the check before any of them is
// counted: an attempt takes its place in both counts before its password is hashed, and only a success (or an
// error before the answer) gives it back. KEYS[1]: failures of this username from this address; KEYS[2]: failures
// from this address for any username. ARGV: maxAttempts, maxAttemptsPerAddress, lockout in ms.
// Returns {1, last} when the attempt is reserved, {0, ms left, scope} when it is refused.
const RESERVE_SCRIPT = `
local maxPair, maxAddress, ms = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local pair = tonumber(redis.call('GET', KEYS[1]) or '0')
local address = tonumber(redis.call('GET', KEYS[2]) or '0')
local function left(key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ms)
    ttl = ms
  end
  return ttl
end
if pair >= maxPair or address >= maxAddress then
  local wait, scope = 0, 'address'
  if address >= maxAddress then wait = left(KEYS[2]) end
  if pair >= maxPair then
    local w = left(KEYS[1])
    if w > wait then wait, scope = w, 'user-address' end
  end
  return {0, wait, scope}
end
pair = redis.call('INCR', KEYS[1])
address = redis.call('INCR', KEYS[2])
-- A count lives for the lock-out from its first failure; the failure that reaches a limit starts a whole lock-out.
if pair == 1 or pair >= maxPair or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ms) end
if address == 1 or address >= maxAddress or redis.call('PTTL', KEYS[2]) < 0 then redis.call('PEXPIRE', KEYS[2], ms) end
if pair >= maxPair or address >= maxAddress then return {1, 1} end
return {1, 0}
`;

// Gives a reservation back. ARGV[1] 'success': the password was right, so this username's failures from this
// address are cleared; of the address's count only this attempt is given back (one good password, say of an
// account of the attacker's own, must not reset a brute force of other accounts). 'abandon': the attempt ended
// in an error before its answer, so it is given back from both counts.
const RELEASE_SCRIPT = `
if ARGV[1] == 'success' then
  redis.call('DEL', KEYS[1])
elseif tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  redis.call('DECR', KEYS[1])
end
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 1
`;

const RESERVE = 'tmonLoginReserve';
const RELEASE = 'tmonLoginRelease';
type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Counts failed logins in Redis (so the counts hold across gateway replicas), per username and client address
 * together and per address alone: `maxAttempts` failures for one username from one address refuse that pair, and
 * `maxAttemptsPerAddress` failures from one address (any usernames) refuse that address, each for
 * `lockoutSeconds`. No count is per username alone, so nobody can lock a user (the admin included) out from
 * elsewhere. Each attempt is counted before its password is checked (`reserve`), atomically with the check of
 * the counts, so however many guesses arrive at once, at most the limit of them are hashed.
 *
 * Addresses are counted as the client's /64 for IPv6 (one host usually holds a whole /64) and as the IPv4
 * address for IPv4 and IPv4-mapped IPv6. Usernames appear in Redis keys only as hashes, and in logs only as
 * `digest`: a salted hash, since a typed username is sometimes a password typed into the wrong field.
 */
export class LoginGuard {
  private readonly reserveScript: ScriptCommand;
  private readonly releaseScript: ScriptCommand;
  private salt: Promise<Buffer> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limits: LoginLimits,
  ) {
    // defineCommand runs the scripts by their SHA and loads them only when Redis does not know them yet.
    redis.defineCommand(RESERVE, { numberOfKeys: 2, lua: RESERVE_SCRIPT });
    redis.defineCommand(RELEASE, { numberOfKeys: 2, lua: RELEASE_SCRIPT });
    const commands = redis as unknown as Record<string, ScriptCommand>;
    this.reserveScript = commands[RESERVE]!.bind(redis);
    this.releaseScript = commands[RELEASE]!.bind(redis);
  }

  /** The two counters of an attempt; both share the address as hash tag, so they live on one Redis Cluster slot. */
  keys(username: string, address: string): readonly [pair: string, address: string] {
    const base = `${this.prefix}login-fail:{${addressKey(address)}}`;
    return [`${base}:user:${createHash('sha256').update(username).digest('hex').slice(0, 32)}`, `${base}:all`];
  }

  /** Takes a place for one login attempt in both counts, or refuses it when either count is at its limit. */
  async reserve(username: string, address: string): Promise<Reservation | Refusal> {
    const keys = this.keys(username, address);
    const answer = (await this.reserveScript(...keys, this.limits.maxAttempts, this.limits.maxAttemptsPerAddress, this.limits.lockoutSeconds * 1000)) as [number, number, string?];
    if (answer[0] === 1) return { allowed: true, last: answer[1] === 1, keys };
    return { allowed: false, retryAfter: Math.max(1, Math.ceil(answer[1] / 1000)), scope: answer[2] === 'user-address' ? 'user-address' : 'address' };
  }

  /** The password was right: clears the username's failures from this address and gives the address's place back. */
  async succeeded(reservation: Reservation): Promise<void> {
    await this.releaseScript(...reservation.keys, 'success');
  }

  /** The attempt ended in an error before it was answered: gives its place back in both counts. */
  async abandoned(reservation: Reservation): Promise<void> {
    await this.releaseScript(...reservation.keys, 'abandon');
  }

  /**
   * A salted hash of a username for logs (16 hex digits): the same name gives the same digest on every replica,
   * while the text never reaches a log. The salt is random, kept in Redis (created by the first replica to need it).
   */
  async digest(username: string): Promise<string> {
    this.salt ??= this.loadSalt().catch((err: unknown) => {
      this.salt = undefined;
      throw err;
    });
    return createHmac('sha256', await this.salt).update(username).digest('hex').slice(0, 16);
  }

  private async loadSalt(): Promise<Buffer> {
    const key = `${this.prefix}login-log-salt`;
    const fresh = randomBytes(32).toString('base64url');
    await this.redis.set(key, fresh, 'NX');
    return Buffer.from((await this.redis.get(key)) ?? fresh);
  }
}

/**
 * What one client is counted as: an IPv4 address as it is (IPv4-mapped IPv6 too), an IPv6 address as its /64
 * (a host or a home line gets a whole /64, so per address it could try 2^64 times), anything else as given.
 */
export function addressKey(address: string): string {
  const bare = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return mapped[1]!;
  if (isIPv4(bare) || !isIPv6(bare)) return bare;
  return `${ipv6Groups(bare).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (without leading zeros), `::` and a dotted IPv4 tail expanded. */
function ipv6Groups(address: string): string[] {
  let text = address.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => parseInt(g, 16).toString(16));
}
