-- KV database: linearizable kv_get of a random preloaded key ["key", i].
-- wrk ... -s kv_get.lua http://127.0.0.1:5878/ -- NKEYS
local dir = os.getenv("BENCH_DIR") or "."
dofile(dir .. "/wrk/report.lua")
local nkeys = 10000
local headers = { ["Content-Type"] = "application/json" }
local bodies = {}
init = function(args)
  if args[1] then nkeys = tonumber(args[1]) end
  math.randomseed(os.time())
  for i = 0, nkeys - 1 do
    bodies[i] = wrk.format("POST", "/", headers,
      '{"function":"kv_get","args":[["key",' .. i .. ']]}')
  end
end
request = function()
  return bodies[math.random(0, nkeys - 1)]
end
