-- wrk -s login.lua : POST /api/v1/login for one pre-registered user, again and again.
--   BENCH_EMAIL, BENCH_PASSWORD: the account (required).
-- Counts the answers per status, and the 503s that carry Retry-After; done() prints them as
--   wrk-status {"200":1234,"503":56}
--   wrk-retry-after 56
local email = os.getenv("BENCH_EMAIL") or error("BENCH_EMAIL is not set")
local password = os.getenv("BENCH_PASSWORD") or error("BENCH_PASSWORD is not set")

wrk.method = "POST"
wrk.path = "/api/v1/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"' .. email .. '","password":"' .. password .. '"}'

-- per-thread counters (globals of each thread's Lua state, read back in done())
statuses = {}
retry_after = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
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
