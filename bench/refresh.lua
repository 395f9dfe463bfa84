-- wrk: a refresh where every request presents a refresh token that was never used. Tokens
-- come from $BENCH_TOKENS (one per line); of $BENCH_THREADS threads, thread i takes lines i,
-- i+n, ... so no token is sent twice. A thread that runs out sends "exhausted", which the
-- server refuses: an undersized file shows up as non-2xx, never as reuse.
-- Sure's JSON body ({"refresh_token": …}) by default; with $BENCH_AUTH set, RFC 6749 §6's form
-- (grant_type=refresh_token, the peers' token endpoint) with that Authorization header.

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
   auth = os.getenv("BENCH_AUTH")
   if auth then
      hdrs = {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth}
   else
      hdrs = {["Content-Type"] = "application/json"}
   end
end

function request()
   idx = idx + 1
   local token = tokens[idx] or "exhausted"
   local body
   if auth then
      body = "grant_type=refresh_token&refresh_token=" .. token
   else
      body = '{"refresh_token": "' .. token .. '"}'
   end
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
