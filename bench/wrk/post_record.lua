-- W3: POST /api/records as a browser's same-origin fetch() sends it: JSON body, the CSRF token
-- in X-CSRFToken, Origin and the Sec-Fetch-* headers. The Cookie header comes from wrk -H.
-- BENCH_CSRF_TOKEN and BENCH_ORIGIN come from bench/run.py's environment.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "status.lua")

wrk.method = "POST"
wrk.body = '{"text": "a record written by the benchmark"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "*/*"
wrk.headers["Origin"] = os.getenv("BENCH_ORIGIN")
wrk.headers["Sec-Fetch-Site"] = "same-origin"
wrk.headers["Sec-Fetch-Mode"] = "cors"
wrk.headers["Sec-Fetch-Dest"] = "empty"
local token = os.getenv("BENCH_CSRF_TOKEN")
if token and token ~= "" then
  wrk.headers["X-CSRFToken"] = token
end
