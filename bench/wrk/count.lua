-- The answer counting shared by login.lua, register.lua and refresh.lua (loaded with dofile from
-- the script's own folder). It counts, in each wrk thread, the answers per status and the 503s
-- that carry Retry-After, plus any counter a script adds (a global number of the thread's
-- state), and done() prints the totals of every thread:
--   wrk-status {"200":1234,"503":56}
--   wrk-retry-after 56
statuses = {}
retry_after = 0

local count = {}
local threads = {}

-- Call from setup(thread) (the main Lua state).
function count.setup(thread)
  table.insert(threads, thread)
end

-- Call from response(status, headers, body) (each thread's state).
function count.response(status, headers)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 503 and (headers["retry-after"] or headers["Retry-After"]) then
    retry_after = retry_after + 1
  end
end

-- Call from done(): prints the statuses, then "wrk-<name> N" for "retry-after" and each name in
-- `extra` (the thread global of the same name with "_" for "-").
function count.done(extra)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  table.sort(parts)
  io.write("wrk-status {" .. table.concat(parts, ",") .. "}\n")
  local names = { "retry-after" }
  for _, name in ipairs(extra or {}) do
    table.insert(names, name)
  end
  for _, name in ipairs(names) do
    local sum = 0
    for _, thread in ipairs(threads) do
      sum = sum + (thread:get((name:gsub("-", "_"))) or 0)
    end
    io.write(string.format("wrk-%s %d\n", name, sum))
  end
end

return count
