-- Argo CD health check for sequence.dev/v1alpha1 ExecutionGraph.
-- Installed as argocd-cm key resource.customizations.health.sequence.dev_ExecutionGraph.
-- Argo CD runs custom health scripts with only the base, table and a safe os library loaded:
-- no string.* helpers here, only `..` and tostring.

local KIND = "ExecutionGraph"

-- status.lifecycleState -> Argo CD health status.
local HEALTH_BY_STATE = {
  Pending =     "Progressing",
  Active =      "Progressing",
  PartialFill = "Progressing",
  Completed =   "Healthy",
  Paused =      "Suspended",
  Aborted =     "Degraded",
  Expired =     "Degraded",
  Refused =     "Degraded",
  Lost =        "Degraded",
}

-- A non-empty string, or nil: the operator may leave fields out or (in a buggy or older release) send odd types.
local function text(value)
  if type(value) == "string" and value ~= "" then
    return value
  end
  return nil
end

-- The Ready condition explains the current state best; status.error is the fallback.
local function explanation(status)
  if type(status.conditions) == "table" then
    for _, condition in ipairs(status.conditions) do
      if type(condition) == "table" and condition.type == "Ready" and text(condition.message) ~= nil then
        return condition.message
      end
    end
  end
  if type(status.error) == "table" then
    return text(status.error.message)
  end
  return nil
end

local hs = {}
local status = obj.status
if type(status) ~= "table" or next(status) == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report status"
  return hs
end

-- Until the operator has observed the latest spec, the status describes an older spec.
local generation = nil
if type(obj.metadata) == "table" and type(obj.metadata.generation) == "number" then
  generation = obj.metadata.generation
end
if generation ~= nil then
  local observed = status.observedGeneration
  if type(observed) ~= "number" or observed < generation then
    hs.status = "Progressing"
    hs.message = "waiting for the operator to observe generation " .. tostring(generation)
    return hs
  end
end

local state = status.lifecycleState
if text(state) == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report a lifecycle state"
  return hs
end

local verdict = HEALTH_BY_STATE[state]
if verdict == nil then
  hs.status = "Unknown"
  hs.message = "unknown lifecycleState " .. state
  return hs
end

hs.status = verdict
hs.message = explanation(status) or (KIND .. " is " .. state)
return hs
