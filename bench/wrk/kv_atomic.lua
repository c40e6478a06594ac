-- KV database: kv_atomic setting a random 16-hex-char key to a 100-byte value
-- (the same load as etcd_put.lua: one new key per commit).
-- wrk -t1 -c50 -d10s -s kv_atomic.lua http://127.0.0.1:5878/
local dir = os.getenv("BENCH_DIR") or "."
dofile(dir .. "/wrk/report.lua")
local headers = { ["Content-Type"] = "application/json" }
local value = string.rep("v", 34) .. "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
local rnd = math.random
init = function(args)
  math.randomseed(os.time() + os.clock() * 1e6)
end
request = function()
  local key = string.format("%08x%08x", rnd(0, 0x7fffffff), rnd(0, 0x7fffffff))
  return wrk.format("POST", "/", headers,
    '{"function":"kv_atomic","args":[[],[{"type":"set","key":["' .. key ..
    '"],"value":"' .. value .. '"}]]}')
end
