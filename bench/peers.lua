-- wrk script for bench_peers.py: one connection per wrk thread, each driving one pre-opened session.
--   wrk -t64 -c64 -d10s -s bench/peers.lua URL -- STYLE SESSIONS_FILE ACTIONS
-- STYLE: ours (POST /sessions/{id}/step), agentgym (POST /step {"id"}), openenv (POST /step, stateless).
-- SESSIONS_FILE: one session id per line (line k for thread k). ACTIONS: comma-separated, used in turn.
-- A step whose reply says "done":true is followed by a reset of that session (counted apart).

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("index", counter)
  table.insert(threads, thread)
end

function init(args)
  style, actions = args[1], {}
  for a in string.gmatch(args[3], "[^,]+") do table.insert(actions, a) end
  local line = 0
  for l in io.lines(args[2]) do
    line = line + 1
    if line == index then session = l end
  end
  turn, resets, failures, pending_reset = 0, 0, 0, false
  headers = {["Content-Type"] = "application/json"}
end

local function step_request()
  turn = turn + 1
  local action = actions[(turn - 1) % #actions + 1]
  if style == "ours" then
    return wrk.format("POST", "/sessions/" .. session .. "/step", headers, '{"action":"' .. action .. '"}')
  elseif style == "agentgym" then
    return wrk.format("POST", "/step", headers, '{"id":' .. session .. ',"action":"' .. action .. '"}')
  else
    return wrk.format("POST", "/step", headers, '{"action":{"action":"' .. action .. '"}}')
  end
end

local function reset_request()
  if style == "ours" then
    return wrk.format("POST", "/sessions/" .. session .. "/reset", headers, "{}")
  else
    return wrk.format("POST", "/reset", headers, '{"id":' .. session .. '}')
  end
end

function request()
  if pending_reset then
    pending_reset = false
    resets = resets + 1
    return reset_request()
  end
  return step_request()
end

function response(status, hdrs, body)
  if status ~= 200 or string.sub(body, 1, 9) == '{"error":' then  -- the AgentGym style: errors as 200
    failures = failures + 1
  elseif style ~= "openenv" and string.find(body, '"done":%s*true') then
    pending_reset = true
  end
end

function done(summary, latency, requests)
  local resets_all, failures_all = 0, 0
  for _, t in ipairs(threads) do
    resets_all = resets_all + t:get("resets")
    failures_all = failures_all + t:get("failures")
  end
  -- one JSON line for bench_peers.py (latencies in microseconds; they include the resets)
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"resets":%d,"failures":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, resets_all, failures_all,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
      + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
