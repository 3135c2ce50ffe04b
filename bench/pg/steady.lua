-- wrk script for bench/pg/api.sh: counts the responses of each second of wall-clock
-- time (summed over wrk's threads) and prints them, so that report.py can give the
-- steady-state rate alongside wrk's figure, whose duration includes opening the
-- 10,000 connections and the requests still unanswered at the end.
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   per_second = {}
end

function response(status, headers, body)
   local s = os.time()
   per_second[s] = (per_second[s] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, t in ipairs(threads) do
      for s, n in pairs(t:get("per_second")) do
         total[s] = (total[s] or 0) + n
      end
   end
   local seconds = {}
   for s in pairs(total) do
      table.insert(seconds, s)
   end
   table.sort(seconds)
   local counts = {}
   for i, s in ipairs(seconds) do
      counts[i] = tostring(total[s])
   end
   io.write("responses per second: " .. table.concat(counts, " ") .. "\n")
end
