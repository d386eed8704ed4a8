// The Lua scripts the Redis bus runs: each is atomic in Redis, so the caps of a
// room hold across instances and only one reaper removes each dead member.
// A room is a hash (address -> "instance|publicKey"); each instance has a set
// of its memberships ("room address"); sc:instances lists the instances seen.

/**
 * KEYS: room hash, this instance's membership set. ARGV: address, publicKey,
 * instance, peersPerRoom, sessionsPerKey, force ("1"), membership entry, key
 * prefix of membership sets. Returns {"room-full"} / {"too-many-sessions"}, or
 * {"ok", previous instance or "", address1, value1, …}.
 */
export const JOIN = `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if not prev and ARGV[6] ~= '1' then
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return {'room-full'} end
  local suffix = '|' .. ARGV[2]
  local n = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
    if string.sub(v, -#suffix) == suffix then n = n + 1 end
  end
  if n >= tonumber(ARGV[5]) then return {'too-many-sessions'} end
end
local was = ''
if prev then
  was = string.sub(prev, 1, string.find(prev, '|', 1, true) - 1)
  if was ~= ARGV[3] then redis.call('SREM', ARGV[8] .. was, ARGV[7]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3] .. '|' .. ARGV[2])
redis.call('SADD', KEYS[2], ARGV[7])
local reply = {'ok', was}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all do reply[#reply + 1] = all[i] end
return reply
`;

/** KEYS: room hash, this instance's membership set. ARGV: address, instance, membership entry. 1 if removed. */
export const LEAVE = `
redis.call('SREM', KEYS[2], ARGV[3])
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
`;

/**
 * KEYS: the instance's membership set, its heartbeat key, sc:instances. ARGV:
 * instance, "1" to reap even if alive (this instance at close), room key prefix.
 * Returns the membership entries removed.
 */
export const REAP = `
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[2]) == 1 then return {} end
local removed = {}
local owner = ARGV[1] .. '|'
for _, e in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local sp = string.find(e, ' ', 1, true)
  if sp then
    local key = ARGV[3] .. string.sub(e, 1, sp - 1)
    local addr = string.sub(e, sp + 1)
    local v = redis.call('HGET', key, addr)
    if v and string.sub(v, 1, #owner) == owner then
      redis.call('HDEL', key, addr)
      removed[#removed + 1] = e
    end
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
return removed
`;

/**
 * KEYS: this instance's heartbeat key, sc:instances. ARGV: instance, ttl ms,
 * heartbeat key prefix. Returns {alive count, 1 if this instance was listed
 * already (0: new, reaped, or Redis lost its data), dead instance…}.
 */
export const HEARTBEAT = `
local known = redis.call('SISMEMBER', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
local alive = 0
local reply = {0, known}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[3] .. id) == 1 then alive = alive + 1 else reply[#reply + 1] = id end
end
reply[1] = alive
return reply
`;
