-- wrk script for benchmarks/tracking_overhead.py: GET one page as a browser.
-- BENCH_PATH: the page; BENCH_UA: the User-Agent; BENCH_COOKIE: a returning shopper's
-- Cookie header; BENCH_NEW_VISITOR_EVERY=N: every Nth request (per wrk thread) carries no
-- cookie at all, i.e. is a brand-new visitor (0: never). Prints one WRK_JSON line at the end.
local path = os.getenv("BENCH_PATH") or "/"
local ua = os.getenv("BENCH_UA") or "Mozilla/5.0"
local cookie = os.getenv("BENCH_COOKIE") or ""
local every = tonumber(os.getenv("BENCH_NEW_VISITOR_EVERY") or "0")
local accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
local n = 0
local returning, newcomer

function init(args)
  returning = wrk.format("GET", path, {["User-Agent"] = ua, ["Accept"] = accept,
                                        ["Cookie"] = cookie})
  newcomer = wrk.format("GET", path, {["User-Agent"] = ua, ["Accept"] = accept})
end

function request()
  n = n + 1
  if every > 0 and n % every == 0 then
    return newcomer
  end
  return returning
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "err_connect": %d, ' ..
    '"err_read": %d, "err_write": %d, "err_status": %d, "err_timeout": %d, ' ..
    '"lat_mean_us": %.1f, "lat_p50_us": %d, "lat_p90_us": %d, "lat_p99_us": %d, ' ..
    '"lat_max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
