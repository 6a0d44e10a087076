-- Nested JSON with a 64-bit id. LuaJIT numbers are doubles, so exact JSON
-- text is returned through context.raw_json instead of a Lua table.
return function(event, context)
  local who = context.identity.uid or "anonymous"
  return context.raw_json(string.format([[{
  "id": 9007199254740993,
  "uid": "%s",
  "name": "Ada Lovelace",
  "tags": ["admin", "math"],
  "address": { "city": "London", "geo": { "lat": 51.5072, "lng": -0.1276 } },
  "requested_fields": %d
}]], who, type(event.fields) == "table" and #event.fields or 0))
end
