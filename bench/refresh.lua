-- wrk: POST /api/v1/auth/refresh where every request presents a refresh token that was never
-- used. Tokens come from $BENCH_TOKENS (one per line); of $BENCH_THREADS threads, thread i
-- takes lines i, i+n, ... so no token is sent twice. A thread that runs out sends "exhausted",
-- which the server refuses (401): an undersized file shows up as non-2xx, never as reuse.
local counter = 0
local threads = {}

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local nthreads = tonumber(os.getenv("BENCH_THREADS"))
   tokens = {}
   local i = 0
   for line in io.lines(os.getenv("BENCH_TOKENS")) do
      if line ~= "" then
         if i % nthreads == tid then tokens[#tokens + 1] = line end
         i = i + 1
      end
   end
   idx = 0
   ntok = #tokens
end

function request()
   idx = idx + 1
   local body = '{"refresh_token": "' .. (tokens[idx] or "exhausted") .. '"}'
   return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
   local used, avail = 0, 0
   for _, th in ipairs(threads) do
      used = used + th:get("idx")
      avail = avail + th:get("ntok")
   end
   io.write(string.format("refresh tokens sent: %d of %d\n", used, avail))
end
