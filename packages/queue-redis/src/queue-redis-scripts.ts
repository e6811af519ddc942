/**
 * The queue's atomic operations as Lua scripts (each runs on the one node
 * that holds the message's slot; see queue-redis-keys.ts for the keys).
 * Times that decide leases come from the Redis server's clock (TIME), so
 * nodes with skewed clocks still agree on who holds what.
 *
 * Every script that changes a message's queue is given the six queue index
 * keys of the message's shard, in QUEUE_NAMES order, as KEYS[n..n+5].
 */
import { QUEUE_NAMES } from '@postern/core';

const QUEUE_SLOTS = QUEUE_NAMES.map((q, i) => `${q}=${i}`).join(', ');

const PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local qslot = { ${QUEUE_SLOTS} }
`;

/**
 * COMMIT: KEYS = message, content, staged content, destination index;
 * ARGV = id, queue, env, size, chunks, done.
 * The content was staged under a private key in the same MULTI; it becomes
 * the message's content only if the ID is free. Returns 1, or 0 when the ID exists.
 */
export const COMMIT = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[3])
  return 0
end
if tonumber(ARGV[5]) > 0 then redis.call('RENAME', KEYS[3], KEYS[2]) end
redis.call('HSET', KEYS[1], 'env', ARGV[3], 'queue', ARGV[2], 'size', ARGV[4], 'chunks', ARGV[5], 'done', ARGV[6])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
return 1
`;

/**
 * MOVE: KEYS = message, leases, the six indexes; ARGV = id, to, node, lease
 * ms, count of fields to set, name/value pairs, count of fields to clear, names.
 *
 * Taking a message into the active queue records the node as its owner and
 * renews the node's lease. A message another node holds in its active queue
 * (its lease alive) is neither taken again nor sent back to incoming: the
 * script returns false, as for a message that no longer exists.
 */
export const MOVE = `${PRELUDE}
local m = KEYS[1]
if redis.call('EXISTS', m) == 0 then return false end
local id, to, node = ARGV[1], ARGV[2], ARGV[3]
local from = redis.call('HGET', m, 'queue')
local owner = redis.call('HGET', m, 'owner')
local function alive(o)
  if not o then return false end
  local d = redis.call('HGET', KEYS[2], o)
  return d and tonumber(d) > now
end
local held = from == 'active' and owner and owner ~= node and alive(owner)
if held and (to == 'active' or to == 'incoming') then return false end
if to == 'active' and node ~= '' then redis.call('HSET', KEYS[2], node, now + tonumber(ARGV[4])) end
redis.call('ZREM', KEYS[3 + qslot[from]], id)
local i = 5
local nset = tonumber(ARGV[i]); i = i + 1
for _ = 1, nset do redis.call('HSET', m, ARGV[i], ARGV[i + 1]); i = i + 2 end
local nclear = tonumber(ARGV[i]); i = i + 1
for _ = 1, nclear do redis.call('HDEL', m, ARGV[i]); i = i + 1 end
redis.call('HSET', m, 'queue', to)
if to == 'active' and node ~= '' then redis.call('HSET', m, 'owner', node) else redis.call('HDEL', m, 'owner') end
local score = 0
if to == 'deferred' then score = tonumber(redis.call('HGET', m, 'next') or '0') end
redis.call('ZADD', KEYS[3 + qslot[to]], score, id)
return redis.call('HGETALL', m)
`;

/** RECIPIENTS: KEYS = message; ARGV = pairs of recipient index (0-based) and 1/0. */
export const RECIPIENTS = `
local m = KEYS[1]
local done = redis.call('HGET', m, 'done')
if not done then return false end
local bytes = {}
for i = 1, #done do bytes[i] = string.sub(done, i, i) end
for i = 1, #ARGV, 2 do
  local n = tonumber(ARGV[i]) + 1
  if n < 1 or n > #done then return redis.error_reply('no recipient #' .. ARGV[i]) end
  bytes[n] = ARGV[i + 1]
end
redis.call('HSET', m, 'done', table.concat(bytes))
return redis.call('HGETALL', m)
`;

/** DELETE: KEYS = message, content, three logs, the six indexes; ARGV = id. Returns 1 or 0. */
export const DELETE = `${PRELUDE}
local from = redis.call('HGET', KEYS[1], 'queue')
if not from then return 0 end
redis.call('ZREM', KEYS[6 + qslot[from]], ARGV[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return 1
`;

/** APPEND_LOG: KEYS = message, log; ARGV = record. Returns the log's length, or 0 without a message. */
export const APPEND_LOG = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('RPUSH', KEYS[2], ARGV[1])
`;

/** RENEW: KEYS = leases; ARGV = node, lease ms. Also forgets leases long expired. */
export const RENEW = `${PRELUDE}
redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
return now
`;

/**
 * REAP: KEYS = leases, active index, incoming index; ARGV = message key
 * prefix of the shard, max messages. Every active message whose owner's
 * lease has expired goes back to incoming (recipients done stay done).
 * Returns how many moved.
 */
export const REAP = `${PRELUDE}
local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
local moved = 0
local limit = tonumber(ARGV[2])
for _, id in ipairs(ids) do
  if moved >= limit then break end
  local m = ARGV[1] .. id
  local owner = redis.call('HGET', m, 'owner')
  local d = owner and redis.call('HGET', KEYS[1], owner)
  if not (d and tonumber(d) > now) then
    redis.call('ZREM', KEYS[2], id)
    if redis.call('EXISTS', m) == 1 then
      redis.call('HSET', m, 'queue', 'incoming')
      redis.call('HDEL', m, 'owner')
      redis.call('ZADD', KEYS[3], 0, id)
      moved = moved + 1
    end
  end
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < now - 86400000 then redis.call('HDEL', KEYS[1], all[i]) end
end
return moved
`;
