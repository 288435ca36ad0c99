-- wrk script: one small idempotent P2P transfer per request, each with a fresh Idempotency-Key.
-- Set TOKEN and PAYEE in the environment. The risk engine gathers and scores every signal as
-- usual; `risk=allow` only overrides its verdict, since at thousands of transfers a second the
-- velocity rule would (rightly) ask for device confirmation and the run would measure refusals.
local counter = 0
local thread_id = 0
local token = os.getenv("TOKEN")
local payee = os.getenv("PAYEE")

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function request()
  counter = counter + 1
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["X-Mock-Scenario"] = "risk=allow",
    ["Idempotency-Key"] = string.format("bench-%d-%d-%d", tid or 0, counter, os.time()),
  }
  local body = string.format('{"to":{"account_id":"%s"},"amount":{"minor":1,"currency":"CNY"},"note":"bench"}', payee)
  return wrk.format("POST", "/v1/transfers", headers, body)
end

