/* invoke, try_invoke and invoke_all as Lua functions, so that a client's Lua transport
 * runs in Lua frames where it may yield (an OpenResty cosocket, a coroutine scheduler).
 * A C function cannot be yielded across on Lua 5.1/LuaJIT ("attempt to yield across
 * C-call boundary"), and a transport called through lua_call from C would be one.
 *
 * The chunk below only sequences the steps: validation, request building, encoding and
 * decoding stay in C (prepare, prepare_call, plan_all, complete). A client without a Lua
 * transport goes straight to the C methods. In an nginx request or timer, invoke_all
 * runs a Lua transport's calls on ngx.thread light threads, `concurrency` at a time. */
#include "lua_methods.h"

#include "invoke.h"
#include "transport_lua.h"

static const char chunk[] =
    "local methods, C = ...\n"
    "local c_invoke, c_try_invoke, c_invoke_all = methods.invoke, methods.try_invoke, methods.invoke_all\n"
    "local prepare, prepare_call, plan_all = methods.prepare, C.prepare_call, C.plan_all\n"
    "local transport_of, complete, clock, sending = C.transport_of, C.complete, C.clock, C.sending\n"
    "local error, pcall, rawget, G = error, pcall, rawget, _G\n"
    "local yieldable_pcall = pcall\n"
    /* PUC Lua 5.1 cannot yield across pcall: run the transport in a coroutine and pass
     * its yields on to whoever resumed us. */
    "if _VERSION == 'Lua 5.1' and not rawget(G, 'jit') then\n"
    "  local create, resume, status, yield, running = coroutine.create, coroutine.resume,\n"
    "    coroutine.status, coroutine.yield, coroutine.running\n"
    "  yieldable_pcall = function(f, ...)\n"
    "    local co = create(f)\n"
    "    local function step(ok, ...)\n"
    "      if not ok or status(co) == 'dead' then return ok, ... end\n"
    "      if not running() then return false, 'the transport yielded outside a coroutine' end\n"
    "      return step(resume(co, yield(...)))\n"
    "    end\n"
    "    return step(resume(co, ...))\n"
    "  end\n"
    "end\n"
    "local function through(self, transport, req)\n"
    "  sending(self, req)\n"
    "  local started = clock()\n"
    "  return complete(self, started, req, yieldable_pcall(transport, req))\n"
    "end\n"
    "local function call(self, transport, name, payload, opts)\n"
    "  local req, err = prepare(self, name, payload, opts)\n"
    "  if req == nil then return false, err end\n"
    "  return through(self, transport, req)\n"
    "end\n"
    "function methods.invoke(self, name, payload, opts)\n"
    "  local transport = transport_of(self)\n"
    "  if transport == nil then return c_invoke(self, name, payload, opts) end\n"
    "  local ok, result, info = call(self, transport, name, payload, opts)\n"
    "  if not ok then error(result) end\n"
    "  return result, info\n"
    "end\n"
    "function methods.try_invoke(self, name, payload, opts)\n"
    "  local transport = transport_of(self)\n"
    "  if transport == nil then return c_try_invoke(self, name, payload, opts) end\n"
    "  local ok, result, info = call(self, transport, name, payload, opts)\n"
    "  if not ok then return nil, result end\n"
    "  return result, info\n"
    "end\n"
    /* The light threads of nginx, where a call may wait on a cosocket. */
    "local yieldable_phases = { rewrite = true, access = true, content = true, timer = true }\n"
    "local function light_threads()\n"
    "  local ngx = rawget(G, 'ngx')\n"
    "  if type(ngx) == 'table' and ngx.thread and ngx.get_phase\n"
    "     and yieldable_phases[ngx.get_phase()] then return ngx.thread end\n"
    "end\n"
    "function methods.invoke_all(self, calls, opts)\n"
    "  local transport = transport_of(self)\n"
    "  if transport == nil then return c_invoke_all(self, calls, opts) end\n"
    "  local n, concurrency = plan_all(self, calls, opts)\n"
    "  local results = {}\n"
    "  local function run(i)\n"
    "    local req, err = prepare_call(self, calls, i)\n"
    "    local ok, result, info = false, err\n"
    "    if req ~= nil then ok, result, info = through(self, transport, req) end\n"
    "    if ok then results[i] = { ok = true, result = result, info = info }\n"
    "    else results[i] = { ok = false, error = result } end\n"
    "  end\n"
    "  local threads = light_threads()\n"
    "  if threads == nil or concurrency == 1 or n < 2 then\n"
    "    for i = 1, n do run(i) end\n"
    "    return results\n"
    "  end\n"
    "  local last = 0\n"
    "  local function worker()\n"
    "    while last < n do\n"
    "      local i = last + 1\n"
    "      last = i\n"
    "      run(i)\n"
    "    end\n"
    "  end\n"
    "  local list = {}\n"
    "  for k = 1, concurrency < n and concurrency or n do\n"
    "    list[k] = threads.spawn(worker)\n"
    "  end\n"
    "  local failure\n"
    "  for k = 1, #list do\n"
    "    local ok, err = threads.wait(list[k])\n"
    "    if not ok and failure == nil then failure = err end\n"
    "  end\n"
    "  if failure ~= nil then error(failure, 0) end\n"
    "  return results\n"
    "end\n";

void cbf_lua_methods_install(lua_State *L) {
    static const luaL_Reg helpers[] = {{"prepare_call", cbf_invoke_prepare_call},
                                       {"plan_all", cbf_invoke_plan_all},
                                       {"transport_of", cbf_lua_transport_of},
                                       {"complete", cbf_lua_transport_complete},
                                       {"sending", cbf_lua_transport_sending},
                                       {"clock", cbf_lua_clock},
                                       {NULL, NULL}};
    int methods = lua_gettop(L);
    if (luaL_loadbuffer(L, chunk, sizeof chunk - 1, "=cloudbase.functions.methods") != 0)
        lua_error(L); /* a broken chunk is a build defect: fail loudly at require */
    lua_pushvalue(L, methods);
    lua_newtable(L);
    luaL_setfuncs(L, helpers, 0);
    lua_call(L, 2, 0);
}
