-- failsafe-redis: the GCRA decision of failsafe_core::rate::shared::gcra_step
-- applied atomically to one key. Time is in whole microseconds since the
-- Unix epoch (Lua numbers are doubles: exact up to 2^53 us, about 285 years;
-- nanoseconds since 1970 would not fit).
--
-- KEYS[1]  the key holding the theoretical arrival time (us), e.g. {name}:tat
-- ARGV[1]  period (us per permit)
-- ARGV[2]  burst (permits)
-- ARGV[3]  n (permits asked for)
-- ARGV[4]  now (us), or '' to read the server's clock (TIME)
-- ARGV[5]  expiry slack (ms) added to the key's time to live (injected
--          clocks: the skew allowed between instances)
--
-- Returns {code, value, now}:
--   code  1: granted; value = the new tat, stored with PEXPIRE until it
--            (plus the slack)
--   code  0: refused; value = the instant (us) the n permits would be granted
--   code -1: never (n over the burst); value = 0
local period = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local now
if ARGV[4] == '' then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
    now = tonumber(ARGV[4])
end
if n > burst then
    return {-1, 0, now}
end
local stored = redis.call('GET', KEYS[1])
local tat = 0
if stored then
    tat = tonumber(stored)
end
local new_tat = math.max(tat, now) + period * n
local allowed_from = new_tat - period * burst
if allowed_from <= now then
    -- the key matters until new_tat: from then on it decides as no key at all
    local ttl_ms = math.ceil((new_tat - now) / 1000) + tonumber(ARGV[5])
    if ttl_ms < 1 then
        ttl_ms = 1
    end
    redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl_ms)
    return {1, new_tat, now}
end
return {0, allowed_from, now}
