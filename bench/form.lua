-- wrk: the same form POST every time (token endpoint, introspection); body from $BENCH_BODY,
-- Authorization header from $BENCH_AUTH (client_secret_basic or a bearer caller).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
   wrk.headers["Authorization"] = auth
end
