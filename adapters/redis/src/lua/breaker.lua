-- failsafe-redis: the shared breaker record of
-- failsafe_core::rate::shared::BreakerRecord, one hash per breaker, and its
-- operations applied atomically. Times in whole microseconds since the Unix
-- epoch (exact in Lua's doubles up to 2^53 us).
--
-- KEYS[1]  the hash, e.g. {name}:breaker; fields r (round), o (1 = open),
--          u (open until), p (probes granted), s (successes), l (last probe)
-- ARGV[1]  operation: 'read', 'trip', 'probe', 'settle', 'close', 'open'
-- ARGV[2]  now (us), or '' to read the server's clock (TIME)
-- ARGV[3]  open wait (us)
-- ARGV[4]  probes per round
-- ARGV[5]  probe lease (us)
-- ARGV[6]  successes that close a round (threshold)
-- ARGV[7]  retention (us) after the record stops mattering
-- trip:    ARGV[8..13] the record the instance had seen (r o u p s l)
-- settle:  ARGV[8] the probe's round, ARGV[9] '1' success / '0' failure
--
-- Returns {verdict, r, o, u, p, s, l, now}; verdict (probe only):
--   1 granted, 2 open (retry at u), 3 every probe out; 0 otherwise.
local op = ARGV[1]
local now
if ARGV[2] == '' then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
    now = tonumber(ARGV[2])
end
local wait = tonumber(ARGV[3])
local probes = tonumber(ARGV[4])
local lease = tonumber(ARGV[5])
local threshold = tonumber(ARGV[6])
local retention = tonumber(ARGV[7])

local f = redis.call('HMGET', KEYS[1], 'r', 'o', 'u', 'p', 's', 'l')
local function num(x)
    if x then
        return tonumber(x)
    end
    return 0
end
local r, o, u, p, s, l = num(f[1]), (f[2] == '1'), num(f[3]), num(f[4]), num(f[5]), num(f[6])
if not o then
    u, p, s, l = 0, 0, 0, 0
end
local changed = false
local verdict = 0

local function open_round(round)
    r, o, u, p, s, l = round, true, now + wait, 0, 0, 0
    changed = true
end

if op == 'trip' then
    -- merge the instance's view: the later by (round, closed over open, until),
    -- then the larger counts
    local sr, so, su = tonumber(ARGV[8]), (ARGV[9] == '1'), tonumber(ARGV[10])
    local sp, ss, sl = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
    if not so then
        su, sp, ss, sl = 0, 0, 0, 0
    end
    local function later()
        if sr ~= r then return sr > r end
        if so ~= o then return o end -- closed (not so) beats open
        return su > u
    end
    if later() then
        r, o, u, p, s, l = sr, so, su, sp, ss, sl
        changed = true
    elseif sr == r and so == o and su == u then
        if sp > p then p = sp; changed = true end
        if ss > s then s = ss; changed = true end
        if sl > l then l = sl; changed = true end
    end
    if not o then
        open_round(r + 1)
    end
elseif op == 'probe' then
    if not o then
        verdict = 1
    elseif now < u then
        verdict = 2
    elseif p < probes then
        p = p + 1
        l = now
        changed = true
        verdict = 1
    elseif now >= l + lease then
        open_round(r + 1)
        verdict = 2
    else
        verdict = 3
    end
elseif op == 'settle' then
    local round = tonumber(ARGV[8])
    if o and r == round then
        if ARGV[9] ~= '1' then
            open_round(r + 1)
        else
            s = s + 1
            if s >= threshold then
                o, u, p, s, l = false, 0, 0, 0, 0
            end
            changed = true
        end
    end
elseif op == 'open' then
    -- an operator's action (not a BreakerRecord operation): a new round,
    -- open for ARGV[3] from now, whatever the record held
    open_round(r + 1)
elseif op == 'close' then
    if o then
        o, u, p, s, l = false, 0, 0, 0, 0
        changed = true
    end
end

if changed then
    local ov = 0
    if o then ov = 1 end
    redis.call('HSET', KEYS[1], 'r', string.format('%d', r), 'o', ov, 'u', string.format('%d', u),
        'p', p, 's', s, 'l', string.format('%d', l))
    local held = now
    if o then
        held = math.max(u, l + lease)
    end
    local ttl_ms = math.ceil((math.max(held, now) + retention - now) / 1000)
    if ttl_ms < 1 then ttl_ms = 1 end
    redis.call('PEXPIRE', KEYS[1], ttl_ms)
end
local ov = 0
if o then ov = 1 end
return {verdict, r, ov, u, p, s, l, now}
