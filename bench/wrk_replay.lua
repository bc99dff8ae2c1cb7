-- wrk script for bench.webhook_ingest: replays prepared raw HTTP requests, each exactly once.
--
-- DIALGATE_WRK_REQUESTS names a file of raw HTTP/1.1 requests, each preceded by a line holding
-- its length in bytes. Each request is sent once, in order across the connections. Once every
-- prepared request has its response, the thread stops and says so on stderr; requests sent after the last prepared one
-- (while the last responses are outstanding) are `GET /healthz`, told apart by their answer
-- (200 with a body; the prepared callbacks are answered 204 with none) and not counted. done()
-- prints one JSON line: responses by status and time-to-ack percentiles in microseconds.
requests = {}
count = 0
sent = 0
answered = 0
statuses = {}
local filler = "GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"

function init(args)
  local path = os.getenv("DIALGATE_WRK_REQUESTS")
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    count = count + 1
    requests[count] = data:sub(nl + 1, nl + len)
    pos = nl + 1 + len
  end
end

-- wrk calls request() once before the run on thread 0 (-t1: the only thread) to count the
-- requests in what it returns (pipelining); that call gets the filler, not a prepared request.
verified = false

function request()
  if not verified then
    verified = true
    return filler
  end
  if sent == 0 then
    io.stderr:write("dialgate-wrk: first request\n")
    io.stderr:flush()
  end
  if sent < count then
    sent = sent + 1
    return requests[sent]
  end
  return filler
end

function response(status, headers, body)
  if answered >= count then
    return
  end
  if sent >= count and status == 200 and body ~= nil and #body > 0 then
    return -- a filler's answer
  end
  answered = answered + 1
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if answered == count then
    -- wrk runs for its whole -d duration whatever its threads do: the driver reads this line
    -- and interrupts it (SIGINT), which ends the run and prints the summary.
    io.stderr:write("dialgate-wrk: all answered\n")
    io.stderr:flush()
    wrk.thread:stop()
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests_stats)
  local parts = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for k, v in pairs(s) do
      parts[#parts + 1] = string.format('"%s": %d', k, v)
    end
  end
  local function p(q)
    return latency:percentile(q)
  end
  io.write(string.format(
    '{"wrk": {"statuses": {%s}, "duration_us": %d, "requests": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, "latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}}\n',
    table.concat(parts, ", "), summary.duration, summary.requests,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout, p(50), p(90), p(99), latency.max, latency.mean))
end
