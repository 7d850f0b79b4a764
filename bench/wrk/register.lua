-- wrk -s register.lua : POST /api/v1/register with a new e-mail address on every request.
--   REG_RUN: a tag that makes the addresses unique across wrk runs (required: the counter
--   restarts with every run); BENCH_PASSWORD: the password of every new account (required).
-- Addresses: r<REG_RUN>-<thread>-<n>@bench.test. Counts the answers per status like login.lua.
local run = os.getenv("REG_RUN") or error("REG_RUN is not set")
local password = os.getenv("BENCH_PASSWORD") or error("BENCH_PASSWORD is not set")
local counter = 0
local nthreads = 0

statuses = {}
retry_after = 0
local threads = {}

-- setup() runs in the main Lua state; thread:set() defines the global `tid` in each thread's state
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local email = string.format("r%s-%d-%d@bench.test", run, tid, counter)
  return wrk.format("POST", "/api/v1/register", {["Content-Type"] = "application/json"},
    '{"email":"' .. email .. '","password":"' .. password .. '"}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 503 and (headers["retry-after"] or headers["Retry-After"]) then
    retry_after = retry_after + 1
  end
end

function done(summary, latency, requests)
  local total, ra = {}, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do
      total[status] = (total[status] or 0) + n
    end
    ra = ra + (thread:get("retry_after") or 0)
  end
  local parts = {}
  for status, n in pairs(total) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  table.sort(parts)
  io.write("wrk-status {" .. table.concat(parts, ",") .. "}\n")
  io.write(string.format("wrk-retry-after %d\n", ra))
end
