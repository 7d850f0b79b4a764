-- wrk -s me.lua : GET /api/v1/users/me, each request with the next of many users' access tokens.
--   BENCH_TOKENS: a file of access tokens, one per line (required).
-- Each thread builds every request once in init() and then sends them in turn, starting at its
-- own offset, so that consecutive requests are of different users and sessions and request()
-- costs no formatting. wrk itself counts the non-2xx answers ("Non-2xx or 3xx responses").
local file = os.getenv("BENCH_TOKENS") or error("BENCH_TOKENS is not set")
local next_tid = 0

local requests = {}
local i = 1

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

function init(args)
  for line in io.lines(file) do
    if line ~= "" then
      requests[#requests + 1] = wrk.format("GET", "/api/v1/users/me",
        {["Authorization"] = "Bearer " .. line})
    end
  end
  if #requests == 0 then
    error("no token in " .. file)
  end
  -- Threads start at different tokens (tid is 1-based).
  i = ((tid - 1) * 7919) % #requests + 1
end

function request()
  local r = requests[i]
  i = i % #requests + 1
  return r
end
