-- wrk script for benchmarks/tracking_overhead.py: GET one page as browsers do.
-- BENCH_PATH: the page; BENCH_UA: the User-Agent; BENCH_COOKIES: returning shoppers' Cookie
-- headers separated by "|", used in turn; BENCH_NEW_VISITOR_EVERY=N: every Nth request (per
-- wrk thread) carries no cookie at all, i.e. is a brand-new visitor (0: never).
-- Prints one WRK_JSON line at the end, and a WRK_HIST line: every latency seen (µs) and how
-- many requests took it, "value:count,...", so runs can be pooled before percentiles.
local path = os.getenv("BENCH_PATH") or "/"
local ua = os.getenv("BENCH_UA") or "Mozilla/5.0"
local every = tonumber(os.getenv("BENCH_NEW_VISITOR_EVERY") or "0")
local accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
local cookies = {}
for c in string.gmatch(os.getenv("BENCH_COOKIES") or "", "[^|]+") do
  table.insert(cookies, c)
end
local n, r = 0, 0
local returning, newcomer = {}, nil

function init(args)
  for i, c in ipairs(cookies) do
    returning[i] = wrk.format("GET", path, {["User-Agent"] = ua, ["Accept"] = accept,
                                            ["Cookie"] = c})
  end
  newcomer = wrk.format("GET", path, {["User-Agent"] = ua, ["Accept"] = accept})
end

function request()
  n = n + 1
  if #returning == 0 or (every > 0 and n % every == 0) then
    return newcomer
  end
  r = r + 1
  return returning[(r - 1) % #returning + 1]
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
  local parts = {}
  for i = 1, #latency do
    local value, count = latency(i)
    parts[#parts + 1] = string.format("%d:%d", value, count)
  end
  io.write("WRK_HIST " .. table.concat(parts, ",") .. "\n")
end
