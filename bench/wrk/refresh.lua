-- wrk -s refresh.lua : POST /api/v1/refresh, each request with a live refresh token.
-- Refresh tokens are single use and rotate, so each thread keeps a pool: it starts with its
-- share of the tokens in the file BENCH_TOKENS (one per line, from as many logins; line i goes
-- to thread i mod BENCH_THREADS), request() takes the oldest one, response() puts back the new
-- "refresh_token" of the answer at the end: first in, first out, so that a pool of many
-- sessions' tokens spreads the refreshes over all of them. When the pool is empty (it should not be: give it two tokens
-- per connection) it sends a deliberately invalid token, which answers 400 and is counted in
-- "wrk-pool-empty". BENCH_THREADS must equal wrk's -t.
-- A wrk run ends with requests in flight: their tokens are spent and the new ones never read,
-- so use a fresh token file for every run (the warm-up included).
-- done() prints the answers per status (wrk-status {...}), wrk-retry-after N and
-- wrk-pool-empty N.
local file = os.getenv("BENCH_TOKENS") or error("BENCH_TOKENS is not set")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
local next_tid = 0

-- The answer counters (count.lua, beside this script).
local count = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "count.lua")
pool_empty = 0
-- pool[head..tail - 1] holds the live tokens, oldest first.
local pool = {}
local head, tail = 1, 1

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  count.setup(thread)
end

function init(args)
  local i = 0
  for line in io.lines(file) do
    if line ~= "" then
      if i % nthreads == tid - 1 then
        pool[tail] = line
        tail = tail + 1
      end
      i = i + 1
    end
  end
end

function request()
  local token = pool[head]
  if token ~= nil then
    pool[head] = nil
    head = head + 1
  else
    pool_empty = pool_empty + 1
    token = "invalid-bench-token-pool-empty"
  end
  return wrk.format("POST", "/api/v1/refresh", {["Content-Type"] = "application/json"},
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  count.response(status, headers)
  local token = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
  if token then
    pool[tail] = token
    tail = tail + 1
  end
end

function done(summary, latency, requests)
  count.done({ "pool-empty" })
end
