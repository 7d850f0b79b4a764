-- wrk -s register.lua : POST /api/v1/register with a new e-mail address on every request.
--   REG_RUN: a tag that makes the addresses unique across wrk runs (required: the counter
--   restarts with every run); BENCH_PASSWORD: the password of every new account (required).
-- Addresses: r<REG_RUN>-<thread>-<n>@bench.test. Counts the answers per status like login.lua.
local run = os.getenv("REG_RUN") or error("REG_RUN is not set")
local password = os.getenv("BENCH_PASSWORD") or error("BENCH_PASSWORD is not set")
-- The answer counters (count.lua, beside this script).
local count = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "count.lua")
local counter = 0
local nthreads = 0


-- setup() runs in the main Lua state; thread:set() defines the global `tid` in each thread's state
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  count.setup(thread)
end

function request()
  counter = counter + 1
  local email = string.format("r%s-%d-%d@bench.test", run, tid, counter)
  return wrk.format("POST", "/api/v1/register", {["Content-Type"] = "application/json"},
    '{"email":"' .. email .. '","password":"' .. password .. '"}')
end

function response(status, headers, body)
  count.response(status, headers)
end

function done(summary, latency, requests)
  count.done()
end
