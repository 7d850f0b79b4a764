-- wrk -s login.lua : POST /api/v1/login for one pre-registered user, again and again.
--   BENCH_EMAIL, BENCH_PASSWORD: the account (required).
-- Counts the answers per status, and the 503s that carry Retry-After; done() prints them as
--   wrk-status {"200":1234,"503":56}
--   wrk-retry-after 56
local email = os.getenv("BENCH_EMAIL") or error("BENCH_EMAIL is not set")
local password = os.getenv("BENCH_PASSWORD") or error("BENCH_PASSWORD is not set")

-- The answer counters (count.lua, beside this script).
local count = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "count.lua")

wrk.method = "POST"
wrk.path = "/api/v1/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"' .. email .. '","password":"' .. password .. '"}'

function setup(thread)
  count.setup(thread)
end

function response(status, headers, body)
  count.response(status, headers)
end

function done(summary, latency, requests)
  count.done()
end
