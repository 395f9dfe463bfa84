-- wrk: POST grant_type=refresh_token (RFC 6749 §6, the peers' token endpoint) where every
-- request presents a never-used refresh token; client_secret_basic from $BENCH_AUTH.
-- Tokens from $BENCH_TOKENS, split over $BENCH_THREADS threads as in refresh.lua. A thread
-- that runs out sends "exhausted", which the server refuses: shows as non-2xx, never reuse.
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
   hdrs = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = os.getenv("BENCH_AUTH"),
   }
end

function request()
   idx = idx + 1
   local body = "grant_type=refresh_token&refresh_token=" .. (tokens[idx] or "exhausted")
   return wrk.format("POST", nil, hdrs, body)
end

function done(summary, latency, requests)
   local used, avail = 0, 0
   for _, th in ipairs(threads) do
      used = used + th:get("idx")
      avail = avail + th:get("ntok")
   end
   io.write(string.format("refresh tokens sent: %d of %d\n", used, avail))
end
